import { once } from 'node:events';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { setTimeout as delay } from 'node:timers/promises';
import { bearer, parseArgs, readBody, sendJson } from './http-io.js';
import { blockActionsPayload, escapeCommandText, findActionElement, sendInteraction, sendRequest, sendSigned, slashCommandFields, type AppResponse, type SentRequest, type SlackUser } from './interactions.js';
import { ResponseUrls, type ResponseUrlPost } from './response-urls.js';
import { usersInfo } from './users-info.js';
import { conversationInfo, conversationMembers, manifestScopes, requireScope, userConversations } from './conversations.js';
import { SocketModeServer } from './socket-mode.js';
import { Views } from './views.js';
import { ChannelBuckets, type ChannelRateLimit } from './channel-rate-limit.js';
import { PlatformError, Workspace, type EmulatedChannel, type EmulatedMessage, type MessageAuthor } from './workspace.js';

export type { EmulatedChannel, EmulatedMessage };

/**
 * A local Slack for tests and the sandbox: the Web API methods the bot calls, answering as Slack
 * does (HTTP 200 `ok:false` for platform errors, 429 with Retry-After), with the same token and
 * Block Kit checks, a record of every message, and faults injected on demand.
 * For local use only: it binds to loopback and has no security of its own.
 */



/**
 * One injected fault for the next call of a method.
 * - `status`: answer with this HTTP status (429 carries `retryAfterSec`).
 * - `error`: answer HTTP 200 `{ok:false, error}`.
 * - `delayMs`: wait this long before carrying out the call (or, with `applyFirst`, after it).
 * - `applyFirst`: carry out the call, then answer (with the failure, if any): an ambiguous outcome.
 * - `match`: only a call whose arguments have these values takes the fault (e.g. `{ channel: 'C0X' }`);
 *   other calls pass it by and it waits for one that matches.
 */
export interface Fault {
  status?: number;
  retryAfterSec?: number;
  error?: string;
  delayMs?: number;
  applyFirst?: boolean;
  match?: Record<string, string>;
}

export interface ApiCall {
  method: string;
  at: number;
  args: Record<string, unknown>;
  answered: 'ok' | string;
}

export interface EmulatorOptions {
  botToken: string;
  /** The app-level token (xapp-…) that may open Socket Mode connections. */
  appToken?: string;
  /** The app's signing secret, to sign what the emulator sends the app. */
  signingSecret?: string;
  channels?: EmulatedChannel[];
  users?: SlackUser[];
  teamId?: string;
  botUserId?: string;
  botId?: string;
  /** The bot scopes the app was granted. @defaultValue those manifest.yml asks for */
  scopes?: string[];
  /**
   * Enforce Slack's per-channel limit on chat.postMessage (429 with Retry-After over it), e.g.
   * `{ perSecond: 1, burst: 3 }`. @defaultValue no limit
   */
  channelRateLimit?: ChannelRateLimit;
}


/** The emulated app's id: on its messages (`app_id`), its interactions (`api_app_id`) and its Socket Mode hello. */
const APP_ID = 'A0APPROVALGATE';

type Args = Record<string, unknown>;
type Answer = Record<string, unknown>;
type Method = (args: Args) => Answer;

/** How the emulator delivers an interaction: to which app URL, and signed how. */
export interface SendOptions {
  /** Sign with this timestamp (s) instead of now: a stale or future-dated request. */
  timestampSec?: number;
  /** Sign with another secret: a forged request. */
  signingSecret?: string;
  /** `false`: send it unsigned. */
  sign?: boolean;
  /** Send to this app URL instead of the connected one (another replica of the app); implies HTTP. */
  url?: string;
  /** Over Socket Mode, deliver it under this envelope id: an envelope delivered again. */
  envelopeId?: string;
}


export class SlackEmulator {
  readonly teamId: string;
  readonly botUserId: string;
  readonly botId: string;
  readonly calls: ApiCall[] = [];
  readonly responseUrls: ResponseUrls;
  readonly users = new Map<string, SlackUser>();
  readonly views = new Views();
  /** When the app connects over Socket Mode, interactions and commands go there instead of to its URL. */
  readonly socketMode = new SocketModeServer(APP_ID);
  /** Whether the app has the `users:read.email` scope: users.info includes emails only then. */
  emailScope = false;
  /**
   * The bot scopes the app was granted: conversations.info/members/history/replies answer
   * `missing_scope` without the one the kind of conversation needs (`channels:`, `groups:`, `im:`, `mpim:`).
   */
  readonly scopes: Set<string>;
  private appUrl: string | undefined;
  private readonly workspace: Workspace;
  private readonly faults = new Map<string, Fault[]>();
  private readonly channelBuckets: ChannelBuckets | undefined;
  private readonly methods: Record<string, Method>;
  private server: Server | undefined;
  private readonly changeListeners = new Set<() => void>();
  // Ends injected delays when the emulator stops, so no timer outlives it.
  private stopping = new AbortController();

