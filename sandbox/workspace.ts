import { blocksTextLength, checkBlocks, MESSAGE_TEXT_MAX } from './block-kit-rules.js';

/**
 * The emulator's workspace: channels and the bot's messages, and the Web API methods that read and
 * change them, answering as Slack does. Errors are {@link PlatformError}s, which the server turns
 * into HTTP 200 `{ok: false, error}`.
 */

export interface EmulatedChannel {
  id: string;
  name: string;
  /** Whether the bot is in the channel; posting to one it is not in fails with `not_in_channel`. */
  botIsMember: boolean;
  /** A private channel is visible to its members only. @defaultValue false */
  isPrivate?: boolean;
  /** The users in the channel (for conversations.members). @defaultValue every emulated user */
  members?: string[];
  /** A direct message between the bot and this user (its id starts with D). */
  dmWith?: string;
  /** A group DM (multi-person direct message): visible to its members only. @defaultValue false */
  isMpim?: boolean;
}

export interface EmulatedMessage {
  channel: string;
  ts: string;
  text: string;
  blocks: unknown[];
  metadata?: { event_type: string; event_payload: Record<string, unknown> };
  thread_ts?: string;
  /** The posting app's bot (absent on a person's message), as Slack puts it on every bot message. */
  bot_id?: string;
  /** The posting app (absent on a person's message). */
  app_id?: string;
  /** The poster: the bot's user for the app's messages, the person's id otherwise. */
  user: string;
  /** Set by chat.update. */
  edited?: { ts: string };
}

const PERMALINK_BASE = 'https://sandbox.slack.local/archives/';

/**
 * How long a message's top-level `text` may be: chat.postMessage truncates past 40,000 characters
 * (https://api.slack.com/changelog/2018-04-truncating-really-long-messages; the emulator refuses
 * instead, so a test sees it), and chat.update refuses past 4,000 ("The `text` field cannot exceed
 * 4,000 characters", `msg_too_long` in https://docs.slack.dev/reference/methods/chat.update).
 */
const TEXT_MAX = { post: 40_000, update: 4_000 } as const;

type Args = Record<string, unknown>;
type Answer = Record<string, unknown>;

export class PlatformError extends Error {
  constructor(
    readonly error: string,
    readonly extra: Answer = {},
  ) {
    super(error);
  }
}

/** Who posts a message that is not the app's own: another app (its bot and app ids, and bot user) or a person (their user id alone). */
export interface MessageAuthor {
  bot_id?: string;
  app_id?: string;
  user: string;
}

export class Workspace {
  readonly channels = new Map<string, EmulatedChannel>();
  readonly messages: EmulatedMessage[] = [];
  readonly userGroups = new Map<string, string[]>();
  private lastTs = 0;

  constructor(
    readonly botId: string,
    readonly botUserId: string,
    readonly appId: string,
  ) {}

  /**
   * chat.postMessage. A user id as the channel posts in the user's DM with the bot, as Slack does,
   * and so does the id of that DM (`D` and the user id without its `U`, the emulator's convention);
   * `isUser` says whether there is such a user. `author` posts it as someone else than the app.
   */
  postMessage(args: Args, isUser: (id: string) => boolean = () => false, author: MessageAuthor = { bot_id: this.botId, app_id: this.appId, user: this.botUserId }): Answer {
    const channel = this.postTarget(args.channel, isUser);
    const content = this.messageContent(args);
    const message: EmulatedMessage = { channel: channel.id, ts: this.nextTs(), ...content, ...author };
    if (typeof args.thread_ts === 'string') {
      if (!this.messages.some((m) => m.channel === channel.id && m.ts === args.thread_ts)) throw new PlatformError('thread_not_found');
      message.thread_ts = args.thread_ts;
    }
    const metadata = parseJson(args.metadata);
    if (metadata !== undefined) {
      if (!isMetadata(metadata)) throw new PlatformError('invalid_metadata_format');
      message.metadata = metadata;
    }
    this.messages.push(message);
    return { channel: channel.id, ts: message.ts, message: { ...message, type: 'message', subtype: 'bot_message' } };
  }

