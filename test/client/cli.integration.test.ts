import { spawn } from 'node:child_process';
import { generateKeyPairSync } from 'node:crypto';
import { mkdirSync, mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, inject, it } from 'vitest';
import { ACTION_APPROVE, ACTION_DENY } from '../../src/views/cards.js';
import { verifyDecision } from '../../src/client/verify-decision.js';
import { validRequest } from '../../sandbox/valid-request.js';
import { POLICY_SNAPSHOT, useGates, type Gate } from '../helpers/gate.js';
import { TEST_KEY_ID, TEST_PUBLIC_KEY } from '../helpers/signing-key.js';
import { waitFor } from '../helpers/wait.js';

/** `approval-gate` as a CI step runs it: the built bin, spawned, against the gate's Redis and the emulator. */

const gates = useGates();
const dir = mkdtempSync(join(tmpdir(), 'cli-test-'));
const publicKeyFile = join(dir, 'gate.pub.pem');
writeFileSync(publicKeyFile, TEST_PUBLIC_KEY.export({ type: 'spki', format: 'pem' }));

interface Run {
  code: Promise<number | null>;
  stdout(): string;
  stderr(): string;
}

function cli(args: string[], env: Record<string, string>): Run {
  const child = spawn(process.execPath, ['dist/client/cli/main.js', ...args], { env: { PATH: process.env.PATH ?? '', ...env }, stdio: ['ignore', 'pipe', 'pipe'] });
  let stdout = '';
  let stderr = '';
  child.stdout.on('data', (chunk) => (stdout += String(chunk)));
  child.stderr.on('data', (chunk) => (stderr += String(chunk)));
  return { code: new Promise((resolve) => child.once('close', (code) => resolve(code))), stdout: () => stdout, stderr: () => stderr };
}

/** The environment a pipeline step would set: the gate's names and its public key. */
function envOf(gate: Gate, extra: Record<string, string> = {}): Record<string, string> {
  const { REDIS_URL, REQUEST_QUEUE, RESUME_QUEUE, STATE_PREFIX, POLICY_SNAPSHOT_KEY } = gate.env;
  return { REDIS_URL: REDIS_URL!, REQUEST_QUEUE: REQUEST_QUEUE!, RESUME_QUEUE: RESUME_QUEUE!, STATE_PREFIX: STATE_PREFIX!, POLICY_SNAPSHOT_KEY: POLICY_SNAPSHOT_KEY!, DECISION_PUBLIC_KEY_FILE: publicKeyFile, DECISION_SIGNING_KEY_ID: TEST_KEY_ID, ...extra };
}

let files = 0;
function requestFile(overrides: Record<string, unknown> = {}): { path: string; request: Record<string, unknown> } {
  const request = validRequest(overrides);
  files += 1;
  const path = join(dir, `request-${files}.json`);
  writeFileSync(path, JSON.stringify(request));
  return { path, request };
}

async function click(gate: Gate, request: Record<string, unknown>, actionId: string, user = 'U0ALICE') {
  const card = await waitFor('the card', () => gate.cardsFor(request)[0]);
  await gate.emulator.click({ channel: card.channel, ts: card.ts, actionId, user });
}

