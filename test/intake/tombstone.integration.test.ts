import { describe, expect, it } from 'vitest';
import { approvalIdOf, decisionJobId } from '../../src/domain/contract.js';
import { ACTION_APPROVE } from '../../src/views/cards.js';
import { useGates, type Gate } from '../helpers/gate.js';
import { validRequest } from '../../sandbox/valid-request.js';
import { waitFor } from '../helpers/wait.js';

const gates = useGates();
// Records go 2 s after their ending; tombstones stay (their default is a year).
const openGate = () => gates.open({ env: { APPROVAL_RETENTION_SEC: '2' } });

const recordKey = (g: Gate, request: Record<string, unknown>) => `${g.env.STATE_PREFIX}:approval:${approvalIdOf(request as { run_id: string; step_id: string })}`;
const forgotten = (g: Gate, request: Record<string, unknown>) => waitFor('the record to expire', async () => (await g.redis.exists(recordKey(g, request))) === 0, 15_000);

/** Posts a request, approves it and waits until the decision is on the resume queue and the card updated. */
async function approved(g: Gate): Promise<Record<string, unknown>> {
  const { request, card } = await g.post();
  await g.emulator.click({ channel: card.channel, ts: card.ts, actionId: ACTION_APPROVE, user: 'U0ALICE' });
  await waitFor('the decision', async () => (await g.decisions()).some((d) => d.run_id === request.run_id));
  await waitFor('the decided card', async () => (await g.redis.hget(recordKey(g, request), 'settled')) === '1');
  return request;
}

describe('a request for a step that ended long ago', () => {
  it('gets the existing decision again and no card, after the record is gone', async () => {
    const g = await openGate();
    const request = await approved(g);
    const [decision] = await g.decisions();
    await forgotten(g, request);

    const again = await g.finished(await g.requests.add('request', request));
    expect(again.returnvalue).toEqual({ outcome: 'already_decided', decision: 'approved' });
    expect(g.cardsFor(request)).toHaveLength(1);
    // Pushed again with the same job id: the engine still has it, so nothing new arrives.
    expect(await g.decisions()).toEqual([decision]);
  });

  it('…and the decision arrives again when the engine had already removed its job', async () => {
    const g = await openGate();
    const request = await approved(g);
    const [decision] = await g.decisions();
    await (await g.resume.getJob(decisionJobId(approvalIdOf(request as { run_id: string; step_id: string }))))!.remove();
    await forgotten(g, request);

    const again = await g.finished(await g.requests.add('request', request));
    expect(again.returnvalue).toEqual({ outcome: 'already_decided', decision: 'approved' });
    expect(await g.decisions()).toEqual([decision]);
    expect(g.cardsFor(request)).toHaveLength(1);
  });

  it('with another job hash, is refused as a conflict', async () => {
    const g = await openGate();
    const request = await approved(g);
    await forgotten(g, request);

    const other = await g.finished(await g.requests.add('request', validRequest({ run_id: request.run_id, job: { other: true } })));
    expect(other.failedReason).toContain('already has an approval bound to another policy_snapshot or job_hash');
    expect(g.cardsFor(request)).toHaveLength(1);
  });

  it('cancelled and forgotten: the request posts no card, and a second cancel changes nothing', async () => {
    const g = await openGate();
    const { request } = await g.post();
    const cancel = { run_id: request.run_id, step_id: request.step_id, reason: 'not needed' };
    await g.finished(await g.requests.add('cancel', cancel));
    await forgotten(g, request);

    expect((await g.finished(await g.requests.add('request', request))).returnvalue).toEqual({ outcome: 'cancelled' });
    expect((await g.finished(await g.requests.add('cancel', cancel))).returnvalue).toEqual({ outcome: 'already_cancelled' });
    expect(g.cardsFor(request)).toHaveLength(1);
    expect(await g.decisions()).toEqual([]);
  });

  it('a cancel that comes after the decided record is gone changes nothing', async () => {
    const g = await openGate();
    const request = await approved(g);
    await forgotten(g, request);

    const cancel = await g.finished(await g.requests.add('cancel', { run_id: request.run_id, step_id: request.step_id, reason: 'too late' }));
    expect(cancel.returnvalue).toEqual({ outcome: 'already_decided', decision: 'approved' });
    expect((await g.finished(await g.requests.add('request', request))).returnvalue).toEqual({ outcome: 'already_decided', decision: 'approved' });
  });
});
