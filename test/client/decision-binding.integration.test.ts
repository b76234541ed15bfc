import { afterEach, describe, expect, it } from 'vitest';
import { ACTION_APPROVE } from '../../src/views/cards.js';
import { approvalIdOf, DECISION_JOB_NAME, decisionJobId } from '../../src/domain/contract.js';
import { createApprovalClient, type ApprovalClient } from '../../src/client/approval-client.js';
import { useGates, type Gate } from '../helpers/gate.js';
import { signDecision } from '../../src/domain/decision-signature.js';
import { TEST_KEY_ID, TEST_PUBLIC_KEY, TEST_SIGNING_KEY } from '../helpers/signing-key.js';
import { waitFor } from '../helpers/wait.js';

/**
 * decision() is what `approval-gate request --wait` and the MCP server's may_proceed rest on: the
 * decision it resolves with must be the one made for the request the handle stands for.
 */

const gates = useGates();
const clients: ApprovalClient[] = [];
afterEach(async () => {
  for (const client of clients.splice(0)) await client.close();
});

function clientOf(gate: Gate): ApprovalClient {
  const client = createApprovalClient({
    connection: gate.env.REDIS_URL!,
    requestQueue: gate.env.REQUEST_QUEUE!,
    resumeQueue: gate.env.RESUME_QUEUE!,
    policySnapshotKey: gate.env.POLICY_SNAPSHOT_KEY!,
    statePrefix: gate.env.STATE_PREFIX!,
    publicKeys: { [TEST_KEY_ID]: TEST_PUBLIC_KEY },
    pollIntervalMs: 200,
  });
  clients.push(client);
  return client;
}

let counter = 0;
function input(sql: string, overrides: Record<string, unknown> = {}) {
  counter += 1;
  return {
    run_id: `binding_${process.pid}_${counter}`,
    step_id: 'deploy',
    requested_by: 'workflow.release',
    reason: 'release to production',
    job: { tool: 'shell', cmd: sql },
    risk_tags: ['prod'],
    ...overrides,
  };
}

async function approve(gate: Gate, step: { run_id: string; step_id: string }) {
  const card = await waitFor('the card', () => gate.cardsFor(step)[0]);
  await gate.emulator.click({ channel: card.channel, ts: card.ts, actionId: ACTION_APPROVE, user: 'U0ALICE' });
}

/** What decision() gave: the decision, or the error it rejected with. */
async function outcomeWithin(promise: Promise<unknown>): Promise<unknown> {
  return promise.catch((err: unknown) => err);
}

describe('decision() and the request it was made for', () => {
  it('does not resolve a request for a new job on an already approved step with the approval of the old job', async () => {
    const gate = await gates.open();
    const client = clientOf(gate);
    const first = await client.requestApproval(input('./deploy.sh v1'));
    await approve(gate, first);
    expect(await first.decision({ timeoutMs: 20_000 })).toMatchObject({ decision: 'approved', job_hash: first.job_hash });
    // A CI pipeline that reuses its run and step ids sends a different job: the bot refuses it
    // (decided already, bound to something else), nobody approved it.
    const second = await client.requestApproval({ ...input('./deploy.sh v2 --force'), run_id: first.run_id, step_id: first.step_id });
    expect(second.job_hash).not.toBe(first.job_hash);
    const outcome = await outcomeWithin(second.decision({ timeoutMs: 3000 }));
    // Not the approval of a job that is not this one: a mismatch, named as such.
    expect(outcome).not.toMatchObject({ decision: 'approved', job_hash: first.job_hash });
    expect(outcome).toMatchObject({ code: 'decision_mismatch', reason: 'job_mismatch' });
  });

  it('does not resolve with a signed approval of another step copied onto this step’s decision job id', async () => {
    const gate = await gates.open();
    const client = clientOf(gate);
    const other = await client.requestApproval(input('SELECT 1'));
    await approve(gate, other);
    await other.decision({ timeoutMs: 20_000 });
    const signedForOther = (await gate.resume.getJob(decisionJobId(approvalIdOf(other))))!.data as Record<string, unknown>;
    // The step under attack: pending, nobody has decided it.
    const target = await client.requestApproval(input('DROP TABLE customers'));
    await waitFor('the card', () => gate.cardsFor({ run_id: target.run_id, step_id: target.step_id })[0]);
    // Someone who can write to Redis copies the genuine, validly signed job under the target's id.
    await gate.resume.add(DECISION_JOB_NAME, signedForOther, { jobId: decisionJobId(approvalIdOf(target)) });
    const outcome = await outcomeWithin(target.decision({ timeoutMs: 3000 }));
    expect(outcome).not.toMatchObject({ decision: 'approved' });
    expect(outcome).toMatchObject({ code: 'decision_mismatch' });
  });

  it('rejects with a policy mismatch a signed approval of this step and job made under another policy snapshot', async () => {
    const gate = await gates.open();
    const client = clientOf(gate);
    const target = await client.requestApproval(input('./rotate-keys.sh'));
    await waitFor('the card', () => gate.cardsFor({ run_id: target.run_id, step_id: target.step_id })[0]);
    // The gate's own signature over this very step and job, but bound to a snapshot the request was not.
    const underOtherPolicy = signDecision(
      {
        run_id: target.run_id,
        step_id: target.step_id,
        decision: 'approved',
        decided_by: { id: 'U0ALICE', name: 'alice' },
        decided_at: new Date().toISOString(),
        policy_snapshot: `${target.policy_snapshot}-other`,
        job_hash: target.job_hash,
        constraints: {},
      },
      TEST_SIGNING_KEY,
    );
    await gate.resume.add(DECISION_JOB_NAME, underOtherPolicy, { jobId: decisionJobId(approvalIdOf(target)) });
    const outcome = await outcomeWithin(target.decision({ timeoutMs: 3000 }));
    expect(outcome).toMatchObject({ code: 'decision_mismatch', reason: 'policy_mismatch' });
  });
});
