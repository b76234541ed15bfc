import type { IncomingMessage, ServerResponse } from 'node:http';
import { parseJson } from './workspace.js';

/** The small HTTP chores of the emulator and the sandbox page: bodies in, JSON out, Web API arguments. */

export async function readBody(req: IncomingMessage): Promise<string> {
  const chunks: Buffer[] = [];
  for await (const chunk of req) chunks.push(chunk as Buffer);
  return Buffer.concat(chunks).toString('utf8');
}

export function sendJson(res: ServerResponse, status: number, body: unknown, headers: Record<string, string> = {}): void {
  res.writeHead(status, { 'content-type': 'application/json; charset=utf-8', ...headers });
  res.end(JSON.stringify(body));
}

/** A Web API call's arguments, as Slack takes them: a JSON body or a form. */
export function parseArgs(contentType: string | undefined, body: string): Record<string, unknown> {
  if (contentType?.startsWith('application/json')) return (parseJson(body) as Record<string, unknown> | undefined) ?? {};
  return Object.fromEntries(new URLSearchParams(body));
}

export function bearer(header: string | undefined): string | undefined {
  return header?.startsWith('Bearer ') ? header.slice('Bearer '.length) : undefined;
}
