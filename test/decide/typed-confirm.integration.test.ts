import { createHash } from 'node:crypto';
import { mkdtempSync, writeFileSync } from 'node:fs';
import canonicalize from 'canonicalize';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { ACTION_APPROVE, ACTION_MORE } from '../../src/views/cards.js';
import { COMMENT_BLOCK, COMMENT_INPUT, TYPED_BLOCK, TYPED_INPUT } from '../../src/views/decide-modal.js';
import { useGates, type Gate } from '../helpers/gate.js';
import { waitFor } from '../helpers/wait.js';

const gates = useGates();

async function openTypedGate(): Promise<Gate> {
  const file = join(mkdtempSync(join(tmpdir(), 'typed-')), 'routes.yml');
  writeFileSync(file, ['routes:', '  - name: prod', '    channel: C0APPROVALS', '    approvers: [U0ALICE, U0BOB]', '    confirm: typed', ''].join('\n'));
  return gates.open({ env: { APPROVALS_CONFIG: file, APPROVALS_CHANNEL: '' } });
}

async function clickApprove(g: Gate, card: { channel: string; ts: string }, user: string) {
  const before = g.emulator.views.opened.length;
  const answer = await g.emulator.click({ channel: card.channel, ts: card.ts, actionId: ACTION_APPROVE, user });
  expect(answer.status).toBe(200);
  return waitFor('the confirmation modal', () => g.emulator.views.opened.length > before && g.emulator.views.opened.at(-1)!);
}

const submitTyped = (g: Gate, user: string, typed: string, comment = '') =>
  g.emulator.submitView({ user, values: { [TYPED_BLOCK]: { [TYPED_INPUT]: typed }, [COMMENT_BLOCK]: { [COMMENT_INPUT]: comment } } });

