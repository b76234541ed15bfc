import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { setTimeout as delay } from 'node:timers/promises';
import { Redis } from 'ioredis';
import { describe, expect, it } from 'vitest';
import { ACTION_APPROVE, ACTION_MORE } from '../../src/views/cards.js';
import { COMMENT_BLOCK, COMMENT_INPUT } from '../../src/views/decide-modal.js';
import { approvalIdOf } from '../../src/domain/contract.js';
import { MODAL_ERRORS, UNCHECKED_IN_MODAL } from '../../src/views/replies.js';
import { createStore } from '../../src/store/store.js';
import type { EmulatedMessage } from '../../sandbox/slack-emulator.js';
import { useGates, type Gate } from '../helpers/gate.js';
import { waitFor } from '../helpers/wait.js';

/**
 * Nothing answered late, nothing recorded after its answer, nothing approved after its expiry: a
 * Redis that stops answering (DEBUG SLEEP on a private redis-server) at each point of a decision.
 */

const gates = useGates();

/** A gate on a Redis of its own that can be put to sleep; `routeLines` make its one route (approvers, N). */
async function openGate(routeLines: string[]): Promise<{ g: Gate; sleep: (seconds: number) => Promise<unknown>; close: () => void }> {
  const server = await gates.redisServer({ debugCommand: true });
  const file = join(mkdtempSync(join(tmpdir(), 'deadlines-')), 'approvals.yml');
  writeFileSync(file, ['routes:', '  - name: only', '    channel: C0APPROVALS', ...routeLines].join('\n'));
  const g = await gates.open({ env: { APPROVALS_CONFIG: file, APPROVALS_CHANNEL: '' } }, server.url);
  const sleeper = new Redis(server.url);
  return { g, sleep: (seconds) => sleeper.call('DEBUG', 'SLEEP', String(seconds)), close: () => sleeper.disconnect() };
}

async function openApproveModal(g: Gate, card: EmulatedMessage, user: string): Promise<void> {
  const before = g.emulator.views.opened.length;
  await g.emulator.chooseOverflow({ channel: card.channel, ts: card.ts, actionId: ACTION_MORE, optionPrefix: 'approve', user });
  await waitFor('the modal', () => g.emulator.views.opened.length > before);
}

const submit = (g: Gate, user: string, text: string) => g.emulator.submitView({ user, values: { [COMMENT_BLOCK]: { [COMMENT_INPUT]: text } } });
const hasButtons = (g: Gate, card: EmulatedMessage) => JSON.stringify(g.emulator.messagesIn(card.channel).find((m) => m.ts === card.ts)!.blocks).includes(ACTION_APPROVE);