  constructor(private readonly options: EmulatorOptions) {
    this.teamId = options.teamId ?? 'T0SANDBOX';
    this.botUserId = options.botUserId ?? 'U0APPROVALBOT';
    this.botId = options.botId ?? 'B0APPROVALBOT';
    this.workspace = new Workspace(this.botId, this.botUserId, APP_ID);
    this.scopes = new Set(options.scopes ?? manifestScopes());
    this.channelBuckets = options.channelRateLimit ? new ChannelBuckets(options.channelRateLimit) : undefined;
    this.responseUrls = new ResponseUrls(this.workspace, () => this.url);
    for (const channel of options.channels ?? [{ id: 'C0APPROVALS', name: 'approvals', botIsMember: true }]) this.addChannel(channel);
    const defaultUsers = ['alice', 'bob', 'carol', 'mallory'].map((name) => ({
      id: `U0${name.toUpperCase()}`,
      username: name,
      real_name: name[0]!.toUpperCase() + name.slice(1),
      team_id: this.teamId,
    }));
    for (const user of options.users ?? defaultUsers) this.users.set(user.id, user);
    this.methods = {
      'auth.test': () => ({ url: 'https://sandbox.slack.local/', team: 'Sandbox', user: 'approval-bot', team_id: this.teamId, user_id: this.botUserId, bot_id: this.botId }),
      'chat.postMessage': (args) => this.workspace.postMessage(args, (id) => this.users.has(id)),
      'chat.update': (args) => this.workspace.updateMessage(args),
      'chat.delete': (args) => this.workspace.deleteMessage(args),
      'conversations.history': (args) => this.workspace.history(this.scoped(args, 'history')),
      'conversations.replies': (args) => this.workspace.replies(this.scoped(args, 'history')),
      'usergroups.users.list': (args) => this.workspace.userGroupMembers(args),
      'chat.getPermalink': (args) => this.workspace.permalink(args),
      'conversations.info': (args) => conversationInfo(this.workspace.channel(this.scoped(args, 'read').channel)),
      'conversations.members': (args) => conversationMembers(this.workspace.memberChannel(this.scoped(args, 'read').channel), [...this.users.keys()], args),
      'users.conversations': (args) => userConversations([...this.workspace.channels.values()], args, this.scopes, (id) => this.users.has(id), this.botUserId),
      'views.open': (args) => this.views.open(args),
      'users.info': (args) => usersInfo(typeof args.user === 'string' ? this.users.get(args.user) : undefined, this.emailScope),
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
    this.socketMode.attach(this.server);
    this.server.listen(port, '127.0.0.1');
    await once(this.server, 'listening');
    return this;
  }

  async stop(): Promise<void> {
    if (!this.server) return;
    this.stopping.abort();
    this.stopping = new AbortController();
    this.socketMode.close();
    this.server.closeAllConnections();
    this.server.close();
    await once(this.server, 'close');
    this.server = undefined;
  }

  addChannel(channel: EmulatedChannel): void {
    this.workspace.channels.set(channel.id, channel);
  }

  /** Where the app takes Slack's requests (its `/slack/events` URL). */
  connectApp(eventsUrl: string): void {
    this.appUrl = eventsUrl;
  }

  /**
   * A user clicks a button on a message: the emulator sends the app a signed `block_actions`
   * payload with a `response_url` it honours, and returns the app's answer.
   */
  async click(options: { channel: string; ts: string; actionId: string; user: string; payload?: (payload: Record<string, unknown>) => Record<string, unknown>; url?: string }): Promise<AppResponse> {
    const payload = this.clickPayload(options);
    return this.sendToApp(options.payload ? options.payload(payload) : payload, options.url ? { url: options.url } : {});
  }

  /** The payload a click would send, for tests that alter, forge or replay it. */
  clickPayload(options: { channel: string; ts: string; actionId: string; user: string; elementType?: 'button' | 'overflow' }): Record<string, unknown> {
    const message = this.workspace.messages.find((m) => m.channel === options.channel && m.ts === options.ts);
    if (!message) throw new Error(`no message ${options.ts} in ${options.channel}`);
    const user = this.users.get(options.user);
    if (!user) throw new Error(`no user ${options.user} in the emulator`);
    const found = findActionElement(message.blocks, options.actionId, options.elementType);
    if (!found) throw new Error(`message ${options.ts} has no button ${options.actionId}`);
    const responseUrl = this.responseUrls.issue({ user: user.id, channel: message.channel, messageTs: message.ts });
    return blockActionsPayload({
      user,
      teamDomain: 'sandbox',
      apiAppId: APP_ID,
      channel: { id: message.channel, name: this.workspace.channels.get(message.channel)?.name ?? message.channel },
      message: { ts: message.ts, text: message.text, blocks: message.blocks, ...(message.bot_id ? { bot_id: message.bot_id, app_id: message.app_id } : {}), user: message.user, ...(message.thread_ts ? { thread_ts: message.thread_ts } : {}) },
      button: found,
      responseUrl,
      triggerId: this.views.issueTrigger(user.id),
    });
  }

  /**
   * A user types a slash command in a channel: the emulator sends the app the signed form body Slack
   * sends, with a `response_url` it honours, and returns the app's answer.
   */
  async command(options: { command: string; text: string; user: string; channel: string }): Promise<AppResponse> {
    const user = this.users.get(options.user);
    if (!user) throw new Error(`no user ${options.user} in the emulator`);
    const responseUrl = this.responseUrls.issue({ user: user.id, channel: options.channel, messageTs: '' });
    const fields = slashCommandFields({
      ...options,
      // The manifest's /approvals has should_escape: true.
      text: escapeCommandText(options.text, this.workspace.channels.values(), this.users.values()),
      user,
      teamId: this.teamId,
      channelName: this.workspace.channels.get(options.channel)?.name ?? 'unknown',
      responseUrl,
      triggerId: this.views.issueTrigger(user.id),
    });
    if (this.socketMode.connected) return this.socketMode.send('slash_commands', fields).finally(() => this.changed());
    const body = new URLSearchParams(fields).toString();
    if (!this.appUrl) throw new Error('no app connected: call connectApp(url) first');
    if (this.options.signingSecret === undefined) throw new Error('the emulator has no signing secret to sign with');
    return sendSigned(this.appUrl, body, { signingSecret: this.options.signingSecret }).finally(() => this.changed());
  }

  /** A user picks an option of an overflow menu on a message (its value starts with `optionPrefix`). */
  async chooseOverflow(options: { channel: string; ts: string; actionId: string; optionPrefix: string; user: string; url?: string }): Promise<AppResponse> {
    const payload = this.clickPayload({ ...options, elementType: 'overflow' });
    const [action] = payload.actions as Record<string, unknown>[];
    const option = (action!.options as { value: string; text: unknown }[]).find((o) => o.value.startsWith(options.optionPrefix));
    if (!option) throw new Error(`no overflow option starting with ${options.optionPrefix}`);
    delete action!.options;
    delete action!.text;
    delete action!.value;
    action!.type = 'overflow';
    action!.selected_option = option;
    return this.sendToApp(payload, options.url ? { url: options.url } : {});
  }

  /** A user submits the latest view the app opened for them, with these input values; returns the app's answer. */
  async submitView(options: { user: string; values: Record<string, Record<string, string>> }): Promise<AppResponse> {
    const user = this.users.get(options.user);
    const opened = this.views.opened.filter((v) => v.user === options.user).at(-1);
    if (!user || !opened) throw new Error(`no view open for ${options.user}`);
    return this.sendToApp(this.views.submission(opened, user, options.values, APP_ID));
  }

  /**
   * A user clicks a button in an ephemeral message the app sent them (e.g. the `/approvals` list):
   * the newest one with a button of this action id whose value is `value`, or names `approvalId`.
   */
  async clickInEphemeral(options: { user: string; actionId: string; approvalId?: string; value?: string }): Promise<AppResponse> {
    const user = this.users.get(options.user);
    if (!user) throw new Error(`no user ${options.user} in the emulator`);
    const matches = (value: string | undefined) => (options.value !== undefined ? value === options.value : value?.includes(`"a":"${options.approvalId}"`) === true);
    const buttonIn = (blocks: unknown[]) => blocks.map((_, index) => findActionElement(blocks.slice(index, index + 1), options.actionId)).find((found) => matches(found?.value));
    const found = this.responseUrls
      .ephemeralPostsTo(user.id)
      .map((post) => ({ post, button: Array.isArray(post.body.blocks) ? buttonIn(post.body.blocks as unknown[]) : undefined }))
      .filter((candidate) => candidate.button)
      .at(-1);
    const latest = found?.post;
    const button = found?.button;
    if (!latest || !button) throw new Error(`no ${options.actionId} button for ${options.value ?? options.approvalId} in ${options.user}'s ephemeral messages`);
    const responseUrl = this.responseUrls.issue({ user: user.id, channel: latest.channel, messageTs: '' });
    return this.sendToApp(
      blockActionsPayload({
        user,
        teamDomain: 'sandbox',
        apiAppId: APP_ID,
        channel: { id: latest.channel, name: this.workspace.channels.get(latest.channel)?.name ?? latest.channel },
        message: { ts: this.workspace.nextTs(), ephemeral: true },
        button,
        responseUrl,
        triggerId: this.views.issueTrigger(user.id),
      }),
    );
  }

  /**
   * Sends any interaction payload to the app: over Socket Mode when the app is connected that way
   * (unless `options` asks for an HTTP request: forged, dated, or to another URL), else signed with
   * the app's signing secret. The answer carries what was sent, to send it again ({@link resend}).
   */
  async sendToApp(payload: Record<string, unknown>, options: SendOptions = {}): Promise<AppResponse> {
    const { url, envelopeId, ...signing } = options;
    if (this.socketMode.connected && url === undefined && Object.keys(signing).length === 0) {
      return this.socketMode.send('interactive', payload, envelopeId).finally(() => this.changed());
    }
    const target = url ?? this.appUrl;
    if (!target) throw new Error('no app connected: call connectApp(url) first');
    const signingSecret = signing.signingSecret ?? this.options.signingSecret;
    if (signingSecret === undefined) throw new Error('the emulator has no signing secret to sign with');
    return sendInteraction(target, payload, { ...signing, signingSecret }).finally(() => this.changed());
  }

  /** Sends an earlier HTTP request again, byte for byte (a replay), to the app it went to or to `url` (another replica). */
  async resend(sent: SentRequest, url: string = sent.url): Promise<AppResponse> {
    return sendRequest({ ...sent, url }).finally(() => this.changed());
  }

  /** Calls `listener` after every request the emulator answers and every request it sends the app; returns an unsubscribe. */
  onChange(listener: () => void): () => void {
    this.changeListeners.add(listener);
    return () => this.changeListeners.delete(listener);
  }

  /** Tells the listeners something may have changed (the sandbox page calls it after its own changes too). */
  changed(): void {
    for (const listener of this.changeListeners) listener();
  }

  /** Adds (or replaces) a user: a guest, a bot, a deleted account, someone from another workspace… */
  addUser(user: SlackUser): void {
    this.users.set(user.id, user);
  }

  /** Creates or replaces a user group (S…) and its members. */
  setUserGroup(id: string, members: string[]): void {
    this.workspace.userGroups.set(id, members);
  }

  /** Ephemeral messages the app sent a user through response_url, oldest first. */
  ephemeralsFor(userId: string): string[] {
    return this.responseUrls.ephemeralPostsTo(userId).map((r) => String(r.body.text ?? ''));
  }

  /** The same, with their blocks and the channel each was shown in. */
  ephemeralMessagesFor(userId: string): { channel: string; text: string; blocks: unknown[] }[] {
    return this.responseUrls.ephemeralPostsTo(userId).map((r) => ({ channel: r.channel, text: String(r.body.text ?? ''), blocks: Array.isArray(r.body.blocks) ? r.body.blocks : [] }));
  }

  /** The channel of a permalink chat.getPermalink gave, if it is one. */
  channelOfPermalink(url: string): string | undefined {
    return this.workspace.channelOfPermalink(url);
  }

  channels(): EmulatedChannel[] {
    return [...this.workspace.channels.values()];
  }

  /** Everything the app sent to response_urls, oldest first. */
  get responses(): ResponseUrlPost[] {
    return this.responseUrls.posts;
  }

  /** Queues faults for the next calls of `method`, in order. */
  injectFaults(method: string, ...faults: Fault[]): void {
    this.faults.set(method, [...(this.faults.get(method) ?? []), ...faults]);
  }

  /** The messages the bot sent a user directly (in its DM with them), oldest first. */
  directMessagesTo(userId: string): EmulatedMessage[] {
    return this.workspace.messages.filter((message) => this.workspace.channels.get(message.channel)?.dmWith === userId);
  }

  /**
   * Posts a message as someone other than the app (another app in the channel, or a person), with
   * the same arguments as chat.postMessage (metadata included): what the app finds in history but
   * may neither update nor delete.
   */
  postAs(author: MessageAuthor, args: Args): EmulatedMessage {
    const { ts, channel } = this.workspace.postMessage(args, (id) => this.users.has(id), author) as { ts: string; channel: string };
    this.changed();
    return this.messagesIn(channel).find((message) => message.ts === ts)!;
  }

  /** Messages that exist now (deleted ones are gone), oldest first. */
  messagesIn(channel?: string): EmulatedMessage[] {
    return this.workspace.messages.filter((message) => channel === undefined || message.channel === channel);
  }

  callsOf(method: string): ApiCall[] {
    return this.calls.filter((call) => call.method === method);
  }

  private async handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    await this.answer(req, res);
    this.changed();
  }

