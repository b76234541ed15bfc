import { describe, expect, it } from 'vitest';
import { useGates } from '../helpers/gate.js';

const gates = useGates();

describe('a card that can only go stale', () => {
  it('warns before anyone clicks when the request’s policy snapshot is not the one in force', async () => {
    const g = await gates.open();
    await g.redis.set(g.env.POLICY_SNAPSHOT_KEY!, 'ffffffffffffffff');
    const { card } = await g.post();
    const text = JSON.stringify(card.blocks);
    expect(text).toContain(':warning: *Approving will end as stale:* this request was made under policy snapshot `7f3d1a2b9c0e`, and `ffffffffffff` is in force now.');
  });

  it('has no such warning when the request is bound to the snapshot in force', async () => {
    const g = await gates.open();
    const { card } = await g.post();
    expect(JSON.stringify(card.blocks)).not.toContain('Approving will end as stale');
  });
});