  /** chat.update: only the app's own messages (Slack answers `cant_update_message` for another's: https://api.slack.com/methods/chat.update#errors). */
  updateMessage(args: Args): Answer {
    const message = this.findMessage(args.channel, args.ts);
    if (message.bot_id !== this.botId) throw new PlatformError('cant_update_message');
    Object.assign(message, this.messageContent(args, TEXT_MAX.update), { edited: { ts: this.nextTs() } });
    return { channel: message.channel, ts: message.ts, text: message.text, message: { ...message, type: 'message' } };
  }

  deleteMessage(args: Args): Answer {
    const message = this.findMessage(args.channel, args.ts);
    if (message.bot_id !== this.botId) throw new PlatformError('cant_delete_message');
    this.messages.splice(this.messages.indexOf(message), 1);
    return { channel: message.channel, ts: message.ts };
  }

  history(args: Args): Answer {
    const channel = this.memberChannel(args.channel);
    const topLevel = this.messages.filter((m) => m.channel === channel.id && m.thread_ts === undefined).reverse();
    return this.page(topLevel, args);
  }

  replies(args: Args): Answer {
    const parent = this.findMessage(args.channel, args.ts);
    const thread = this.messages.filter((m) => m.channel === parent.channel && (m.ts === parent.ts || m.thread_ts === parent.ts));
    return this.page(thread, args);
  }

  /** Slack's cursor pagination, with `oldest`/`latest` bounds and metadata only on request. */
  private page(messages: EmulatedMessage[], args: Args): Answer {
    const oldest = Number(args.oldest ?? 0);
    const latest = args.latest === undefined ? Infinity : Number(args.latest);
    const inRange = messages.filter((m) => Number(m.ts) > oldest && Number(m.ts) <= latest);
    const limit = Math.min(Math.max(Number(args.limit ?? 100) || 100, 1), 1000);
    const offset = typeof args.cursor === 'string' ? Number(Buffer.from(args.cursor, 'base64').toString()) || 0 : 0;
    const slice = inRange.slice(offset, offset + limit);
    const withMetadata = args.include_all_metadata === true || args.include_all_metadata === 'true';
    const hasMore = offset + limit < inRange.length;
    return {
      messages: slice.map(({ metadata, ...rest }) => ({ type: 'message', ...rest, ...(withMetadata && metadata ? { metadata } : {}) })),
      has_more: hasMore,
      response_metadata: { next_cursor: hasMore ? Buffer.from(String(offset + limit)).toString('base64') : '' },
    };
  }

  /**
   * A message's text and blocks, checked as Slack checks them for chat.postMessage, chat.update and
   * response_url replies: each block ({@link checkBlocks}), then the text of all of them together.
   */
  messageContent(args: Args, textMax: number = TEXT_MAX.post): Pick<EmulatedMessage, 'text' | 'blocks'> {
    const text = typeof args.text === 'string' ? args.text : '';
    const blocks = args.blocks === undefined ? [] : parseJson(args.blocks);
    if (!Array.isArray(blocks)) throw new PlatformError('invalid_blocks_format');
    const problems = checkBlocks(blocks);
    if (problems.length > 0) throw new PlatformError('invalid_blocks', { errors: problems, response_metadata: { messages: problems.map((p) => `[ERROR] ${p}`) } });
    if (blocksTextLength(blocks) > MESSAGE_TEXT_MAX) throw new PlatformError('msg_blocks_too_long');
    if (text === '' && blocks.length === 0) throw new PlatformError('no_text');
    if (text.length > textMax) throw new PlatformError('msg_too_long');
    return { text, blocks };
  }

  /** The bot's DM with a user, opened on first use. */
  dmChannel(userId: string): EmulatedChannel {
    const id = `D${userId.slice(1)}`;
    if (!this.channels.has(id)) this.channels.set(id, { id, name: userId, botIsMember: true, isPrivate: true, members: [userId, this.botUserId], dmWith: userId });
    return this.channels.get(id)!;
  }