  private async answer(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const responseToken = /^\/response\/(\w+)$/.exec(req.url ?? '')?.[1];
    if (req.method === 'POST' && responseToken) {
      const { status, body } = this.responseUrls.receive(responseToken, await readBody(req));
      return sendJson(res, status, body);
    }
    const method = /^\/api\/([\w.]+)$/.exec(req.url?.split('?')[0] ?? '')?.[1];
    if (req.method !== 'POST' || !method) return sendJson(res, 404, { ok: false, error: 'unknown_method' });
    const args = parseArgs(req.headers['content-type'], await readBody(req));
    const call: ApiCall = { method, at: Date.now(), args, answered: 'ok' };
    this.calls.push(call);
    const fault = this.takeFault(method, args);
    const fails = fault !== undefined && (fault.status !== undefined || fault.error !== undefined);
    if (fault?.delayMs && !fault.applyFirst && !(await this.pause(fault.delayMs))) return;
    if (fails && !fault.applyFirst) return this.answerFault(res, call, fault);
    const retryAfterSec = method === 'chat.postMessage' && typeof args.channel === 'string' ? this.channelBuckets?.take(args.channel, Date.now()) : undefined;
    if (retryAfterSec !== undefined) return this.answerFault(res, call, { status: 429, retryAfterSec });
    const token = bearer(req.headers.authorization) ?? (typeof args.token === 'string' ? args.token : undefined);
    const answer = method === 'apps.connections.open' ? this.openSocket(token) : this.invoke(method, args, token);
    if (fault?.delayMs && fault.applyFirst && !(await this.pause(fault.delayMs))) return;
    if (fails) return this.answerFault(res, call, fault);
    call.answered = answer.ok ? 'ok' : String(answer.error);
    sendJson(res, 200, answer);
  }

