import { once } from 'node:events';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { setTimeout as delay } from 'node:timers/promises';
import { randomBytes } from 'node:crypto';
import { checkBlocks } from './block-kit-rules.js';
import { blockActionsPayload, sendInteraction, type AppResponse, type SlackUser } from './interactions.js';

/**
 * A local Slack for tests and the sandbox: the Web API methods the bot calls, answering as Slack
 * does (HTTP 200 `ok:false` for platform errors, 429 with Retry-After), with the same token and
 * Block Kit checks, a record of every message, and faults injected on demand.
 * For local use only: it binds to loopback and has no security of its own.
 */

export interface EmulatedChannel {
  id: string;
  name: string;
  /** Whether the bot is in the channel; posting to one it is not in fails with `not_in_channel`. */
  botIsMember: boolean;
}

export interface EmulatedMessage {
  channel: string;
  ts: string;
  text: string;
  blocks: unknown[];
  metadata?: { event_type: string; event_payload: Record<string, unknown> };
  thread_ts?: string;
  bot_id: string;
  user: string;
  /** Set by chat.update. */
  edited?: { ts: string };
}

/**
 * One injected fault for the next call of a method.
 * - `status`: answer with this HTTP status (429 carries `retryAfterSec`).
 * - `error`: answer HTTP 200 `{ok:false, error}`.
 * - `delayMs`: wait this long before carrying out the call (or, with `applyFirst`, after it).
 * - `applyFirst`: carry out the call, then answer (with the failure, if any): an ambiguous outcome.
 */
export interface Fault {
  status?: number;
  retryAfterSec?: number;
  error?: string;
  delayMs?: number;
  applyFirst?: boolean;
}

export interface ApiCall {
  method: string;
  at: number;
  args: Record<string, unknown>;
  answered: 'ok' | string;
}

export interface EmulatorOptions {
  botToken: string;
  /** The app's signing secret, to sign what the emulator sends the app. */
  signingSecret?: string;
  channels?: EmulatedChannel[];
  users?: SlackUser[];
  teamId?: string;
  botUserId?: string;
  botId?: string;
}

/** What an app sent to a `response_url`: an ephemeral reply, or a change to the original message. */
export interface ResponseUrlPost {
  user: string;
  channel: string;
  messageTs: string;
  body: Record<string, unknown>;
}

interface ResponseTarget {
  user: string;
  channel: string;
  messageTs: string;
}

type Args = Record<string, unknown>;
type Answer = Record<string, unknown>;
type Method = (args: Args) => Answer;

class PlatformError extends Error {
  constructor(
    readonly error: string,
    readonly extra: Answer = {},
  ) {
    super(error);
  }
}

export class SlackEmulator {
  readonly teamId: string;
  readonly botUserId: string;
  readonly botId: string;
  readonly calls: ApiCall[] = [];
  readonly responses: ResponseUrlPost[] = [];
  readonly users = new Map<string, SlackUser>();
  private readonly responseTargets = new Map<string, ResponseTarget>();
  private appUrl: string | undefined;
  private readonly channels = new Map<string, EmulatedChannel>();
  private readonly messages: EmulatedMessage[] = [];
  private readonly faults = new Map<string, Fault[]>();
  private readonly methods: Record<string, Method>;
  private server: Server | undefined;
  private lastTs = 0;
  // Ends injected delays when the emulator stops, so no timer outlives it.
  private stopping = new AbortController();

  constructor(private readonly options: EmulatorOptions) {
    this.teamId = options.teamId ?? 'T0SANDBOX';
    this.botUserId = options.botUserId ?? 'U0APPROVALBOT';
    this.botId = options.botId ?? 'B0APPROVALBOT';
    for (const channel of options.channels ?? [{ id: 'C0APPROVALS', name: 'approvals', botIsMember: true }]) this.addChannel(channel);
    const defaultUsers = ['alice', 'bob', 'carol', 'mallory'].map((name) => ({ id: `U0${name.toUpperCase()}`, username: name, team_id: this.teamId }));
    for (const user of options.users ?? defaultUsers) this.users.set(user.id, user);
    this.methods = {
      'auth.test': () => ({ url: 'https://sandbox.slack.local/', team: 'Sandbox', user: 'approval-bot', team_id: this.teamId, user_id: this.botUserId, bot_id: this.botId }),
      'chat.postMessage': (args) => this.postMessage(args),
      'chat.update': (args) => this.updateMessage(args),
      'chat.delete': (args) => this.deleteMessage(args),
      'conversations.history': (args) => this.history(args),
      'conversations.replies': (args) => this.replies(args),
    };
  }

