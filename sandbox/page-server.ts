import { once } from 'node:events';
import { readFileSync } from 'node:fs';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import type { SandboxEngine } from './engine.js';
import type { DisplayContext } from './mrkdwn-html.js';
import { renderPageFragments } from './page-view.js';
import { isSampleName, SAMPLES } from './samples.js';
import type { SandboxUser } from './sandbox-workspace.js';
import type { SlackEmulator } from './slack-emulator.js';
import { readBody, sendJson } from './http-io.js';
import type { AppResponse } from './interactions.js';

/**
 * The sandbox's web page: the emulated workspace shown live (server-sent events), and the actions
 * of its users sent to the bot through the emulator, signed exactly as Slack signs them. Binds to
 * loopback only, and takes actions only as JSON from its own origin: it is for local use.
 */

export interface PageServerDeps {
  emulator: SlackEmulator;
  engine: SandboxEngine;
  users: SandboxUser[];
  context: DisplayContext;
  botName: string;
}

// The static page (sandbox/page), read once at start.
const PAGE_DIR = new URL('./page/', import.meta.url);
const STATIC: Record<string, { file: string; type: string }> = {
  '/': { file: 'index.html', type: 'text/html; charset=utf-8' },
  '/app.js': { file: 'app.js', type: 'text/javascript; charset=utf-8' },
  '/style.css': { file: 'style.css', type: 'text/css; charset=utf-8' },
};
// How often the page looks at the queues, which change without the emulator seeing it.
const QUEUE_POLL_MS = 500;
const KEEPALIVE_MS = 15_000;

interface Viewer {
  res: ServerResponse;
  user: string;
}

export class PageServer {
  private server: Server | undefined;
  private readonly viewers = new Set<Viewer>();
  private readonly closedViews = new Set<string>();
  private readonly files = new Map<string, Buffer>();
  private pending: NodeJS.Timeout | undefined;
  private timers: NodeJS.Timeout[] = [];
  private lastQueueState = '';
  private readonly unsubscribe: () => void;

  constructor(private readonly deps: PageServerDeps) {
    for (const { file } of Object.values(STATIC)) this.files.set(file, readFileSync(new URL(file, PAGE_DIR)));
    this.unsubscribe = deps.emulator.onChange(() => this.scheduleUpdate());
  }

  get url(): string {
    const address = this.server?.address() as AddressInfo | null | undefined;
    if (!address) throw new Error('the sandbox page is not started: call start() first');
    return `http://localhost:${address.port}`;
  }

  /** Listens on loopback; rejects with the listen error (e.g. EADDRINUSE) so the caller can say which port is taken. */
  async start(port: number): Promise<this> {
    const server = createServer((req, res) => {
      this.handle(req, res).catch((err: unknown) => sendJson(res, 500, { ok: false, error: err instanceof Error ? err.message : String(err) }));
    });
    server.listen(port, '127.0.0.1');
    await Promise.race([once(server, 'listening'), once(server, 'error').then(([err]) => Promise.reject(err as Error))]);
    this.server = server;
    this.timers = [setInterval(() => void this.pollQueues(), QUEUE_POLL_MS), setInterval(() => this.keepAlive(), KEEPALIVE_MS)];
    return this;
  }

  async stop(): Promise<void> {
    this.unsubscribe();
    for (const timer of this.timers) clearInterval(timer);
    clearTimeout(this.pending);
    for (const viewer of this.viewers) viewer.res.end();
    this.viewers.clear();
    if (!this.server) return;
    this.server.closeAllConnections();
    this.server.close();
    await once(this.server, 'close');
    this.server = undefined;
  }