  /** The first fault queued for this method that applies to a call with these arguments, taken off the queue. */
  private takeFault(method: string, args: Args): Fault | undefined {
    const queue = this.faults.get(method) ?? [];
    const index = queue.findIndex((fault) => Object.entries(fault.match ?? {}).every(([key, value]) => args[key] === value));
    return index === -1 ? undefined : queue.splice(index, 1)[0];
  }

  /** Checks the scope a conversations.* read needs for the channel named in `args` (when there is one). */
  private scoped(args: Args, access: 'read' | 'history'): Args {
    const channel = typeof args.channel === 'string' ? this.workspace.channels.get(args.channel) : undefined;
    if (channel) requireScope(channel, access, this.scopes);
    return args;
  }

  /** @returns false when the emulator stopped during the pause (the connection is gone). */
  private async pause(ms: number): Promise<boolean> {
    return delay(ms, true, { signal: this.stopping.signal }).catch(() => false);
  }

  private answerFault(res: ServerResponse, call: ApiCall, fault: Fault): void {
    if (fault.status !== undefined) {
      call.answered = `HTTP ${fault.status}`;
      const headers: Record<string, string> = fault.status === 429 ? { 'retry-after': String(fault.retryAfterSec ?? 1) } : {};
      return sendJson(res, fault.status, fault.status === 429 ? { ok: false, error: 'ratelimited' } : { ok: false, error: 'internal_error' }, headers);
    }
    call.answered = String(fault.error);
    sendJson(res, 200, { ok: false, error: fault.error });
  }

  /** apps.connections.open: only with the app-level token (a bot token is the wrong type). */
  private openSocket(token: string | undefined): Answer {
    if (token === undefined) return { ok: false, error: 'not_authed' };
    if (token === this.options.botToken) return { ok: false, error: 'not_allowed_token_type' };
    if (this.options.appToken === undefined || token !== this.options.appToken) return { ok: false, error: 'invalid_auth' };
    return { ok: true, ...this.socketMode.open(this.url) };
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
}
