import { randomBytes } from 'node:crypto';
import type { IncomingMessage, Server } from 'node:http';
import type { Duplex } from 'node:stream';
import { WebSocketServer, type WebSocket } from 'ws';
import type { AppResponse } from './interactions.js';

/**
 * Socket Mode as Slack runs it, for an app with an app-level token: `apps.connections.open` hands out
 * a one-time WebSocket URL; Slack says `hello`, then sends each interaction as an envelope and waits
 * (3 seconds) for the app to acknowledge it with the envelope's id and, optionally, a response payload.
 */

const ACK_TIMEOUT_MS = 3000;
// Slack pings the app; the client reconnects when it has not heard a ping for 30 s.
const PING_INTERVAL_MS = 10_000;

export class SocketModeServer {
  private readonly wss = new WebSocketServer({ noServer: true });
  private readonly tickets = new Set<string>();
  private readonly waiting = new Map<string, (payload: Record<string, unknown>) => void>();
  private socket: WebSocket | undefined;
  private pinger: NodeJS.Timeout | undefined;

  constructor(private readonly appId: string) {}

  /** Takes WebSocket upgrades on `/socket-mode/<ticket>` of the emulator's server. */
  attach(server: Server): void {
    server.on('upgrade', (req: IncomingMessage, raw: Duplex, head: Buffer) => {
      const ticket = /^\/socket-mode\/(\w+)$/.exec(req.url ?? '')?.[1];
      if (!ticket || !this.tickets.delete(ticket)) {
        raw.end('HTTP/1.1 401 Unauthorized\r\n\r\n');
        return;
      }
      this.wss.handleUpgrade(req, raw, head, (socket) => this.accept(socket));
    });
  }

  /** apps.connections.open: a URL that works once. */
  open(baseUrl: string): Record<string, unknown> {
    const ticket = randomBytes(12).toString('hex');
    this.tickets.add(ticket);
    return { url: `${baseUrl.replace(/^http/, 'ws')}/socket-mode/${ticket}` };
  }

  get connected(): boolean {
    return this.socket?.readyState === 1;
  }

  /**
   * Sends one envelope (`interactive`, `slash_commands`) and returns the app's acknowledgement as an
   * HTTP app would answer. `envelopeId` delivers an envelope again under the id it had.
   */
  async send(type: 'interactive' | 'slash_commands', payload: Record<string, unknown>, envelopeId = randomBytes(8).toString('hex')): Promise<AppResponse> {
    const socket = this.socket;
    if (!socket || !this.connected) throw new Error('no app is connected over Socket Mode');
    const started = performance.now();
    const acked = new Promise<Record<string, unknown> | undefined>((resolve) => {
      const timer = setTimeout(() => {
        this.waiting.delete(envelopeId);
        resolve(undefined);
      }, ACK_TIMEOUT_MS);
      this.waiting.set(envelopeId, (ackPayload) => {
        clearTimeout(timer);
        resolve(ackPayload);
      });
    });
    socket.send(JSON.stringify({ envelope_id: envelopeId, type, payload, accepts_response_payload: type !== 'interactive' || payload.type === 'view_submission' }));
    const ackPayload = await acked;
    const elapsedMs = performance.now() - started;
    if (ackPayload === undefined) return { status: 0, body: `no acknowledgement within ${ACK_TIMEOUT_MS} ms`, elapsedMs, envelopeId };
    return { status: 200, body: Object.keys(ackPayload).length ? JSON.stringify(ackPayload) : '', elapsedMs, envelopeId };
  }

  close(): void {
    clearInterval(this.pinger);
    for (const client of this.wss.clients) client.terminate();
    this.wss.close();
  }

  private accept(socket: WebSocket): void {
    this.socket?.close();
    this.socket = socket;
    socket.on('message', (data) => {
      const message = JSON.parse(String(data)) as { envelope_id?: string; payload?: Record<string, unknown> };
      if (message.envelope_id) this.waiting.get(message.envelope_id)?.(message.payload ?? {});
      this.waiting.delete(message.envelope_id ?? '');
    });
    clearInterval(this.pinger);
    this.pinger = setInterval(() => this.connected && this.socket?.ping(), PING_INTERVAL_MS);
    socket.send(JSON.stringify({ type: 'hello', num_connections: 1, debug_info: { host: 'emulator', approximate_connection_time: 3600 }, connection_info: { app_id: this.appId } }));
  }
}
