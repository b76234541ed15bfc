import type { WebClient } from '@slack/web-api';
import type { Route } from '../domain/routes.js';

/**
 * Who is an approver of a route: the user IDs it lists, and the members of the user groups it
 * lists, as Slack's `usergroups.users.list` said in a call started at most
 * {@link GROUP_MEMBERS_MAX_AGE_MS} before the question (or later, when the caller asks: the re-check
 * of approvals at completion asks for members fetched after it began).
 */

/**
 * How old a user group's members may be when they decide a click: someone removed from a group loses
 * the right within this time, and someone added gains it. usergroups.users.list is Tier 2 (20+ calls a
 * minute per workspace: https://api.slack.com/apis/rate-limits); one group asked about without pause
 * costs at most 12 calls a minute, and concurrent questions share one call.
 */
export const GROUP_MEMBERS_MAX_AGE_MS = 5000;

export interface ApproverDirectory {
  /**
   * @param options.since group members must come from a call started at or after this (ms since the
   *   epoch); by default, at most {@link GROUP_MEMBERS_MAX_AGE_MS} before now.
   * @throws when Slack cannot say who is in a group: the caller must then refuse (fail closed).
   */
  isApprover(route: Route, userId: string, options?: { since?: number }): Promise<boolean>;
}

export interface DirectoryOptions {
  /** How long a group's members are trusted without asking Slack again. @defaultValue {@link GROUP_MEMBERS_MAX_AGE_MS} */
  maxAgeMs?: number;
  now?: () => number;
}

export function createApproverDirectory(slack: WebClient, options: DirectoryOptions = {}): ApproverDirectory {
  const maxAgeMs = options.maxAgeMs ?? GROUP_MEMBERS_MAX_AGE_MS;
  const now = options.now ?? Date.now;
  // The newest call per group, in flight or answered, by when it started.
  const groups = new Map<string, { startedAt: number; members: Promise<Set<string>> }>();

  const fetchMembers = (groupId: string) => {
    const startedAt = now();
    const members = slack.usergroups.users.list({ usergroup: groupId }).then((response) => new Set(response.users ?? []));
    const entry = { startedAt, members };
    groups.set(groupId, entry);
    // A failed call is never reused: the next question asks Slack again.
    members.catch(() => groups.get(groupId) === entry && groups.delete(groupId));
    return members;
  };
  const membersOf = (groupId: string, since: number) => {
    const known = groups.get(groupId);
    return known && known.startedAt >= since ? known.members : fetchMembers(groupId);
  };

  return {
    async isApprover(route, userId, { since } = {}) {
      if (route.approvers === 'anyone') return true;
      if (route.approvers.includes(userId)) return true;
      const from = since ?? now() - maxAgeMs;
      for (const groupId of route.approvers.filter((id) => id.startsWith('S'))) {
        if ((await membersOf(groupId, from)).has(userId)) return true;
      }
      return false;
    },
  };
}
