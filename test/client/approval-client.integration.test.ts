import { generateKeyPairSync } from 'node:crypto';
import { Worker } from 'bullmq';
import { afterEach, describe, expect, it } from 'vitest';
import { ACTION_APPROVE, ACTION_DENY } from '../../src/views/cards.js';
import { approvalIdOf, DECISION_JOB_NAME, decisionJobId } from '../../src/domain/contract.js';
import { createApprovalClient, type ApprovalClient, type ApprovalClientOptions } from '../../src/client/approval-client.js';
import { ApprovalRequestError, DecisionTimeoutError, UntrustedDecisionError } from '../../src/client/errors.js';
import { verifyDecision } from '../../src/client/verify-decision.js';
import type { EmulatedMessage } from '../../sandbox/slack-emulator.js';
import { POLICY_SNAPSHOT, useGates, type Gate } from '../helpers/gate.js';
import { TEST_KEY_ID, TEST_PUBLIC_KEY } from '../helpers/signing-key.js';
import { waitFor } from '../helpers/wait.js';

const gates = useGates();
const publicKeys = { [TEST_KEY_ID]: TEST_PUBLIC_KEY };
const clients: ApprovalClient[] = [];
afterEach(async () => {
  for (const client of clients.splice(0)) await client.close();
});

let counter = 0;
/** A client of the gate's queues and keys, as an engine would configure it. */
function clientOf(gate: Gate, extra: Partial<ApprovalClientOptions> = {}): ApprovalClient {
  const client = createApprovalClient({
    connection: gate.env.REDIS_URL!,
    requestQueue: gate.env.REQUEST_QUEUE!,
    resumeQueue: gate.env.RESUME_QUEUE!,
    policySnapshotKey: gate.env.POLICY_SNAPSHOT_KEY!,
    statePrefix: gate.env.STATE_PREFIX!,
    publicKeys,
    pollIntervalMs: 500,
    ...extra,
  });
  clients.push(client);
  return client;
}

function input(overrides: Record<string, unknown> = {}) {
  counter += 1;
  return {
    run_id: `client_${process.pid}_${counter}`,
    step_id: 'remediate',
    requested_by: 'workflow.incident-triage',
    reason: 'prod write detected',
    job: { tool: 'postgres.execute', sql: 'UPDATE orders SET status = $1', params: ['shipped', counter] },
    risk_tags: ['prod', 'write'],
    ...overrides,
  };
}

async function cardOf(gate: Gate, step: { run_id: string; step_id: string }): Promise<EmulatedMessage> {
  return waitFor('the card', () => gate.cardsFor(step)[0]);
}