describe('a modal submit while Redis stalls', () => {
  it('is answered within 3 seconds that nothing was decided, and nothing is recorded when Redis is back', async () => {
    const { g, sleep, close } = await openGate(['    approvers: [U0ALICE, U0BOB]']);
    try {
      const { card } = await g.post();
      await openApproveModal(g, card, 'U0ALICE');
      const asleep = sleep(6);
      await delay(100);
      const answer = await submit(g, 'U0ALICE', 'checked');
      expect(answer.status).toBe(200);
      expect(answer.elapsedMs).toBeLessThan(3000);
      console.info(`a modal submit during a Redis stall was answered in ${Math.round(answer.elapsedMs)} ms`);
      // The request guard's memory check is the first Redis call: it gives up first and says so;
      // had it answered, the submit's own deadline would have (MODAL_ERRORS.tooSlow).
      expect(JSON.parse(answer.body)).toEqual({ response_action: 'errors', errors: { [COMMENT_BLOCK]: UNCHECKED_IN_MODAL } });
      await g.bot.waitForLog((l) => l.msg === 'request not checked against those seen: nothing done' && l.action === 'modal_submit', 5_000);
      await asleep;
      await delay(1500);
      expect(await g.decisions()).toEqual([]);
      expect(hasButtons(g, card)).toBe(true);
      expect(g.bot.logs.filter((l) => l.msg === 'unhandled error in a Slack listener')).toEqual([]);
      expect(g.bot.stderr()).not.toContain('ERR_HTTP_HEADERS_SENT');

      await openApproveModal(g, card, 'U0ALICE');
      expect((await submit(g, 'U0ALICE', 'checked again')).body).toBe('');
      await waitFor('the decision once Redis answers', async () => (await g.decisions()).some((d) => d.decision === 'approved'), 15_000);
    } finally {
      close();
    }
  }, 90_000);

  it('whose record reached Redis just as it stalled: the answer says it is not confirmed, and Redis records nothing past the deadline', async () => {
    const { g, sleep, close } = await openGate(['    approvers: [U0ALICE, U0BOB]', '    required_approvals: 2']);
    try {
      const { request, card } = await g.post();
      await g.emulator.click({ channel: card.channel, ts: card.ts, actionId: ACTION_APPROVE, user: 'U0BOB' });
      await waitFor('Bob’s approval counted', () => g.emulator.ephemeralsFor('U0BOB')[0]);
      await openApproveModal(g, card, 'U0ALICE');
      // Alice's submit completes the approval: its re-check of Bob's approval takes 600 ms, and Redis falls asleep meanwhile.
      const calls = g.emulator.callsOf('users.info').length;
      g.emulator.injectFaults('users.info', {}, { delayMs: 600 });
      const answering = submit(g, 'U0ALICE', 'checked');
      await waitFor('the re-check to start', () => g.emulator.callsOf('users.info').length >= calls + 2);
      const asleep = sleep(4);
      const answer = await answering;
      expect(answer.elapsedMs).toBeLessThan(3000);
      console.info(`a modal submit whose record met a Redis stall was answered in ${Math.round(answer.elapsedMs)} ms`);
      expect(JSON.parse(answer.body)).toEqual({ response_action: 'errors', errors: { [COMMENT_BLOCK]: MODAL_ERRORS.unconfirmed } });
      await g.bot.waitForLog((l) => l.msg === 'modal submit not answered in time' && l.recording === true);
      await asleep;
      await g.bot.waitForLog((l) => l.msg === 'modal submit failed after its answer' && String(l.err).includes('after the click’s deadline'), 15_000);
      expect(await g.decisions()).toEqual([]);
      const store = createStore(g.redis, { prefix: g.env.STATE_PREFIX!, audit: { key: `${g.env.STATE_PREFIX}:audit`, maxLen: 1000 }, retentionSec: 3600, leaseMs: 10_000 });
      expect((await store.load(approvalIdOf(request as { run_id: string; step_id: string })))!.votes.map((v) => v.id)).toEqual(['U0BOB']);
      expect(hasButtons(g, card)).toBe(true);
    } finally {
      close();
    }
  }, 90_000);
});

describe('a click while Redis stalls past the expiry', () => {
  it('decided before the expiry, recorded after it: the approval ends as expired, not approved', async () => {
    const { g, sleep, close } = await openGate(['    approvers: [U0ALICE, U0BOB]', '    required_approvals: 2']);
    try {
      const { card } = await g.post({ expires_in_sec: 3 });
      const expiresBy = Date.now() + 3000;
      // The timer must not be the one that ends it: the card's timers are removed once set.
      const due = `${g.env.STATE_PREFIX}:due`;
      await waitFor('the card’s timers', async () => (await g.redis.zcard(due)) > 0);
      await g.redis.del(due);
      await g.emulator.click({ channel: card.channel, ts: card.ts, actionId: ACTION_APPROVE, user: 'U0BOB' });
      await waitFor('Bob’s approval counted', () => g.emulator.ephemeralsFor('U0BOB')[0]);
      const calls = g.emulator.callsOf('users.info').length;
      g.emulator.injectFaults('users.info', {}, { delayMs: 300 });
      const clicking = g.emulator.click({ channel: card.channel, ts: card.ts, actionId: ACTION_APPROVE, user: 'U0ALICE' });
      await waitFor('the re-check to start', () => g.emulator.callsOf('users.info').length >= calls + 2);
      expect(Date.now()).toBeLessThan(expiresBy);
      const asleep = sleep(Math.ceil((expiresBy - Date.now()) / 1000) + 1);
      await clicking;
      await asleep;
      const [decision] = await waitFor('the decision', async () => (await g.decisions()).length > 0 && g.decisions(), 15_000);
      expect(decision).toMatchObject({ decision: 'expired', decided_by: { id: 'expiry' } });
      expect(await waitFor('the reply', () => g.emulator.ephemeralsFor('U0ALICE')[0], 15_000)).toContain('Too late: this approval expired');
    } finally {
      close();
    }
  }, 90_000);
});
