import { readFileSync } from 'node:fs';
import { parse } from 'yaml';
import { PlatformError, type EmulatedChannel } from './workspace.js';

/**
 * conversations.info and conversations.members as Slack answers them for each kind of conversation
 * (public and private channels, direct messages, group DMs), and the scope each kind needs
 * (https://docs.slack.dev/reference/methods/conversations.info, .../conversations.members).
 */

export type ConversationKind = 'public' | 'private' | 'im' | 'mpim';

type Answer = Record<string, unknown>;

export function kindOf(channel: EmulatedChannel): ConversationKind {
  if (channel.dmWith) return 'im';
  if (channel.isMpim) return 'mpim';
  return channel.isPrivate ? 'private' : 'public';
}

const SCOPE_PREFIX: Record<ConversationKind, string> = { public: 'channels', private: 'groups', im: 'im', mpim: 'mpim' };

/**
 * The scope a method needs for this kind of conversation: `channels:read`, `groups:read`, `im:read`
 * or `mpim:read` for conversations.info/members, `…:history` for conversations.history/replies.
 * @throws PlatformError `missing_scope` (with `needed` and `provided`, as Slack answers) when the app lacks it.
 */
export function requireScope(channel: EmulatedChannel, access: 'read' | 'history', scopes: ReadonlySet<string>): void {
  const needed = `${SCOPE_PREFIX[kindOf(channel)]}:${access}`;
  if (!scopes.has(needed)) throw new PlatformError('missing_scope', { needed, provided: [...scopes].join(',') });
}

/**
 * conversations.info. A DM is answered as Slack's IM object documents it (`is_im`, and `user`: the
 * other side of the bot's DM), without `is_channel` or `is_private`; a group DM carries `is_mpim`
 * and `is_private`; channels carry `is_channel` and `is_private`.
 */
export function conversationInfo(channel: EmulatedChannel): Answer {
  switch (kindOf(channel)) {
    case 'im':
      return { channel: { id: channel.id, created: 1_700_000_000, is_archived: false, is_im: true, is_org_shared: false, user: channel.dmWith, is_user_deleted: false, priority: 0 } };
    case 'mpim':
      return { channel: { id: channel.id, name: channel.name, is_channel: false, is_group: false, is_im: false, is_mpim: true, is_private: true, is_archived: false, is_member: channel.botIsMember } };
    default:
      return {
        channel: { id: channel.id, name: channel.name, is_channel: true, is_group: false, is_im: false, is_mpim: false, is_private: channel.isPrivate ?? false, is_archived: false, is_member: channel.botIsMember },
      };
  }
}

/** conversations.members, paged as Slack pages it (`limit` up to 1,000, default 100; `next_cursor` empty at the end). */
export function conversationMembers(channel: EmulatedChannel, everyone: string[], args: Answer): Answer {
  const members = channel.members ?? everyone;
  const limit = Math.min(Math.max(Number(args.limit ?? 100) || 100, 1), 1000);
  const offset = typeof args.cursor === 'string' && args.cursor !== '' ? Number(Buffer.from(args.cursor, 'base64').toString()) || 0 : 0;
  const next = offset + limit < members.length ? Buffer.from(String(offset + limit)).toString('base64') : '';
  return { members: members.slice(offset, offset + limit), response_metadata: { next_cursor: next } };
}

const TYPE_KIND: Record<string, ConversationKind> = { public_channel: 'public', private_channel: 'private', im: 'im', mpim: 'mpim' };

/**
 * users.conversations with `user`: the conversations of these `types` (default `public_channel`) that
 * the user is in, a non-public one only when the bot is in it too, as Slack lists them for a bot token
 * (https://docs.slack.dev/reference/methods/users.conversations); paged (`limit` up to 999, default 100).
 * @throws PlatformError `missing_scope` when a requested type needs a scope the app lacks, `user_not_found`.
 */
export function userConversations(channels: EmulatedChannel[], args: Answer, scopes: ReadonlySet<string>, userExists: (id: string) => boolean, botUserId: string): Answer {
  const user = typeof args.user === 'string' ? args.user : botUserId;
  if (!userExists(user) && user !== botUserId) throw new PlatformError('user_not_found');
  const kinds = String(args.types ?? 'public_channel')
    .split(',')
    .map((type) => TYPE_KIND[type.trim()]);
  if (kinds.some((kind) => kind === undefined)) throw new PlatformError('invalid_types');
  for (const kind of kinds) {
    const needed = `${SCOPE_PREFIX[kind!]}:read`;
    if (!scopes.has(needed)) throw new PlatformError('missing_scope', { needed, provided: [...scopes].join(',') });
  }
  const everyone = [...new Set([user, botUserId])];
  const listed = channels.filter((channel) => {
    const members = channel.members ?? everyone;
    const kind = kindOf(channel);
    return kinds.includes(kind) && members.includes(user) && (kind === 'public' || channel.botIsMember);
  });
  const limit = Math.min(Math.max(Number(args.limit ?? 100) || 100, 1), 999);
  const offset = typeof args.cursor === 'string' && args.cursor !== '' ? Number(Buffer.from(args.cursor, 'base64').toString()) || 0 : 0;
  const next = offset + limit < listed.length ? Buffer.from(String(offset + limit)).toString('base64') : '';
  // Slack omits is_member and num_members here; the rest is conversations.info's object.
  const page = listed.slice(offset, offset + limit).map((channel) => {
    const { is_member: _omitted, ...rest } = conversationInfo(channel).channel as Answer;
    return rest;
  });
  return { channels: page, response_metadata: { next_cursor: next } };
}

/** The bot scopes manifest.yml asks for: what an app installed from it is granted. */
export function manifestScopes(): string[] {
  const manifest = parse(readFileSync(new URL('../manifest.yml', import.meta.url), 'utf8')) as { oauth_config: { scopes: { bot: string[] } } };
  return manifest.oauth_config.scopes.bot;
}