  private async handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    // A site whose name was made to resolve to 127.0.0.1 (DNS rebinding) would send its own name.
    if (!isLoopbackHost(req.headers.host)) return sendJson(res, 403, { ok: false, error: 'the sandbox answers to localhost and 127.0.0.1 only' });
    const url = new URL(req.url ?? '/', 'http://localhost');
    if (req.method === 'GET' && STATIC[url.pathname]) {
      const { file, type } = STATIC[url.pathname]!;
      res.writeHead(200, { 'content-type': type, 'cache-control': 'no-store' });
      return void res.end(this.files.get(file));
    }
    if (req.method === 'GET' && url.pathname === '/events') return this.subscribe(res, url.searchParams.get('user') ?? '');
    if (req.method === 'GET' && url.pathname === '/setup') return sendJson(res, 200, this.setup());
    if (req.method !== 'POST' || !url.pathname.startsWith('/ui/')) return sendJson(res, 404, { ok: false, error: 'not found' });
    // A page of another origin may post to localhost, but not with a JSON body without asking first.
    if (!req.headers['content-type']?.startsWith('application/json') || (req.headers.origin !== undefined && req.headers.origin !== `http://${req.headers.host}`)) {
      return sendJson(res, 403, { ok: false, error: 'the sandbox takes actions as JSON from its own page only' });
    }
    const body = JSON.parse((await readBody(req)) || '{}') as Record<string, unknown>;
    const answer = await this.act(url.pathname.slice('/ui/'.length), body);
    this.scheduleUpdate();
    sendJson(res, answer.ok ? 200 : 400, answer);
  }

  private setup() {
    return {
      users: this.deps.users.map(({ id, real_name, role }) => ({ id, name: real_name, role })),
      samples: Object.entries(SAMPLES).map(([name, label]) => ({ name, label })),
    };
  }

  /** One action of the page; `ok: false` carries what went wrong, to show beside the control. */
  private async act(action: string, body: Record<string, unknown>): Promise<{ ok: boolean; error?: string; [key: string]: unknown }> {
    const { emulator, engine } = this.deps;
    const user = String(body.user ?? '');
    try {
      switch (action) {
        case 'click':
          return appAnswer(await this.click(user, body));
        case 'command': {
          const match = /^\s*(\/\S+)\s*([\s\S]*)$/.exec(String(body.text ?? ''));
          if (!match || match[1] !== '/approvals') return { ok: false, error: 'The sandbox app has one slash command: try /approvals help' };
          return appAnswer(await emulator.command({ command: match[1], text: match[2]!.trim(), user, channel: String(body.channel) }));
        }
        case 'submit-view':
          return await this.submitView(user, String(body.viewId), body.values as Record<string, Record<string, string>>);
        case 'close-view':
          this.closedViews.add(String(body.viewId));
          return { ok: true };
        case 'request': {
          if (!isSampleName(body.sample)) return { ok: false, error: `no sample ${String(body.sample)}` };
          return { ok: true, run_id: await engine.enqueueSample(body.sample) };
        }
        case 'policy':
          return { ok: true, policy_snapshot: await engine.changePolicy() };
        default:
          return { ok: false, error: `no action ${action}` };
      }
    } catch (err) {
      return { ok: false, error: err instanceof Error ? err.message : String(err) };
    }
  }

  private async click(user: string, body: Record<string, unknown>): Promise<AppResponse> {
    const { emulator } = this.deps;
    const actionId = String(body.actionId);
    const value = String(body.value ?? '');
    if (body.ephemeral === true) return emulator.clickInEphemeral({ user, actionId, value });
    const target = { channel: String(body.channel), ts: String(body.ts), actionId, user };
    return body.kind === 'overflow' ? emulator.chooseOverflow({ ...target, optionPrefix: value }) : emulator.click(target);
  }

  private async submitView(user: string, viewId: string, values: Record<string, Record<string, string>>) {
    const open = this.openViewFor(user);
    if (open?.id !== viewId) return { ok: false, error: 'This modal is no longer open.' };
    const answer = await this.deps.emulator.submitView({ user, values });
    if (answer.status !== 200) return appAnswer(answer);
    const response = answer.body ? (JSON.parse(answer.body) as { response_action?: string; errors?: Record<string, string> }) : {};
    if (response.response_action === 'errors') return { ok: true, errors: response.errors ?? {} };
    this.closedViews.add(viewId);
    return { ok: true };
  }

  private openViewFor(user: string): { id: string; view: Record<string, unknown> } | undefined {
    const latest = this.deps.emulator.views.opened.filter((v) => v.user === user).at(-1);
    return latest && !this.closedViews.has(latest.id) ? latest : undefined;
  }

  private subscribe(res: ServerResponse, user: string): void {
    res.writeHead(200, { 'content-type': 'text/event-stream', 'cache-control': 'no-store', connection: 'keep-alive' });
    const viewer = { res, user };
    this.viewers.add(viewer);
    res.on('close', () => this.viewers.delete(viewer));
    void this.push([viewer]);
  }

  private scheduleUpdate(): void {
    // Changes come in bursts (a click is several API calls): one update for each burst.
    if (this.pending) return;
    this.pending = setTimeout(() => {
      this.pending = undefined;
      void this.push([...this.viewers]);
    }, 30);
  }

  private async pollQueues(): Promise<void> {
    if (this.viewers.size === 0) return;
    const state = JSON.stringify(await this.queueState().catch((err: unknown) => String(err)));
    if (state === this.lastQueueState) return;
    this.lastQueueState = state;
    this.scheduleUpdate();
  }

  private async queueState() {
    const { engine } = this.deps;
    const [decisions, requests, policySnapshot] = await Promise.all([engine.decisions(), engine.recentRequests(), engine.policyInForce()]);
    return { decisions, requests, policySnapshot };
  }

  private async push(viewers: Viewer[]): Promise<void> {
    if (viewers.length === 0) return;
    const { emulator, users, context, botName } = this.deps;
    const queues = await this.queueState();
    for (const viewer of viewers) {
      // The page may have gone (or the server stopped) while the queues were read.
      if (!this.viewers.has(viewer) || viewer.res.writableEnded || viewer.res.destroyed) continue;
      const fragments = renderPageFragments(
        {
          viewer: viewer.user,
          users,
          channels: emulator.channels(),
          messages: emulator.messagesIn(),
          ephemerals: emulator.ephemeralMessagesFor(viewer.user),
          modal: this.openViewFor(viewer.user),
          ...queues,
          botName,
        },
        context,
      );
      viewer.res.write(`event: state\ndata: ${JSON.stringify(fragments)}\n\n`);
    }
  }

  private keepAlive(): void {
    for (const viewer of this.viewers) viewer.res.write(': keep-alive\n\n');
  }
}

function isLoopbackHost(host: string | undefined): boolean {
  return /^(localhost|127\.0\.0\.1|\[::1\])(:\d+)?$/i.test(host ?? '');
}

function appAnswer(answer: AppResponse): { ok: boolean; error?: string } {
  return answer.status === 200 ? { ok: true } : { ok: false, error: `the bot answered HTTP ${answer.status}: ${answer.body.slice(0, 200)}` };
}
