import { describe, expect, it } from 'vitest';
import { ACTION_APPROVE, ACTION_DENY } from '../../src/views/cards.js';
import { approvalIdOf, DECISION_JOB_NAME, type Decision } from '../../src/domain/contract.js';
import { verifyDecision } from '../../src/client/verify-decision.js';
import { POLICY_SNAPSHOT, useGates, type Gate } from '../helpers/gate.js';
import { TEST_KEY_ID, TEST_PUBLIC_KEY } from '../helpers/signing-key.js';
import { waitFor } from '../helpers/wait.js';

const gates = useGates();
const publicKeys = { [TEST_KEY_ID]: TEST_PUBLIC_KEY };

async function decisionOf(gate: Gate, request: Record<string, unknown>): Promise<Decision> {
  return waitFor('the decision', async () => (await gate.decisions()).find((d) => d.run_id === request.run_id));
}

describe('decisions signed by the gate', () => {
  it('an approval clicked in Slack reaches the resume queue signed, and verifies for its job and snapshot', async () => {
    const gate = await gates.open();
    const { request, card } = await gate.post();
    await gate.emulator.click({ channel: card.channel, ts: card.ts, actionId: ACTION_APPROVE, user: 'U0ALICE' });
    const decision = await decisionOf(gate, request);
    expect(decision.signature).toEqual({ alg: 'Ed25519', key_id: TEST_KEY_ID, sig: expect.stringMatching(/^[A-Za-z0-9_-]{86}$/) });
    expect(verifyDecision(decision, { job: request.job, policySnapshot: POLICY_SNAPSHOT, publicKeys })).toMatchObject({ ok: true });
    await gate.bot.waitForLog((l) => l.msg === 'decisions are signed' && l.key_id === TEST_KEY_ID && String(l.public_key).startsWith('-----BEGIN PUBLIC KEY-----'));
  });

  it('a denial is signed too, and does not let the engine run the job', async () => {
    const gate = await gates.open();
    const { request, card } = await gate.post();
    await gate.emulator.click({ channel: card.channel, ts: card.ts, actionId: ACTION_DENY, user: 'U0BOB' });
    const decision = await decisionOf(gate, request);
    expect(verifyDecision(decision, { job: request.job, policySnapshot: POLICY_SNAPSHOT, publicKeys })).toMatchObject({ ok: false, reason: 'not_approved' });
    expect(verifyDecision({ ...decision, decision: 'approved' }, { job: request.job, policySnapshot: POLICY_SNAPSHOT, publicKeys })).toMatchObject({ ok: false, reason: 'bad_signature' });
  });

  it('an approval someone with Redis access added to the resume queue by hand is rejected', async () => {
    const gate = await gates.open();
    const { request } = await gate.post();
    const forged = {
      run_id: request.run_id,
      step_id: request.step_id,
      decision: 'approved',
      decided_by: { id: 'U0ALICE', name: 'alice' },
      decided_at: new Date().toISOString(),
      policy_snapshot: request.policy_snapshot,
      job_hash: request.job_hash,
      constraints: request.constraints,
    };
    await gate.resume.add(DECISION_JOB_NAME, forged, { jobId: `decision-${approvalIdOf(request as { run_id: string; step_id: string })}` });
    const decision = await decisionOf(gate, request);
    expect(verifyDecision(decision, { job: request.job, policySnapshot: POLICY_SNAPSHOT, publicKeys })).toMatchObject({ ok: false, reason: 'unsigned' });
    const withMadeUpSignature = { ...decision, signature: { alg: 'Ed25519', key_id: TEST_KEY_ID, sig: Buffer.alloc(64, 7).toString('base64url') } };
    expect(verifyDecision(withMadeUpSignature, { job: request.job, policySnapshot: POLICY_SNAPSHOT, publicKeys })).toMatchObject({ ok: false, reason: 'bad_signature' });
  });
});
