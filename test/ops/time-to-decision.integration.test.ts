import { describe, expect, it } from 'vitest';
import { ACTION_APPROVE } from '../../src/views/cards.js';
import { approvals } from '../helpers/approvals-command.js';
import { useGates, type Gate } from '../helpers/gate.js';
import { waitFor } from '../helpers/wait.js';

const gates = useGates();

const openGate = () => gates.open({ env: { APPROVALS_CONFIG: 'examples/approvals.yml', APPROVALS_CHANNEL: '' } });
const metricsOf = async (g: Gate) => (await fetch(`http://127.0.0.1:${g.env.PORT}/metrics`)).text();
/** The value of one sample line, e.g. `approval_gate_pending_approvals`, or undefined when absent. */
const sample = (text: string, name: string) => {
  const line = text.split('\n').find((l) => l.startsWith(`${name} `));
  return line === undefined ? undefined : Number(line.slice(name.length + 1));
};

describe('time to decision, measured', () => {
  it('times request to card and card to decision by route and outcome, and gauges the approvals pending and the oldest’s age', async () => {
    const g = await openGate();
    const { card } = await g.post();
    const pending = await metricsOf(g);
    expect(sample(pending, 'approval_gate_request_to_card_seconds_count{route="prod-writes",outcome="posted"}')).toBe(1);
    expect(sample(pending, 'approval_gate_pending_approvals')).toBe(1);
    expect(sample(pending, 'approval_gate_oldest_pending_age_seconds')).toBeGreaterThan(0);
    await new Promise((resolve) => setTimeout(resolve, 1100));
    await g.emulator.click({ channel: card.channel, ts: card.ts, actionId: ACTION_APPROVE, user: 'U0BOB' });
    await waitFor('the decision', async () => (await g.decisions()).length === 1);
    const decided = await metricsOf(g);
    expect(sample(decided, 'approval_gate_card_to_decision_seconds_count{route="prod-writes",outcome="approved"}')).toBe(1);
    expect(sample(decided, 'approval_gate_card_to_decision_seconds_sum{route="prod-writes",outcome="approved"}')).toBeGreaterThanOrEqual(1);
    expect(sample(decided, 'approval_gate_card_to_decision_seconds_bucket{le="0.1",route="prod-writes",outcome="approved"}') ?? 0).toBe(0);
    expect(sample(decided, 'approval_gate_pending_approvals')).toBe(0);
    expect(sample(decided, 'approval_gate_oldest_pending_age_seconds')).toBe(0);
  });

  it('/approvals stats shows, for the caller’s routes, how many were decided in the last 7 days and how long it took', async () => {
    const g = await openGate();
    const { card } = await g.post();
    await g.emulator.click({ channel: card.channel, ts: card.ts, actionId: ACTION_APPROVE, user: 'U0BOB' });
    await waitFor('the decision', async () => (await g.decisions()).length === 1);
    const reply = await waitFor('the stats', async () => {
      const answer = await approvals(g, 'U0BOB', 'stats');
      return answer.text.includes('1 decided') && answer;
    });
    expect(reply.text).toMatch(/^\*Time from card to decision, last 7 days\*/);
    expect(reply.text).toMatch(/• \*prod-writes\*: 1 decided · median \d+ s · 90th percentile \d+ s/);
    expect(reply.text).toContain('• *default*: nothing decided');
    expect(reply.text).toContain('• *secrets*: nothing decided');
    // Mallory is in no group: of these routes only the default (anyone) is hers.
    const mallory = await approvals(g, 'U0MALLORY', 'stats');
    expect(mallory.text).toContain('• *default*: nothing decided');
    expect(mallory.text).not.toMatch(/prod-writes|secrets/);
  });
});