describe('approval-gate request --wait', () => {
  it('prints the signed decision and exits 0 when approved, 10 when denied', async () => {
    const gate = await gates.open();
    const approved = requestFile();
    const denied = requestFile();
    const first = cli(['request', approved.path, '--wait', '--timeout', '30s'], envOf(gate));
    const second = cli(['request', denied.path, '--wait'], envOf(gate));
    await click(gate, approved.request, ACTION_APPROVE);
    await click(gate, denied.request, ACTION_DENY, 'U0BOB');
    expect(await first.code).toBe(0);
    const decision = JSON.parse(first.stdout()) as unknown;
    expect(verifyDecision(decision, { job: approved.request.job, policySnapshot: POLICY_SNAPSHOT, publicKeys: { [TEST_KEY_ID]: TEST_PUBLIC_KEY } })).toMatchObject({ ok: true });
    expect(first.stderr()).toContain(`${approved.path}: queued as job`);
    expect(await second.code).toBe(10);
    expect(JSON.parse(second.stdout())).toMatchObject({ decision: 'denied', decided_by: { id: 'U0BOB' } });
  });

  it('exits 14 on timeout, leaving the approval pending (status 14), and status gives 0 once it is approved', async () => {
    const gate = await gates.open();
    const { path, request } = requestFile();
    const waited = cli(['request', path, '--wait', '--timeout', '1s'], envOf(gate));
    expect(await waited.code).toBe(14);
    expect(waited.stderr()).toMatch(/no decision for run .* within 1000 ms; the approval is still pending/);
    const pending = cli(['status', String(request.run_id), 'remediate'], envOf(gate));
    expect(await pending.code).toBe(14);
    expect(JSON.parse(pending.stdout())).toEqual({ state: 'pending', votes: 0 });
    await click(gate, request, ACTION_APPROVE);
    await waitFor('the decision', async () => (await gate.decisions()).length > 0);
    const decided = cli(['status', String(request.run_id), 'remediate'], envOf(gate));
    expect(await decided.code).toBe(0);
    expect(JSON.parse(decided.stdout())).toMatchObject({ state: 'decided', decision: { decision: 'approved' } });
    expect(await cli(['status', 'never-asked', 'remediate'], envOf(gate)).code).toBe(16);
  });

  it('exits 13 when the approval is cancelled with approval-gate cancel while it waits', async () => {
    const gate = await gates.open();
    const { path, request } = requestFile();
    const waited = cli(['request', path, '--wait'], envOf(gate));
    await waitFor('the card', () => gate.cardsFor(request)[0]);
    const cancel = cli(['cancel', String(request.run_id), 'remediate', '--reason', 'rolled back instead'], envOf(gate));
    expect(await cancel.code).toBe(0);
    expect(await waited.code).toBe(13);
    expect(waited.stderr()).toContain('was cancelled: rolled back instead');
  });

  it('exits 11 when nobody decides before the approval expires, and 12 when the policy changed before the click', async () => {
    const gate = await gates.open();
    const expiring = requestFile({ expires_in_sec: 1 });
    const expired = cli(['request', expiring.path, '--wait'], envOf(gate));
    expect(await expired.code).toBe(11);
    const { path, request } = requestFile();
    const stale = cli(['request', path, '--wait'], envOf(gate));
    await waitFor('the card', () => gate.cardsFor(request)[0]);
    await gate.redis.set(gate.env.POLICY_SNAPSHOT_KEY!, 'sha256:0123456789abcdef0123456789abcdef');
    await click(gate, request, ACTION_APPROVE);
    expect(await stale.code).toBe(12);
    expect(JSON.parse(stale.stdout())).toMatchObject({ decision: 'stale' });
  });

  it('exits 15 when the decision is not signed by the key it trusts', async () => {
    const gate = await gates.open();
    const otherKey = join(dir, 'other.pub.pem');
    writeFileSync(otherKey, generateKeyPairSync('ed25519').publicKey.export({ type: 'spki', format: 'pem' }));
    const { path, request } = requestFile();
    const waited = cli(['request', path, '--wait'], envOf(gate, { DECISION_PUBLIC_KEY_FILE: otherKey }));
    await click(gate, request, ACTION_APPROVE);
    expect(await waited.code).toBe(15);
    expect(waited.stdout()).toBe('');
    expect(waited.stderr()).toContain('(bad_signature)');
  });

  it('exits 2 naming the file and the field, still sending the good files, and 3 in one line when Redis is unreachable', async () => {
    const gate = await gates.open();
    const bad = join(dir, 'bad.json');
    writeFileSync(bad, JSON.stringify({ ...validRequest(), reason: '' }));
    const good = requestFile();
    const run = cli(['request', bad, good.path], envOf(gate));
    expect(await run.code).toBe(2);
    expect(run.stderr()).toBe(`${bad}: not sent, the bot would reject it:\n  reason: must not be empty\n`);
    expect(run.stdout()).toContain(`${good.path}: queued as job`);
    await waitFor('the good file’s card', () => gate.cardsFor(good.request)[0]);

    const unreachable = cli(['request', good.path, '--wait'], envOf(gate, { REDIS_URL: `redis://127.0.0.1:1` }));
    expect(await unreachable.code).toBe(3);
    expect(unreachable.stderr().trim().split('\n')).toEqual([expect.stringMatching(/^cannot reach Redis at redis:\/\/127\.0\.0\.1:1 .*; nothing was sent$/)]);
    expect(inject('redisUrl')).not.toBe('redis://127.0.0.1:1');
  });

  it('keygen writes a key pair the bot can sign with and the CLI can verify with, and never overwrites one', async () => {
    const out = join(dir, 'keys', 'decision-signing-key.pem');
    mkdirSync(join(dir, 'keys'));
    const made = cli(['keygen', '--out', out], {});
    expect(await made.code).toBe(0);
    expect(readFileSync(out, 'utf8')).toMatch(/^-----BEGIN PRIVATE KEY-----/);
    expect(readFileSync(join(dir, 'keys', 'decision-signing-key.pub.pem'), 'utf8')).toMatch(/^-----BEGIN PUBLIC KEY-----/);
    const keyId = /key id: (ed25519-[0-9a-f]{16})/.exec(made.stdout())?.[1];
    expect(keyId).toBeDefined();
    const again = cli(['keygen', '--out', out], {});
    expect(await again.code).toBe(2);
    expect(again.stderr()).toContain('exists: it is never overwritten');

    const gate = await gates.open({ env: { DECISION_SIGNING_KEY_FILE: out } });
    const { path, request } = requestFile();
    const waited = cli(['request', path, '--wait'], envOf(gate, { DECISION_PUBLIC_KEY_FILE: join(dir, 'keys', 'decision-signing-key.pub.pem'), DECISION_SIGNING_KEY_ID: '' }));
    await click(gate, request, ACTION_APPROVE);
    expect(await waited.code).toBe(0);
    expect(JSON.parse(waited.stdout())).toMatchObject({ signature: { key_id: keyId } });
  });
});
