import { generateKeyPairSync } from 'node:crypto';
import canonicalize from 'canonicalize';
import { describe, expect, it } from 'vitest';
import { sha256Hex, type Decision } from '../../src/domain/contract.js';
import { defaultKeyIdOf, signDecision } from '../../src/domain/decision-signature.js';
import { verifyDecision, type VerifyOptions } from '../../src/client/verify-decision.js';

const job = { action: 'UPDATE orders SET status = $1 WHERE id = $2', params: ['shipped', 42] };
const JOB_HASH = sha256Hex(canonicalize(job)!);
const SNAPSHOT = '7f3d1a2b9c0e4f5a6b7c8d9e0f1a2b3c';
const current = generateKeyPairSync('ed25519');
const previous = generateKeyPairSync('ed25519');
const key = { keyId: 'gate-2026-11', privateKey: current.privateKey };

const approved: Decision = {
  run_id: 'run_1',
  step_id: 'remediate',
  decision: 'approved',
  decided_by: { id: 'U0ALICE', name: 'alice', team_id: 'T0SANDBOX' },
  decided_at: '2026-11-30T22:00:00.000Z',
  policy_snapshot: `sha256:${SNAPSHOT}`,
  job_hash: `sha256:${JOB_HASH}`,
  constraints: { max_lines_changed: 500, dry_run: false },
  comment: 'ok for tonight',
  approvals: [{ id: 'U0ALICE', name: 'alice', at: '2026-11-30T22:00:00.000Z' }],
};
const options: VerifyOptions = { job, policySnapshot: SNAPSHOT, publicKeys: { 'gate-2026-11': current.publicKey } };
/** As the engine receives it: JSON through Redis. */
const received = (decision: unknown) => JSON.parse(JSON.stringify(decision)) as Record<string, unknown>;

