import type { WebClient } from '@slack/web-api';
import type { Route } from '../domain/routes.js';

/**
 * Who is an approver of a route: the user IDs it lists, and the members of the user groups it
 * lists, as Slack's `usergroups.users.list` says. Members are cached for a short time; a user not
 * found in a cached list is looked up again once (the cache is at least a few seconds old), so a
 * new member can decide at once and a removed one loses the right within the TTL.
 */

export interface ApproverDirectory {
  /** @throws when Slack cannot say who is in a group: the caller must then refuse (fail closed). */
  isApprover(route: Route, userId: string): Promise<boolean>;
}

export interface DirectoryOptions {
  /** How long a group's members are trusted without asking Slack again. @defaultValue 60 s */
  ttlMs?: number;
  /** A miss refreshes a group only when its members were fetched at least this long ago. @defaultValue 5 s */
  refreshOnMissAfterMs?: number;
  now?: () => number;
}

export function createApproverDirectory(slack: WebClient, options: DirectoryOptions = {}): ApproverDirectory {
  const ttlMs = options.ttlMs ?? 60_000;
  const refreshAfterMs = options.refreshOnMissAfterMs ?? 5_000;
  const now = options.now ?? Date.now;
  const groups = new Map<string, { members: Set<string>; fetchedAt: number }>();

  const fetchMembers = async (groupId: string) => {
    const response = await slack.usergroups.users.list({ usergroup: groupId });
    const entry = { members: new Set(response.users ?? []), fetchedAt: now() };
    groups.set(groupId, entry);
    return entry;
  };
  const membersOf = async (groupId: string) => {
    const cached = groups.get(groupId);
    return cached && now() - cached.fetchedAt < ttlMs ? cached : fetchMembers(groupId);
  };

  return {
    async isApprover(route, userId) {
      if (route.approvers === 'anyone') return true;
      if (route.approvers.includes(userId)) return true;
      const groupIds = route.approvers.filter((id) => id.startsWith('S'));
      for (const groupId of groupIds) {
        if ((await membersOf(groupId)).members.has(userId)) return true;
      }
      for (const groupId of groupIds) {
        const cached = groups.get(groupId);
        if (cached && now() - cached.fetchedAt >= refreshAfterMs && (await fetchMembers(groupId)).members.has(userId)) return true;
      }
      return false;
    },
  };
}