  private postTarget(id: unknown, isUser: (id: string) => boolean): EmulatedChannel {
    if (typeof id === 'string' && isUser(id)) return this.dmChannel(id);
    if (typeof id === 'string' && id.startsWith('D') && !this.channels.has(id) && isUser(`U${id.slice(1)}`)) return this.dmChannel(`U${id.slice(1)}`);
    return this.memberChannel(id);
  }

  /** A channel by id, the bot a member or not. @throws PlatformError `channel_not_found` */
  channel(id: unknown): EmulatedChannel {
    const channel = typeof id === 'string' ? this.channels.get(id) : undefined;
    if (!channel) throw new PlatformError('channel_not_found');
    return channel;
  }

  memberChannel(id: unknown): EmulatedChannel {
    const channel = typeof id === 'string' ? this.channels.get(id) : undefined;
    if (!channel) throw new PlatformError('channel_not_found');
    if (!channel.botIsMember) throw new PlatformError('not_in_channel');
    return channel;
  }

  findMessage(channelId: unknown, ts: unknown): EmulatedMessage {
    const channel = this.memberChannel(channelId);
    const message = this.messages.find((m) => m.channel === channel.id && m.ts === ts);
    if (!message) throw new PlatformError('message_not_found');
    return message;
  }

  /** Message timestamps are unique and increasing, as Slack's are within a channel. */
  permalink(args: Args): Answer {
    const message = this.findMessage(args.channel, args.message_ts);
    return { channel: message.channel, permalink: `${PERMALINK_BASE}${message.channel}/p${message.ts.replace('.', '')}` };
  }

  channelOfPermalink(url: string): string | undefined {
    const channel = url.startsWith(PERMALINK_BASE) ? /^[CG][A-Z0-9]+/.exec(url.slice(PERMALINK_BASE.length))?.[0] : undefined;
    return channel && this.channels.has(channel) ? channel : undefined;
  }

  userGroupMembers(args: Args): Answer {
    const members = typeof args.usergroup === 'string' ? this.userGroups.get(args.usergroup) : undefined;
    if (!members) throw new PlatformError('no_such_subteam');
    return { users: [...members] };
  }

  /**
   * What a `response_url` post does to the original message: replace it, delete it, or nothing (an
   * ephemeral reply). Anything but a delete is checked as a message is, ephemeral replies included
   * (Slack refuses those too: https://github.com/nautobot/nautobot-app-chatops/issues/132).
   */
  applyResponse(channel: string, ts: string, body: Record<string, unknown>): void {
    const deletes = body.delete_original === true || body.delete_original === 'true';
    const content = deletes ? undefined : this.messageContent({ text: body.text, blocks: body.blocks });
    const original = this.messages.find((m) => m.channel === channel && m.ts === ts);
    if (!original) return;
    if (deletes) {
      this.messages.splice(this.messages.indexOf(original), 1);
    } else if (body.replace_original === true || body.replace_original === 'true') {
      Object.assign(original, content, { edited: { ts: this.nextTs() } });
    }
  }

  nextTs(): string {
    this.lastTs = Math.max(Date.now() * 1000, this.lastTs + 1);
    return `${Math.floor(this.lastTs / 1e6)}.${String(this.lastTs % 1e6).padStart(6, '0')}`;
  }
}

export function parseJson(value: unknown): unknown {
  if (typeof value !== 'string') return value;
  try {
    return JSON.parse(value);
  } catch {
    // Slack answers malformed JSON arguments with a format error, which the caller reports.
    return undefined;
  }
}

function isMetadata(value: unknown): value is EmulatedMessage['metadata'] {
  const v = value as { event_type?: unknown; event_payload?: unknown } | null;
  return typeof v?.event_type === 'string' && typeof v.event_payload === 'object' && v.event_payload !== null;
}
