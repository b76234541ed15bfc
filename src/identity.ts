import type { WebClient } from '@slack/web-api';
import type { Route } from './routes.js';

/**
 * Who clicked, as Slack's `users.info` says (the signed payload's user id and team are the only
 * inputs; its user name is a display hint and never trusted). Guests, bots and app users, deleted
 * accounts and people from other workspaces (Slack Connect) are refused by default, even when listed
 * as approvers; a route may allow guests or named external teams.
 */

export interface SlackIdentity {
  id: string;
  /** The workspace the user belongs to. */
  teamId: string;
  /** The name shown on cards and in decisions. */
  name: string;
  /** Only when the app has the `users:read.email` scope. */
  email?: string;
  isGuest: boolean;
  isBot: boolean;
  deleted: boolean;
}

export type IdentityRefusal = 'bot' | 'deactivated' | 'guest' | 'external_team';

/** Why this person may not decide whatever the approvers list says, or undefined when they may. */
export function assessIdentity(identity: SlackIdentity, homeTeamId: string, route: Pick<Route, 'allow_guests' | 'allow_external_teams'>): IdentityRefusal | undefined {
  if (identity.isBot) return 'bot';
  if (identity.deleted) return 'deactivated';
  if (identity.teamId !== homeTeamId && !route.allow_external_teams.includes(identity.teamId)) return 'external_team';
  if (identity.isGuest && !route.allow_guests) return 'guest';
  return undefined;
}

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
