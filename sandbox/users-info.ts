import type { SlackUser } from './interactions.js';
import { PlatformError } from './workspace.js';

/**
 * users.info as Slack answers it: the account's flags (guest, bot, deleted), its workspace, and its
 * email only for an app with the `users:read.email` scope.
 */
export function usersInfo(user: SlackUser | undefined, emailScope: boolean): Record<string, unknown> {
  if (!user) throw new PlatformError('user_not_found');
  const { username, real_name, email, ...flags } = user;
  return {
    user: {
      name: username,
      real_name: real_name ?? username,
      profile: { display_name: username, real_name: real_name ?? username, ...(email && emailScope ? { email } : {}) },
      is_restricted: false,
      is_ultra_restricted: false,
      is_bot: false,
      is_app_user: false,
      deleted: false,
      ...flags,
    },
  };
}
