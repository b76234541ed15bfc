import type { WebClient } from '@slack/web-api';
import type { SlackIdentity } from '../domain/identity.js';

/**
 * Who clicked, from Slack's `users.info`: the identity that `assessIdentity` judges. Every field of
 * it (the deleted, guest, bot and team fields that refuse a click, and the name) comes from a
 * users.info call started at most {@link IDENTITY_MAX_AGE_MS} before the lookup, or later when the
 * caller asks (the re-check of approvals at completion asks for a call started after it began).
 */

/**
 * How old a users.info answer may be when it decides a click: a deactivated account, a guest or a
 * user moved to another workspace is refused within this time. users.info is Tier 4 (100+ calls a
 * minute per workspace: https://api.slack.com/apis/rate-limits); one reviewer clicking without pause
 * costs at most 20 calls a minute, and concurrent clicks of one person share one call.
 */
export const IDENTITY_MAX_AGE_MS = 3000;

/** Slack could not tell who clicked: the click is refused (fail closed). */
export class IdentityUnavailableError extends Error {
  override name = 'IdentityUnavailableError';
}

export interface UserDirectory {
  /**
   * @param options.since the answer must come from a users.info call started at or after this (ms since
   *   the epoch); by default, at most {@link IDENTITY_MAX_AGE_MS} before now.
   * @throws IdentityUnavailableError when Slack cannot be asked.
   */
  lookup(userId: string, clickTeamId: string | undefined, options?: { since?: number }): Promise<SlackIdentity>;
}

interface UsersInfoUser {
  id?: string;
  team_id?: string;
  name?: string;
  real_name?: string;
  profile?: { display_name?: string; real_name?: string; email?: string };
  is_restricted?: boolean;
  is_ultra_restricted?: boolean;
  is_bot?: boolean;
  is_app_user?: boolean;
  deleted?: boolean;
}

/** users.info per user, each answer reused for at most `maxAgeMs` (from when its call started). */
export function createUserDirectory(slack: WebClient, options: { maxAgeMs?: number; now?: () => number } = {}): UserDirectory {
  const maxAgeMs = options.maxAgeMs ?? IDENTITY_MAX_AGE_MS;
  const now = options.now ?? Date.now;
  // The newest call per user, in flight or answered, by when it started: concurrent lookups share it.
  const calls = new Map<string, { startedAt: number; user: Promise<UsersInfoUser> }>();

  const call = (userId: string) => {
    const startedAt = now();
    for (const [id, known] of calls) if (known.startedAt < startedAt - maxAgeMs) calls.delete(id);
    const user = usersInfo(slack, userId);
    const entry = { startedAt, user };
    calls.set(userId, entry);
    // A failed call is never reused: the next lookup asks Slack again.
    user.catch(() => calls.get(userId) === entry && calls.delete(userId));
    return user;
  };

  return {
    async lookup(userId, clickTeamId, { since } = {}) {
      const known = calls.get(userId);
      const user = await (known && known.startedAt >= (since ?? now() - maxAgeMs) ? known.user : call(userId));
      return {
        id: userId,
        // The team users.info reports wins; the payload's team only fills a gap.
        teamId: user.team_id ?? clickTeamId ?? '',
        name: user.profile?.display_name || user.real_name || user.profile?.real_name || user.name || userId,
        isGuest: Boolean(user.is_restricted || user.is_ultra_restricted),
        isBot: Boolean(user.is_bot || user.is_app_user || userId === 'USLACKBOT'),
        deleted: Boolean(user.deleted),
        ...(user.profile?.email ? { email: user.profile.email } : {}),
      };
    },
  };
}

async function usersInfo(slack: WebClient, userId: string): Promise<UsersInfoUser> {
  let user: UsersInfoUser | undefined;
  try {
    user = (await slack.users.info({ user: userId })).user as UsersInfoUser | undefined;
  } catch (err) {
    throw new IdentityUnavailableError(`users.info failed for ${userId}: ${err instanceof Error ? err.message : String(err)}`);
  }
  if (!user) throw new IdentityUnavailableError(`users.info returned no user for ${userId}`);
  return user;
}
