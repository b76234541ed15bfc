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
