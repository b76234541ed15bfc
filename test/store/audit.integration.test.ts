import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import { describe, expect, inject, it } from 'vitest';
import { setTimeout as delay } from 'node:timers/promises';
import { Redis } from 'ioredis';
import { auditEntry, createAudit, escapeControls, formatTrail, type AuditEntry } from '../../src/store/audit.js';
import { createApproval } from '../../src/domain/approval.js';
import { parseRequest, type ApprovalRequest } from '../../src/domain/contract.js';
import { ACTION_APPROVE } from '../../src/views/cards.js';
import { useGates, type Gate } from '../helpers/gate.js';
import { validRequest } from '../../sandbox/valid-request.js';
import { waitFor } from '../helpers/wait.js';

const run = promisify(execFile);
const SNAPSHOT = '7f3d1a2b9c0e4f5a6b7c8d9e0f1a2b3c';

const gates = useGates();

function parseRequestOrThrow(data: unknown): ApprovalRequest {
  const parsed = parseRequest(data);
  if (!parsed.ok) throw new Error(parsed.problems.join('; '));
  return parsed.request;
}

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

describe('refused clicks', () => {
  const auditOf = async (g: Gate, runId: string) => {
    const env = { ...process.env, REDIS_URL: inject('redisUrl'), STATE_PREFIX: g.env.STATE_PREFIX! };
    return JSON.parse((await run('node_modules/.bin/tsx', ['scripts/audit.ts', runId, '--json'], { env })).stdout) as AuditEntry[];
  };

  it('cannot flush an approved run’s trail: AUDIT_MAX_LEN=1000 and 700 refused clicks', async () => {
    const g = await gates.open({ env: { APPROVERS: 'U0ALICE', AUDIT_MAX_LEN: '1000' } });
    const approved = await g.post();
    await g.emulator.click({ channel: approved.card.channel, ts: approved.card.ts, actionId: ACTION_APPROVE, user: 'U0ALICE' });
    await waitFor('the decision', async () => (await g.decisions()).length === 1);
    const { card } = await g.post();
    for (let sent = 0; sent < 700; sent += 25) {
      await Promise.all(Array.from({ length: 25 }, () => g.emulator.click({ channel: card.channel, ts: card.ts, actionId: ACTION_APPROVE, user: 'U0MALLORY' })));
    }
    await waitFor('700 refusals', () => g.emulator.ephemeralsFor('U0MALLORY').length === 700, 60_000);

    expect((await auditOf(g, String(approved.request.run_id))).map((e) => [e.event, e.actor])).toEqual([
      ['requested', 'workflow.incident-triage'],
      ['posted', 'bot'],
      ['clicked', 'U0ALICE'],
      ['decided', 'U0ALICE'],
    ]);
  }, 90_000);

  it('are recorded up to a limit per user, then only counted, and the clicker is told for how long', async () => {
    const g = await gates.open({ env: { APPROVERS: 'U0ALICE' } });
    const { request, card } = await g.post();
    const replies: string[] = [];
    for (let click = 1; click <= 12; click += 1) {
      await g.emulator.click({ channel: card.channel, ts: card.ts, actionId: ACTION_APPROVE, user: 'U0MALLORY' });
      replies.push((await waitFor(`reply ${click}`, () => g.emulator.ephemeralsFor('U0MALLORY')[click - 1]))!);
    }
    for (const text of replies) expect(text).toContain('You are not one of the approvers');
    for (const text of replies.slice(0, 10)) expect(text).not.toContain('ignored');
    for (const text of replies.slice(10)) expect(text).toMatch(/for the next \d+ seconds, further clicks like this are ignored/);

    await g.emulator.click({ channel: card.channel, ts: card.ts, actionId: ACTION_APPROVE, user: 'U0ALICE' });
    await waitFor('the decision', async () => (await g.decisions()).length === 1);
    const trail = await createAudit(g.redis, { key: `${g.env.STATE_PREFIX}:audit`, maxLen: 0 }).trail(String(request.run_id));
    const count = (event: string, actor: string) => trail.filter((e) => e.event === event && e.actor === actor).length;
    expect([count('clicked', 'U0MALLORY'), count('refused', 'U0MALLORY'), count('throttled', 'U0MALLORY')]).toEqual([10, 10, 1]);
    expect(trail.find((e) => e.event === 'throttled')!.detail).toMatchObject({ reason: 'unauthorized', limit: 10, window_sec: 60 });
    expect(trail.slice(-2).map((e) => [e.event, e.actor])).toEqual([['clicked', 'U0ALICE'], ['decided', 'U0ALICE']]);
    const metrics = await (await fetch(`http://127.0.0.1:${g.env.PORT}/metrics`)).text();
    expect(metrics).toContain('approval_gate_refusals_total{reason="unauthorized",action="approve"} 12');
  });

  it('are recorded again once the window has passed', async () => {
    const redis = new Redis(inject('redisUrl'));
    const key = `audit-window-${process.pid}-${Date.now()}:audit`;
    const audit = createAudit(redis, { key, maxLen: 1000, refusalLimit: { max: 2, windowMs: 500 } });
    const approval = createApproval(parseRequestOrThrow(validRequest()), Date.now());
    const refusal = () => audit.appendRefusal(auditEntry(approval, 'refused', 'U0MALLORY', Date.now(), { reason: 'unauthorized', action: 'approve' }));
    const notes = [await refusal(), await refusal(), await refusal(), await refusal()];
    expect(notes.map((n) => n.recorded)).toEqual([true, true, false, false]);
    expect(notes[2]).toMatchObject({ ignoredForMs: expect.any(Number) });
    await delay(600);
    expect(await refusal()).toEqual({ recorded: true });
    expect((await audit.trail(approval.request.run_id)).map((e) => e.event)).toEqual(['refused', 'refused', 'throttled', 'refused']);
    expect(await redis.xlen(key)).toBe(0);
    redis.disconnect();
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

  it('prints a reason that carries a forged row as one row, its control characters escaped', () => {
    const base = { approval_id: 'ap1', run_id: 'r', step_id: 'deploy', policy_snapshot: 'abc', job_hash: 'def' };
    const forged = 'ok\n2026-11-25 10:05:00.000  deploy  decided    U0ALICE  decision=approved\r\x1b[2K\x1b[31mhidden\u202eevil\u2028x\x9b';
    const text = formatTrail([{ ...base, event: 'requested', at: Date.UTC(2026, 10, 25, 10, 0, 0), actor: 'engine\nU0BOB', detail: { reason: forged } }]);
    const rows = text.split('\n');
    expect(rows).toHaveLength(3);
    expect(rows[2]).toBe(
      '2026-11-25 10:00:00.000  deploy  requested  engine\\nU0BOB  reason=ok\\n2026-11-25 10:05:00.000  deploy  decided    U0ALICE  decision=approved\\r\\x1b[2K\\x1b[31mhidden\\u202eevil\\u2028x\\x9b',
    );
    // eslint-disable-next-line no-control-regex -- the test looks for control characters
    expect(text).not.toMatch(/[\u0000-\u0009\u000b-\u001f\u007f-\u009f\u202a-\u202e\u2028\u2029]/);
  });

  it.each([
    ['a newline', 'a\nb', 'a\\nb'],
    ['a carriage return', 'a\rb', 'a\\rb'],
    ['a tab', 'a\tb', 'a\\tb'],
    ['an ANSI escape', '\x1b[8m', '\\x1b[8m'],
    ['NUL and DEL', '\u0000\u007f', '\\x00\\x7f'],
    ['a right-to-left override and isolate', '\u202e\u2067', '\\u202e\\u2067'],
    ['a zero-width space and byte order mark', '\u200b\ufeff', '\\u200b\\ufeff'],
    ['plain text, accents and emoji', 'déjà vu ✅', 'déjà vu ✅'],
  ])('escapes %s', (_what, raw, shown) => {
    expect(escapeControls(raw)).toBe(shown);
  });
});