  /** The base URL of the Web API, for `SLACK_API_URL`. Valid after {@link start}. */
  get apiUrl(): string {
    return `${this.url}/api/`;
  }

  get url(): string {
    const address = this.server?.address() as AddressInfo | null | undefined;
    if (!address) throw new Error('the Slack emulator is not started: call start() first');
    return `http://127.0.0.1:${address.port}`;
  }

  async start(port = 0): Promise<this> {
    this.server = createServer((req, res) => void this.handle(req, res));
    this.server.listen(port, '127.0.0.1');
    await once(this.server, 'listening');
    return this;
  }

  async stop(): Promise<void> {
    if (!this.server) return;
    this.stopping.abort();
    this.stopping = new AbortController();
    this.server.closeAllConnections();
    this.server.close();
    await once(this.server, 'close');
    this.server = undefined;
  }

  addChannel(channel: EmulatedChannel): void {
    this.channels.set(channel.id, channel);
  }

  /** Where the app takes Slack's requests (its `/slack/events` URL). */
  connectApp(eventsUrl: string): void {
    this.appUrl = eventsUrl;
  }

  /**
   * A user clicks a button on a message: the emulator sends the app a signed `block_actions`
   * payload with a `response_url` it honours, and returns the app's answer.
   */
  async click(options: { channel: string; ts: string; actionId: string; user: string; payload?: (payload: Record<string, unknown>) => Record<string, unknown> }): Promise<AppResponse> {
    const payload = this.clickPayload(options);
    return this.sendToApp(options.payload ? options.payload(payload) : payload);
  }

  /** The payload a click would send, for tests that alter, forge or replay it. */
  clickPayload(options: { channel: string; ts: string; actionId: string; user: string }): Record<string, unknown> {
    const message = this.messages.find((m) => m.channel === options.channel && m.ts === options.ts);
    if (!message) throw new Error(`no message ${options.ts} in ${options.channel}`);
    const user = this.users.get(options.user);
    if (!user) throw new Error(`no user ${options.user} in the emulator`);
    const found = findButton(message.blocks, options.actionId);
    if (!found) throw new Error(`message ${options.ts} has no button ${options.actionId}`);
    const token = randomBytes(12).toString('hex');
    this.responseTargets.set(token, { user: user.id, channel: message.channel, messageTs: message.ts });
    return blockActionsPayload({
      user,
      teamDomain: 'sandbox',
      apiAppId: 'A0APPROVALGATE',
      channel: { id: message.channel, name: this.channels.get(message.channel)?.name ?? message.channel },
      message: { ts: message.ts, text: message.text, blocks: message.blocks, bot_id: message.bot_id, user: message.user, ...(message.thread_ts ? { thread_ts: message.thread_ts } : {}) },
      button: found,
      responseUrl: `${this.url}/response/${token}`,
      triggerId: `${Date.now()}.${randomBytes(4).readUInt32BE()}.${randomBytes(16).toString('hex')}`,
    });
  }

  /** Sends any interaction payload to the app, signed with the app's signing secret. */
  async sendToApp(payload: Record<string, unknown>, options: { timestampSec?: number; signingSecret?: string; sign?: boolean } = {}): Promise<AppResponse> {
    if (!this.appUrl) throw new Error('no app connected: call connectApp(url) first');
    const signingSecret = options.signingSecret ?? this.options.signingSecret;
    if (signingSecret === undefined) throw new Error('the emulator has no signing secret to sign with');
    return sendInteraction(this.appUrl, payload, { ...options, signingSecret });
  }

  /** Ephemeral messages the app sent a user through response_url. */
  ephemeralsFor(userId: string): string[] {
    return this.responses.filter((r) => r.user === userId && isEphemeral(r.body)).map((r) => String(r.body.text ?? ''));
  }

  /** Queues faults for the next calls of `method`, in order. */
  injectFaults(method: string, ...faults: Fault[]): void {
    this.faults.set(method, [...(this.faults.get(method) ?? []), ...faults]);
  }

  /** Messages that exist now (deleted ones are gone), oldest first. */
  messagesIn(channel?: string): EmulatedMessage[] {
    return this.messages.filter((message) => channel === undefined || message.channel === channel);
  }