describe('confirm: typed', () => {
  it('Approve opens a modal with the whole job; a wrong text is an error in the modal and decides nothing; the step id approves', async () => {
    const g = await openTypedGate();
    const { request, card } = await g.post({ job: { tool: 'postgres.execute', sql: 'DELETE FROM sessions WHERE expires_at < now()' } });
    const modal = await clickApprove(g, card, 'U0ALICE');
    const shown = JSON.stringify(modal.view);
    expect(shown).toContain('Confirm approval');
    expect(shown).toContain('DELETE FROM sessions WHERE expires_at &lt; now()');
    expect(shown).toContain('Type the step id, or the first 8 characters of the job hash');
    expect(await g.decisions()).toEqual([]);

    const wrong = await submitTyped(g, 'U0ALICE', 'remediat');
    expect(JSON.parse(wrong.body)).toEqual({
      response_action: 'errors',
      errors: { [TYPED_BLOCK]: 'Nothing was decided: that is not the step id or the first 8 characters of the job hash.' },
    });
    expect(await g.decisions()).toEqual([]);
    expect(g.emulator.messagesIn(card.channel).find((m) => m.ts === card.ts)!.edited).toBeUndefined();

    const right = await submitTyped(g, 'U0ALICE', String(request.step_id));
    expect([right.status, right.body]).toEqual([200, '']);
    const [decision] = await waitFor('the decision', async () => (await g.decisions()).length > 0 && g.decisions());
    expect(decision).toMatchObject({ decision: 'approved', decided_by: { id: 'U0ALICE' } });
  });

  it('the first 8 characters of the job hash approve too; Deny needs no typing', async () => {
    const g = await openTypedGate();
    const { request, card } = await g.post();
    await clickApprove(g, card, 'U0BOB');
    await submitTyped(g, 'U0BOB', String(request.job_hash).replace('sha256:', '').slice(0, 8), 'hash checked');
    const [approved] = await waitFor('the decision', async () => (await g.decisions()).length > 0 && g.decisions());
    expect(approved).toMatchObject({ decision: 'approved', comment: 'hash checked' });

    const other = await g.post();
    await g.emulator.click({ channel: other.card.channel, ts: other.card.ts, actionId: 'approval_deny', user: 'U0BOB' });
    await waitFor('the deny', async () => (await g.decisions()).some((d) => d.decision === 'denied'));
  });

  it('a forged submit without the typed field decides nothing, and Approve with comment… asks for the typing too', async () => {
    const g = await openTypedGate();
    const { card } = await g.post();
    await g.emulator.chooseOverflow({ channel: card.channel, ts: card.ts, actionId: ACTION_MORE, optionPrefix: 'approve', user: 'U0ALICE' });
    const modal = await waitFor('the modal', () => g.emulator.views.opened.at(-1));
    expect(JSON.stringify(modal.view)).toContain(TYPED_BLOCK);
    const forged = await g.emulator.submitView({ user: 'U0ALICE', values: { [COMMENT_BLOCK]: { [COMMENT_INPUT]: 'no typing' } } });
    expect(JSON.parse(forged.body).errors[COMMENT_BLOCK]).toContain('Nothing was decided');
    expect(await g.decisions()).toEqual([]);
  });

  it('re-checks the binding on submit: a request replaced while the modal was open decides nothing', async () => {
    const g = await openTypedGate();
    const { request, card } = await g.post();
    await clickApprove(g, card, 'U0ALICE');
    await g.finished(await g.requests.add('request', { ...request, job: { changed: true }, ...rehash({ changed: true }) }));
    const answer = await submitTyped(g, 'U0ALICE', String(request.step_id));
    expect(JSON.parse(answer.body).errors[COMMENT_BLOCK]).toContain('the request was replaced by a newer one');
    expect(await g.decisions()).toEqual([]);
  });

  it('when the form cannot open, the reviewer is told to click again and nothing is decided', async () => {
    const g = await openTypedGate();
    const { card } = await g.post();
    g.emulator.injectFaults('views.open', { error: 'expired_trigger_id' });
    await g.emulator.click({ channel: card.channel, ts: card.ts, actionId: ACTION_APPROVE, user: 'U0ALICE' });
    await waitFor('the reply', () => g.emulator.ephemeralsFor('U0ALICE').length > 0);
    expect(g.emulator.ephemeralsFor('U0ALICE')[0]).toContain('its form could not open. Nothing was decided; click Approve again.');
    expect(await g.decisions()).toEqual([]);
  });

  it('a non-approver is refused at the click, without a modal', async () => {
    const g = await openTypedGate();
    const { card } = await g.post();
    const before = g.emulator.views.opened.length;
    await g.emulator.click({ channel: card.channel, ts: card.ts, actionId: ACTION_APPROVE, user: 'U0CAROL' });
    await waitFor('the refusal', () => g.emulator.ephemeralsFor('U0CAROL').length > 0);
    expect(g.emulator.ephemeralsFor('U0CAROL')[0]).toContain('You are not one of the approvers');
    expect(g.emulator.views.opened.length).toBe(before);
  });

  it('30 Approve clicks on a typed card by one reviewer, each opening the confirmation, leave at most 10 clicks and 10 refusals in the audit within the minute', async () => {
    const g = await openTypedGate();
    const { request, card } = await g.post();
    for (let i = 0; i < 30; i += 1) await clickApprove(g, card, 'U0ALICE');
    const events = (await g.redis.xrange(`${g.env.STATE_PREFIX}:audit:refusals`, '-', '+'))
      .map(([, fields]) => Object.fromEntries(Array.from({ length: fields.length / 2 }, (_, i) => [fields[2 * i], fields[2 * i + 1]])) as Record<string, string>)
      .filter((e) => e.actor === 'U0ALICE' && e.run_id === request.run_id)
      .map((e) => e.event);
    expect(events.filter((e) => e === 'clicked').length).toBeLessThanOrEqual(10);
    expect(events.filter((e) => e === 'refused').length).toBeLessThanOrEqual(10);
    expect(events.filter((e) => e === 'throttled')).toHaveLength(1);
    expect(await g.decisions()).toEqual([]);
  }, 60_000);

  it('30 wrong typed confirmations by one reviewer leave at most 10 refusals in the audit within the minute, and the modal then says further ones are ignored for a while', async () => {
    const g = await openTypedGate();
    const { request, card } = await g.post();
    await clickApprove(g, card, 'U0ALICE');
    const answers: string[] = [];
    for (let i = 0; i < 30; i += 1) answers.push(JSON.parse((await submitTyped(g, 'U0ALICE', `wrong-${i}`)).body).errors[TYPED_BLOCK]);
    expect(await g.decisions()).toEqual([]);

    const entries = (await g.redis.xrange(`${g.env.STATE_PREFIX}:audit:refusals`, '-', '+')).map(([, fields]) => {
      const entry: Record<string, string> = {};
      for (let i = 0; i + 1 < fields.length; i += 2) entry[fields[i]!] = fields[i + 1]!;
      return entry;
    });
    const ofAlice = (event: string) => entries.filter((e) => e.event === event && e.actor === 'U0ALICE' && e.run_id === request.run_id).length;
    expect(ofAlice('refused')).toBeLessThanOrEqual(10);
    expect(ofAlice('throttled')).toBe(1);
    expect(answers[0]).toBe('Nothing was decided: that is not the step id or the first 8 characters of the job hash.');
    for (const answer of answers.slice(10)) {
      expect(answer).toContain('Nothing was decided: that is not the step id');
      expect(answer).toMatch(/for the next \d+ seconds, further clicks like this are ignored/);
    }
  }, 60_000);
});

function rehash(job: unknown): { job_hash: string } {
  return { job_hash: `sha256:${createHash('sha256').update(canonicalize(job)!).digest('hex')}` };
}
