import { generateKeyPairSync } from 'node:crypto';
import canonicalize from 'canonicalize';
import { describe, expect, it } from 'vitest';
import { sha256Hex, type Decision } from '../../src/domain/contract.js';
import { signDecision } from '../../src/domain/decision-signature.js';
import { verifyDecision, type VerifyOptions } from '../../src/client/verify-decision.js';

/**
 * A decision that verifies must be exactly the bytes the gate signed: SECURITY.md says an engine
 * "rejects a signed decision with any field changed". These take a genuine signed approval and
 * change it in ways that JSON.parse and the schema hide.
 */

const job = { tool: 'postgres.execute', sql: 'DELETE FROM sessions WHERE expires_at < now()' };
const SNAPSHOT = '7f3d1a2b9c0e4f5a6b7c8d9e0f1a2b3c';
const { privateKey, publicKey } = generateKeyPairSync('ed25519');
const approved: Decision = {
  run_id: 'run_1',
  step_id: 'cleanup',
  decision: 'approved',
  decided_by: { id: 'U0ALICE', name: 'alice' },
  decided_at: '2026-11-30T22:00:00.000Z',
  policy_snapshot: SNAPSHOT,
  job_hash: `sha256:${sha256Hex(canonicalize(job)!)}`,
  constraints: { max_rows: 100 },
};
const options: VerifyOptions = { job, policySnapshot: SNAPSHOT, publicKeys: { gate: publicKey } };
/** The signed approval as JSON text on the resume queue. */
const wire = JSON.stringify(signDecision(approved, { keyId: 'gate', privateKey }));

describe('verifyDecision against a genuine signed approval changed on the wire', () => {
  it('accepts the genuine one', () => {
    expect(verifyDecision(JSON.parse(wire), options)).toMatchObject({ ok: true });
  });

  it('rejects it with an unsigned "__proto__" entry added to its constraints', () => {
    const data = JSON.parse(wire.replace('"constraints":{', '"constraints":{"__proto__":{"max_rows":1000000000},')) as { constraints: object };
    expect(Object.keys(data.constraints)).toContain('__proto__'); // what an engine reading the job data sees
    expect(verifyDecision(data, options)).toMatchObject({ ok: false });
  });

  it('rejects a sig that is not the base64url text the gate wrote (padding, the + and / alphabet, trailing junk)', () => {
    const sig = (JSON.parse(wire) as { signature: { sig: string } }).signature.sig;
    const variants = [`${sig}==`, Buffer.from(sig, 'base64url').toString('base64'), `${sig}!!!`, `${sig.slice(0, 20)} \n${sig.slice(20)}`];
    const withSig = (variant: string) => {
      const data = JSON.parse(wire) as { signature: { sig: string } };
      data.signature.sig = variant;
      return data;
    };
    const accepted = variants.filter((variant) => verifyDecision(withSig(variant), options).ok);
    expect(accepted).toEqual([]);
  });
});
