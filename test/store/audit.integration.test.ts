import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import { describe, expect, inject, it } from 'vitest';
import { formatTrail, type AuditEntry } from '../../src/store/audit.js';
import { ACTION_APPROVE } from '../../src/views/cards.js';
import { useGates } from '../helpers/gate.js';
import { validRequest } from '../../sandbox/valid-request.js';
import { waitFor } from '../helpers/wait.js';

const run = promisify(execFile);
const SNAPSHOT = '7f3d1a2b9c0e4f5a6b7c8d9e0f1a2b3c';

const gates = useGates();

describe('the audit trail', () => {
  it('records a run from request to decision, refusals included, and npm run audit prints it', async () => {
    const g = await gates.open({ env: { APPROVERS: 'U0ALICE' } });
    await g.redis.set(g.env.POLICY_SNAPSHOT_KEY!, SNAPSHOT);
    const request = validRequest({ policy_snapshot: SNAPSHOT, run_id: 'run_audit_1' });
    await g.finished(await g.requests.add('request', request));
    const [card] = g.cardsFor(request);
    await g.emulator.click({ channel: card!.channel, ts: card!.ts, actionId: ACTION_APPROVE, user: 'U0MALLORY' });
    await waitFor('the refusal', () => g.emulator.ephemeralsFor('U0MALLORY').length === 1);
    await g.emulator.click({ channel: card!.channel, ts: card!.ts, actionId: ACTION_APPROVE, user: 'U0ALICE' });
    await waitFor('the decision', async () => (await g.resume.getJobs(['wait'])).length === 1);

    const env = { ...process.env, REDIS_URL: inject('redisUrl'), STATE_PREFIX: g.env.STATE_PREFIX! };
    const json = JSON.parse((await run('node_modules/.bin/tsx', ['scripts/audit.ts', 'run_audit_1', '--json'], { env })).stdout) as AuditEntry[];
    expect(json.map((e) => [e.event, e.actor, e.detail])).toEqual([
      ['requested', 'workflow.incident-triage', undefined],
      ['posted', 'bot', { channel: card!.channel, ts: card!.ts }],
      ['clicked', 'U0MALLORY', { action: 'approve' }],
      ['refused', 'U0MALLORY', { reason: 'unauthorized', action: 'approve' }],
      ['clicked', 'U0ALICE', { action: 'approve' }],
      ['decided', 'U0ALICE', { decision: 'approved' }],
    ]);
    for (const entry of json) {
      expect(entry).toMatchObject({ run_id: 'run_audit_1', step_id: 'remediate', policy_snapshot: SNAPSHOT, job_hash: request.job_hash });
    }

    const table = (await run('node_modules/.bin/tsx', ['scripts/audit.ts', 'run_audit_1'], { env })).stdout;
    expect(table.split('\n')[0]).toMatch(/^time \(UTC\)\s+step\s+event\s+actor\s+detail$/);
    expect(table).toMatch(/remediate\s+refused\s+U0MALLORY\s+reason=unauthorized action=approve/);
    expect(table).toMatch(/remediate\s+decided\s+U0ALICE\s+decision=approved/);
  });
});

describe('the audit table', () => {
  it('lines up one event per row, oldest first', () => {
    const base = { approval_id: 'ap1', run_id: 'r', step_id: 'deploy', policy_snapshot: 'abc', job_hash: 'def' };
    const text = formatTrail([
      { ...base, event: 'requested', at: Date.UTC(2026, 10, 25, 10, 0, 0), actor: 'engine' },
      { ...base, event: 'stale', at: Date.UTC(2026, 10, 25, 10, 1, 0), actor: 'U0BOB', detail: { decision: 'stale', policy_snapshot_in_force: 'ff' } },
    ]);
    expect(text).toBe(
      [
        'time (UTC)               step    event      actor   detail',
        '-----------------------  ------  ---------  ------  ' + '-'.repeat(42),
        '2026-11-25 10:00:00.000  deploy  requested  engine',
        '2026-11-25 10:01:00.000  deploy  stale      U0BOB   decision=stale policy_snapshot_in_force=ff',
      ].join('\n'),
    );
  });
});
