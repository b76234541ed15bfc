import { expect } from 'vitest';
import type { Gate } from './gate.js';
import { waitFor } from './wait.js';

/** What `/approvals` answered: the ephemeral reply, and every Web API call the bot made meanwhile. */
export interface ApprovalsReply {
  channel: string;
  text: string;
  blocks: unknown[];
  calls: { method: string; args: Record<string, unknown> }[];
}

/**
 * Types `/approvals <text>` as `user` and returns the reply. The command must be acked within
 * Slack's 3 s; the list follows through the response_url.
 */
export async function approvals(g: Gate, user: string, text = '', timeoutMs = 20_000): Promise<ApprovalsReply> {
  const before = g.emulator.ephemeralMessagesFor(user).length;
  const callsBefore = g.emulator.calls.length;
  const response = await g.emulator.command({ command: '/approvals', text, user, channel: 'C0INCIDENT42' });
  expect(response.status).toBe(200);
  expect(response.elapsedMs).toBeLessThan(3000);
  const reply = await waitFor('the list', () => g.emulator.ephemeralMessagesFor(user)[before], timeoutMs);
  return { ...reply, calls: g.emulator.calls.slice(callsBefore).map(({ method, args }) => ({ method, args })) };
}
