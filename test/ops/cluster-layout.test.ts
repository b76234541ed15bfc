import { describe, expect, it } from 'vitest';
import { clusterLayoutProblem, type KeyLayout } from '../../src/ops/cluster-layout.js';

const tagged: KeyLayout = {
  queuePrefix: '{approval-gate}',
  queues: ['approval-requests', 'approval-resume', 'approval-requests-timers'],
  statePrefix: '{approval-gate}:approvals',
  policySnapshotKey: '{approval-gate}:policy-snapshot',
};

describe('the key layout in a Redis Cluster', () => {
  it('accepts one hash tag at the head of every prefix and key', () => {
    expect(clusterLayoutProblem(tagged)).toBeUndefined();
  });

  it('accepts a tag in the queue names instead of the queue prefix, when it is the same tag', () => {
    expect(clusterLayoutProblem({ ...tagged, queuePrefix: 'bull', queues: ['{approval-gate}requests', '{approval-gate}resume', '{approval-gate}requests-timers'] })).toBeUndefined();
  });

  it('refuses the defaults, naming every setting without a tag and the settings that fix it', () => {
    const problem = clusterLayoutProblem({ queuePrefix: 'bull', queues: ['approval-requests', 'approval-resume'], statePrefix: 'approvals', policySnapshotKey: 'approvals:policy-snapshot' });
    expect(problem).toContain('QUEUE_PREFIX gives keys "bull:approval-requests:…" with no hash tag');
    expect(problem).toContain('STATE_PREFIX gives keys "approvals:…" with no hash tag');
    expect(problem).toContain('POLICY_SNAPSHOT_KEY gives keys "approvals:policy-snapshot…" with no hash tag');
    expect(problem).toContain('QUEUE_PREFIX={approval-gate} STATE_PREFIX={approval-gate}:approvals POLICY_SNAPSHOT_KEY={approval-gate}:policy-snapshot');
  });

  it('refuses one setting left without the tag, and suggests the tag the others use', () => {
    const problem = clusterLayoutProblem({ ...tagged, queuePrefix: '{gate}', statePrefix: '{gate}:approvals', policySnapshotKey: 'approvals:policy-snapshot' });
    expect(problem).toMatch(/^every key of the gate must be in one cluster slot/);
    expect(problem).toContain('POLICY_SNAPSHOT_KEY gives keys');
    expect(problem).not.toContain('STATE_PREFIX gives keys');
    expect(problem).toContain('QUEUE_PREFIX={gate} STATE_PREFIX={gate}:approvals');
  });

  it('refuses tags that put keys in different slots, with the slots', () => {
    const problem = clusterLayoutProblem({ ...tagged, statePrefix: '{other}:approvals' });
    expect(problem).toMatch(/the hash tags put keys in 2 slots: .*"\{approval-gate\}:approval-requests:…" in slot 13872.*"\{other\}:approvals:…" in slot \d+/);
  });

  it('refuses a tag that closes after the shared part, where every key would hash on its own', () => {
    // "{approvals:" never closes within the prefix: the first "}" would be in each key's suffix, if at all.
    expect(clusterLayoutProblem({ ...tagged, statePrefix: '{approvals' })).toContain('STATE_PREFIX gives keys "{approvals:…" with no hash tag');
    // An empty tag hashes the whole key.
    expect(clusterLayoutProblem({ ...tagged, queuePrefix: '{}bull' })).toContain('QUEUE_PREFIX gives keys "{}bull:approval-requests:…"');
  });
});