describe('verifyDecision', () => {
  it('accepts a signed approval of the same job under the same snapshot, given the job or its hash', () => {
    const signed = received(signDecision(approved, key));
    expect(verifyDecision(signed, options)).toMatchObject({ ok: true, decision: { decision: 'approved' } });
    expect(verifyDecision(signed, { ...options, job: undefined, job_hash: JOB_HASH.toUpperCase() })).toMatchObject({ ok: true });
  });

  it('signs deterministically: a push repeated after a crash carries the same data', () => {
    expect(signDecision(approved, key)).toEqual(signDecision(approved, key));
    expect(signDecision(signDecision(approved, key), key)).toEqual(signDecision(approved, key));
  });

  it('rejects a decision added to the resume queue by hand, without a signature', () => {
    expect(verifyDecision(received(approved), options)).toMatchObject({ ok: false, reason: 'unsigned' });
  });

  it.each([
    ['comment', (d: Record<string, unknown>) => ({ ...d, comment: 'changed' })],
    ['run_id', (d: Record<string, unknown>) => ({ ...d, run_id: 'run_2' })],
    ['job_hash', (d: Record<string, unknown>) => ({ ...d, job_hash: sha256Hex('another job') })],
    ['policy_snapshot', (d: Record<string, unknown>) => ({ ...d, policy_snapshot: 'ffffffffffffffff' })],
    ['constraints', (d: Record<string, unknown>) => ({ ...d, constraints: { max_lines_changed: 50_000, dry_run: false } })],
    ['decided_by', (d: Record<string, unknown>) => ({ ...d, decided_by: { id: 'U0MALLORY', name: 'alice', team_id: 'T0SANDBOX' } })],
    ['approvals', (d: Record<string, unknown>) => ({ ...d, approvals: [] })],
    ['an added field', (d: Record<string, unknown>) => ({ ...d, policy_snapshot_in_force: SNAPSHOT })],
    ['a removed field', (d: Record<string, unknown>) => ({ ...d, comment: undefined })],
    ['the signature itself', (d: Record<string, unknown>) => ({ ...d, signature: { ...(d.signature as object), sig: Buffer.alloc(64).toString('base64url') } })],
  ])('rejects a signed decision whose %s was changed', (_field, tamper) => {
    const tampered = received(tamper(received(signDecision(approved, key))));
    expect(verifyDecision(tampered, options)).toMatchObject({ ok: false, reason: 'bad_signature' });
  });

  it('rejects a denial turned into an approval', () => {
    const denied = received(signDecision({ ...approved, decision: 'denied' }, key));
    expect(verifyDecision(denied, options)).toMatchObject({ ok: false, reason: 'not_approved' });
    expect(verifyDecision({ ...denied, decision: 'approved' }, options)).toMatchObject({ ok: false, reason: 'bad_signature' });
  });

  it('rejects a decision signed with a key id it was not given, or with another key under a known id', () => {
    const stranger = generateKeyPairSync('ed25519');
    expect(verifyDecision(received(signDecision(approved, { keyId: 'elsewhere', privateKey: stranger.privateKey })), options)).toMatchObject({ ok: false, reason: 'unknown_key' });
    expect(verifyDecision(received(signDecision(approved, { keyId: 'gate-2026-11', privateKey: stranger.privateKey })), options)).toMatchObject({ ok: false, reason: 'bad_signature' });
  });

  it('accepts decisions signed by the old key while it is listed beside the new one (rotation), and not after', () => {
    const old = received(signDecision(approved, { keyId: 'gate-2026-10', privateKey: previous.privateKey }));
    const pem = previous.publicKey.export({ type: 'spki', format: 'pem' }).toString();
    const both = { ...options, publicKeys: { 'gate-2026-11': current.publicKey, 'gate-2026-10': pem } };
    expect(verifyDecision(old, both)).toMatchObject({ ok: true });
    expect(verifyDecision(received(signDecision(approved, key)), both)).toMatchObject({ ok: true });
    expect(verifyDecision(old, options)).toMatchObject({ ok: false, reason: 'unknown_key' });
  });

  it('rejects a signed approval of another job, under another snapshot, or for another step', () => {
    const signed = received(signDecision(approved, key));
    expect(verifyDecision(signed, { ...options, job: { ...job, params: ['shipped', 43] } })).toMatchObject({ ok: false, reason: 'job_mismatch' });
    expect(verifyDecision(signed, { ...options, policySnapshot: 'sha256:0123456789abcdef' })).toMatchObject({ ok: false, reason: 'policy_mismatch' });
    expect(verifyDecision(signed, { ...options, step: { run_id: 'run_1', step_id: 'deploy' } })).toMatchObject({ ok: false, reason: 'step_mismatch' });
    expect(verifyDecision(signed, { ...options, step: { run_id: 'run_1', step_id: 'remediate' } })).toMatchObject({ ok: true });
  });

  it.each([null, 'approved', [], { decision: 'approved' }, { ...approved, signature: { alg: 'RS256', key_id: 'gate-2026-11', sig: 'x' } }])('rejects data that is not a decision: %j', (data) => {
    expect(verifyDecision(data, options)).toMatchObject({ ok: false, reason: 'invalid' });
  });

  it('signs a decision whose text holds an unpaired surrogate, with U+FFFD in its place', () => {
    const signed = signDecision({ ...approved, comment: 'half \uD83D of an emoji' }, key);
    expect(signed.comment).toBe('half \uFFFD of an emoji');
    expect(verifyDecision(received(signed), options)).toMatchObject({ ok: true });
  });

  it('derives the same default key id from the private key (the bot) and the public key (an engine)', () => {
    expect(defaultKeyIdOf(current.publicKey)).toBe(defaultKeyIdOf(current.privateKey));
    expect(defaultKeyIdOf(current.publicKey)).not.toBe(defaultKeyIdOf(previous.publicKey));
  });

  it('refuses to check without the job or its hash, or with a key that is not Ed25519', () => {
    expect(() => verifyDecision(approved, { policySnapshot: SNAPSHOT, publicKeys: {} })).toThrow(/give the job to run/);
    const rsa = generateKeyPairSync('rsa', { modulusLength: 1024 }).publicKey;
    expect(() => verifyDecision(approved, { ...options, publicKeys: { rsa } })).toThrow(/not Ed25519/);
  });
});
