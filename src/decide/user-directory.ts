import type { WebClient } from '@slack/web-api';
import type { SlackIdentity } from '../domain/identity.js';

/**
 * Who clicked, from Slack's `users.info`: the identity that `assessIdentity` judges.
 */

/** Slack could not tell who clicked: the click is refused (fail closed). */
export class IdentityUnavailableError extends Error {
  override name = 'IdentityUnavailableError';
}

export interface UserDirectory {
  /** @throws IdentityUnavailableError when Slack cannot be asked. */
  lookup(userId: string, clickTeamId: string | undefined): Promise<SlackIdentity>;
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

/** users.info, cached for a minute per user. */
export function createUserDirectory(slack: WebClient, options: { ttlMs?: number; now?: () => number } = {}): UserDirectory {
  const ttlMs = options.ttlMs ?? 60_000;
  const now = options.now ?? Date.now;
  const cache = new Map<string, { identity: SlackIdentity; at: number }>();
  return {
    async lookup(userId, clickTeamId) {
      const cached = cache.get(userId);
      if (cached && now() - cached.at < ttlMs) return cached.identity;
      let user: UsersInfoUser | undefined;
      try {
        user = (await slack.users.info({ user: userId })).user as UsersInfoUser | undefined;
      } catch (err) {
        throw new IdentityUnavailableError(`users.info failed for ${userId}: ${err instanceof Error ? err.message : String(err)}`);
      }
      if (!user) throw new IdentityUnavailableError(`users.info returned no user for ${userId}`);
      const identity: SlackIdentity = {
        id: userId,
        // The team users.info reports wins; the payload's team only fills a gap.
        teamId: user.team_id ?? clickTeamId ?? '',
        name: user.profile?.display_name || user.real_name || user.profile?.real_name || user.name || userId,
        isGuest: Boolean(user.is_restricted || user.is_ultra_restricted),
        isBot: Boolean(user.is_bot || user.is_app_user || userId === 'USLACKBOT'),
        deleted: Boolean(user.deleted),
        ...(user.profile?.email ? { email: user.profile.email } : {}),
      };
      cache.set(userId, { identity, at: now() });
      return identity;
    },
  };
}