  callsOf(method: string): ApiCall[] {
    return this.calls.filter((call) => call.method === method);
  }

  private async handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const responseToken = /^\/response\/(\w+)$/.exec(req.url ?? '')?.[1];
    if (req.method === 'POST' && responseToken) return this.handleResponseUrl(responseToken, await readBody(req), res);
    const method = /^\/api\/([\w.]+)$/.exec(req.url?.split('?')[0] ?? '')?.[1];
    if (req.method !== 'POST' || !method) return send(res, 404, { ok: false, error: 'unknown_method' });
    const args = parseArgs(req.headers['content-type'], await readBody(req));
    const call: ApiCall = { method, at: Date.now(), args, answered: 'ok' };
    this.calls.push(call);
    const fault = this.faults.get(method)?.shift();
    const fails = fault !== undefined && (fault.status !== undefined || fault.error !== undefined);
    if (fault?.delayMs && !fault.applyFirst && !(await this.pause(fault.delayMs))) return;
    if (fails && !fault.applyFirst) return this.answerFault(res, call, fault);
    const token = bearer(req.headers.authorization) ?? (typeof args.token === 'string' ? args.token : undefined);
    const answer = this.invoke(method, args, token);
    if (fault?.delayMs && fault.applyFirst && !(await this.pause(fault.delayMs))) return;
    if (fails) return this.answerFault(res, call, fault);
    call.answered = answer.ok ? 'ok' : String(answer.error);
    send(res, 200, answer);
  }

  /**
   * A `response_url` post: JSON with `replace_original` / `delete_original` changing the original
   * message, anything else an ephemeral message to the user who clicked.
   */
  private handleResponseUrl(token: string, raw: string, res: ServerResponse): void {
    const target = this.responseTargets.get(token);
    const body = parseJson(raw) as Record<string, unknown> | undefined;
    if (!target) return send(res, 404, { ok: false, error: 'expired_url' });
    if (!body || typeof body !== 'object') return send(res, 400, { ok: false, error: 'invalid_payload' });
    const original = this.messages.find((m) => m.channel === target.channel && m.ts === target.messageTs);
    if (body.delete_original === true || body.delete_original === 'true') {
      if (original) this.messages.splice(this.messages.indexOf(original), 1);
    } else if ((body.replace_original === true || body.replace_original === 'true') && original) {
      try {
        Object.assign(original, this.messageContent({ text: body.text, blocks: body.blocks }), { edited: { ts: this.nextTs() } });
      } catch (err) {
        if (err instanceof PlatformError) return send(res, 400, { ok: false, error: err.error });
        throw err;
      }
    }
    this.responses.push({ ...target, body });
    send(res, 200, { ok: true });
  }

  /** @returns false when the emulator stopped during the pause (the connection is gone). */
  private async pause(ms: number): Promise<boolean> {
    return delay(ms, true, { signal: this.stopping.signal }).catch(() => false);
  }

  private answerFault(res: ServerResponse, call: ApiCall, fault: Fault): void {
    if (fault.status !== undefined) {
      call.answered = `HTTP ${fault.status}`;
      const headers: Record<string, string> = fault.status === 429 ? { 'retry-after': String(fault.retryAfterSec ?? 1) } : {};
      return send(res, fault.status, fault.status === 429 ? { ok: false, error: 'ratelimited' } : { ok: false, error: 'internal_error' }, headers);
    }
    call.answered = String(fault.error);
    send(res, 200, { ok: false, error: fault.error });
  }

  private invoke(method: string, args: Args, token: string | undefined): Answer {
    if (token === undefined) return { ok: false, error: 'not_authed' };
    if (token !== this.options.botToken) return { ok: false, error: 'invalid_auth' };
    const handler = this.methods[method];
    if (!handler) return { ok: false, error: 'unknown_method' };
    try {
      return { ok: true, ...handler(args) };
    } catch (err) {
      if (err instanceof PlatformError) return { ok: false, error: err.error, ...err.extra };
      throw err;
    }
  }

  private postMessage(args: Args): Answer {
    const channel = this.memberChannel(args.channel);
    const content = this.messageContent(args);
    const message: EmulatedMessage = { channel: channel.id, ts: this.nextTs(), ...content, bot_id: this.botId, user: this.botUserId };
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

  private updateMessage(args: Args): Answer {
    const message = this.findMessage(args.channel, args.ts);
    Object.assign(message, this.messageContent(args), { edited: { ts: this.nextTs() } });
    return { channel: message.channel, ts: message.ts, text: message.text, message: { ...message, type: 'message' } };
  }

  private deleteMessage(args: Args): Answer {
    const message = this.findMessage(args.channel, args.ts);
    if (message.bot_id !== this.botId) throw new PlatformError('cant_delete_message');
    this.messages.splice(this.messages.indexOf(message), 1);
    return { channel: message.channel, ts: message.ts };
  }

  private history(args: Args): Answer {
    const channel = this.memberChannel(args.channel);
    const topLevel = this.messages.filter((m) => m.channel === channel.id && m.thread_ts === undefined).reverse();
    return this.page(topLevel, args);
  }

  private replies(args: Args): Answer {
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

  private messageContent(args: Args): Pick<EmulatedMessage, 'text' | 'blocks'> {
    const text = typeof args.text === 'string' ? args.text : '';
    const blocks = args.blocks === undefined ? [] : parseJson(args.blocks);
    if (!Array.isArray(blocks)) throw new PlatformError('invalid_blocks_format');
    const problems = checkBlocks(blocks);
    if (problems.length > 0) throw new PlatformError('invalid_blocks', { errors: problems, response_metadata: { messages: problems.map((p) => `[ERROR] ${p}`) } });
    if (text === '' && blocks.length === 0) throw new PlatformError('no_text');
    if (text.length > 40_000) throw new PlatformError('msg_too_long');
    return { text, blocks };
  }

  private memberChannel(id: unknown): EmulatedChannel {
    const channel = typeof id === 'string' ? this.channels.get(id) : undefined;
    if (!channel) throw new PlatformError('channel_not_found');
    if (!channel.botIsMember) throw new PlatformError('not_in_channel');
    return channel;
  }

  private findMessage(channelId: unknown, ts: unknown): EmulatedMessage {
    const channel = this.memberChannel(channelId);
    const message = this.messages.find((m) => m.channel === channel.id && m.ts === ts);
    if (!message) throw new PlatformError('message_not_found');
    return message;
  }

  /** Message timestamps are unique and increasing, as Slack's are within a channel. */
  private nextTs(): string {
    this.lastTs = Math.max(Date.now() * 1000, this.lastTs + 1);
    return `${Math.floor(this.lastTs / 1e6)}.${String(this.lastTs % 1e6).padStart(6, '0')}`;
  }
}

function findButton(blocks: unknown[], actionId: string): { action_id: string; block_id: string; value?: string; text: string; style?: string } | undefined {
  for (const block of blocks as { type?: string; block_id?: string; elements?: unknown[] }[]) {
    if (block.type !== 'actions') continue;
    for (const element of (block.elements ?? []) as { type?: string; action_id?: string; value?: string; text?: { text?: string }; style?: string }[]) {
      if (element.type === 'button' && element.action_id === actionId) {
        return { action_id: actionId, block_id: block.block_id ?? 'actions', value: element.value, text: element.text?.text ?? '', style: element.style };
      }
    }
  }
  return undefined;
}

function isEphemeral(body: Record<string, unknown>): boolean {
  const changesOriginal = body.replace_original === true || body.replace_original === 'true' || body.delete_original === true || body.delete_original === 'true';
  return !changesOriginal && body.response_type !== 'in_channel';
}

function parseArgs(contentType: string | undefined, body: string): Args {
  if (contentType?.startsWith('application/json')) return (parseJson(body) as Args | undefined) ?? {};
  return Object.fromEntries(new URLSearchParams(body));
}

function parseJson(value: unknown): unknown {
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

function bearer(header: string | undefined): string | undefined {
  return header?.startsWith('Bearer ') ? header.slice('Bearer '.length) : undefined;
}

async function readBody(req: IncomingMessage): Promise<string> {
  const chunks: Buffer[] = [];
  for await (const chunk of req) chunks.push(chunk as Buffer);
  return Buffer.concat(chunks).toString('utf8');
}

function send(res: ServerResponse, status: number, body: unknown, headers: Record<string, string> = {}): void {
  res.writeHead(status, { 'content-type': 'application/json; charset=utf-8', ...headers });
  res.end(JSON.stringify(body));
}