describe('the approval client', () => {
  it('requests with the job hash and the snapshot in force filled in; the approval clicked in Slack resolves decision() and verifies', async () => {
    const gate = await gates.open();
    const client = clientOf(gate);
    const request = input();
    const handle = await client.requestApproval(request);
    expect(handle.policy_snapshot).toBe(POLICY_SNAPSHOT);
    const waiting = handle.decision({ timeoutMs: 20_000 });
    const card = await cardOf(gate, handle);
    expect(await client.status(handle.run_id, handle.step_id)).toEqual({ state: 'pending', votes: 0 });
    await gate.emulator.click({ channel: card.channel, ts: card.ts, actionId: ACTION_APPROVE, user: 'U0ALICE' });
    const decision = await waiting;
    expect(decision).toMatchObject({ run_id: handle.run_id, step_id: 'remediate', decision: 'approved', decided_by: { id: 'U0ALICE' } });
    expect(verifyDecision(decision, { job: request.job, policySnapshot: POLICY_SNAPSHOT, publicKeys, step: handle })).toMatchObject({ ok: true });
    expect(await client.status(handle.run_id, handle.step_id)).toMatchObject({ state: 'decided', decision: { decision: 'approved' } });
  });

  it('does not take the decision from the engine’s own resume-queue worker', async () => {
    const gate = await gates.open();
    const client = clientOf(gate);
    const handle = await client.requestApproval(input());
    const card = await cardOf(gate, handle);
    await gate.emulator.click({ channel: card.channel, ts: card.ts, actionId: ACTION_DENY, user: 'U0BOB' });
    expect(await handle.decision({ timeoutMs: 20_000 })).toMatchObject({ decision: 'denied' });
    const jobId = decisionJobId(approvalIdOf(handle));
    expect(await gate.resume.getJobState(jobId)).toBe('waiting');
    const received: unknown[] = [];
    const worker = new Worker(gate.env.RESUME_QUEUE!, async (job) => void received.push(job.data), { connection: gate.redis.duplicate() });
    try {
      await waitFor('the engine’s worker to receive the decision', () => received.length > 0);
      expect(received).toEqual([expect.objectContaining({ run_id: handle.run_id, decision: 'denied' })]);
    } finally {
      await worker.close();
    }
  });

  it('a waiter restarted after the decision was made finds it with awaitDecision', async () => {
    const gate = await gates.open();
    const first = clientOf(gate);
    const handle = await first.requestApproval(input());
    const card = await cardOf(gate, handle);
    await first.close();
    clients.splice(clients.indexOf(first), 1);
    await gate.emulator.click({ channel: card.channel, ts: card.ts, actionId: ACTION_APPROVE, user: 'U0ALICE' });
    await waitFor('the decision on the resume queue', async () => (await gate.decisions()).length > 0);
    const started = Date.now();
    expect(await clientOf(gate, { pollIntervalMs: 60_000 }).awaitDecision(handle, { timeoutMs: 10_000 })).toMatchObject({ decision: 'approved' });
    expect(Date.now() - started).toBeLessThan(2000);
  });

  it('a restarted waiter that names another job or policy snapshot than the decision was made for gets DecisionMismatchError, not the decision', async () => {
    const gate = await gates.open();
    const client = clientOf(gate);
    const handle = await client.requestApproval(input());
    const card = await cardOf(gate, handle);
    await gate.emulator.click({ channel: card.channel, ts: card.ts, actionId: ACTION_APPROVE, user: 'U0ALICE' });
    await waitFor('the decision on the resume queue', async () => (await gate.decisions()).length > 0);
    const step = { run_id: handle.run_id, step_id: handle.step_id };
    const otherJob = await client.awaitDecision({ ...step, job_hash: `sha256:${'0'.repeat(64)}`, policy_snapshot: handle.policy_snapshot }, { timeoutMs: 5000 }).catch((err: unknown) => err);
    const otherPolicy = await client.awaitDecision({ ...step, job_hash: handle.job_hash, policy_snapshot: `sha256:${'1'.repeat(64)}` }, { timeoutMs: 5000 }).catch((err: unknown) => err);
    expect([otherJob, otherPolicy]).toMatchObject([{ code: 'decision_mismatch', reason: 'job_mismatch' }, { code: 'decision_mismatch', reason: 'policy_mismatch' }]);
  });

  it('a wait that times out leaves the approval pending; a later awaitDecision gets the decision, woken by the queue’s event', async () => {
    const gate = await gates.open();
    const client = clientOf(gate, { pollIntervalMs: 60_000 });
    const handle = await client.requestApproval(input());
    const card = await cardOf(gate, handle);
    const timedOut = await handle.decision({ timeoutMs: 300 }).catch((err: unknown) => err);
    expect(timedOut).toBeInstanceOf(DecisionTimeoutError);
    expect(timedOut).toMatchObject({ code: 'timeout', run_id: handle.run_id, timeoutMs: 300 });
    expect(await client.status(handle.run_id, handle.step_id)).toMatchObject({ state: 'pending' });

    const later = client.awaitDecision(handle, { timeoutMs: 20_000 });
    await new Promise((resolve) => setTimeout(resolve, 500)); // the waiter is listening before the click
    await gate.emulator.click({ channel: card.channel, ts: card.ts, actionId: ACTION_APPROVE, user: 'U0ALICE' });
    expect(await later).toMatchObject({ decision: 'approved' });
  });

  it('stops waiting when its signal is aborted', async () => {
    const gate = await gates.open();
    const client = clientOf(gate);
    const handle = await client.requestApproval(input());
    const controller = new AbortController();
    const waiting = handle.decision({ signal: controller.signal });
    controller.abort(new Error('engine shutting down'));
    await expect(waiting).rejects.toThrow('engine shutting down');
  });

  it('cancel ends the approval: status says cancelled and the card says so', async () => {
    const gate = await gates.open();
    const client = clientOf(gate);
    const handle = await client.requestApproval(input());
    const card = await cardOf(gate, handle);
    await handle.cancel('the incident resolved itself');
    expect(await waitFor('the cancellation', async () => {
      const status = await client.status(handle.run_id, handle.step_id);
      return status.state === 'cancelled' && status;
    })).toMatchObject({ state: 'cancelled', reason: 'the incident resolved itself' });
    await waitFor('the card update', () => gate.emulator.messagesIn(card.channel).find((m) => m.ts === card.ts)?.edited);
    expect(await client.status('never-asked', 'step')).toEqual({ state: 'unknown' });
  });

  it('refuses at once, with the bot’s reasons, a request the bot would refuse, and queues nothing', async () => {
    const gate = await gates.open();
    const client = clientOf(gate);
    const bad = await client.requestApproval(input({ reason: '', risk_tags: 'prod' })).catch((err: unknown) => err);
    expect(bad).toBeInstanceOf(ApprovalRequestError);
    expect((bad as ApprovalRequestError).problems).toEqual(['reason: must not be empty', 'risk_tags: must be an array of strings']);
    const wrongHash = await client.requestApproval(input({ job_hash: 'sha256:0123456789abcdef' })).catch((err: unknown) => err);
    expect((wrongHash as ApprovalRequestError).problems).toEqual([expect.stringMatching(/^job_hash: does not match job/)]);
    await gate.redis.del(gate.env.POLICY_SNAPSHOT_KEY!);
    const noSnapshot = await client.requestApproval(input()).catch((err: unknown) => err);
    expect((noSnapshot as ApprovalRequestError).problems).toEqual([`policy_snapshot: none given and none in force at ${gate.env.POLICY_SNAPSHOT_KEY}: publish the snapshot in force, or pass one`]);
    expect(await gate.requests.count()).toBe(0);
  });

  it('refuses at creation a public key that is not an Ed25519 key', () => {
    const rsa = generateKeyPairSync('rsa', { modulusLength: 1024 }).publicKey;
    expect(() => createApprovalClient({ connection: 'redis://127.0.0.1:1', publicKeys: { old: rsa } })).toThrow('public key "old" is rsa, not Ed25519');
  });

  it('given the gate’s public keys, rejects a decision someone put on the resume queue by hand', async () => {
    const gate = await gates.open();
    const client = clientOf(gate);
    const handle = await client.requestApproval(input());
    await cardOf(gate, handle);
    const forged = { run_id: handle.run_id, step_id: handle.step_id, decision: 'approved', decided_by: { id: 'U0ALICE', name: 'alice' }, decided_at: new Date().toISOString(), policy_snapshot: handle.policy_snapshot, job_hash: handle.job_hash, constraints: {} };
    await gate.resume.add(DECISION_JOB_NAME, forged, { jobId: decisionJobId(approvalIdOf(handle)) });
    const rejected = await handle.decision({ timeoutMs: 10_000 }).catch((err: unknown) => err);
    expect(rejected).toBeInstanceOf(UntrustedDecisionError);
    expect(rejected).toMatchObject({ reason: 'unsigned' });
  });
});
