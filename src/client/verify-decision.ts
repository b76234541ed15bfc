import { createPublicKey, type KeyObject } from 'node:crypto';
import canonicalize from 'canonicalize';
import { DecisionSchema, normalizeHash, sha256Hex, type Decision } from '../domain/contract.js';
import { isDecisionSignatureValid } from '../domain/decision-signature.js';

/** What the engine is about to run, to check a decision against. */
export interface VerifyOptions {
  /** The job the engine will run; its hash is computed as the gate computes it. Give this or `job_hash`. */
  job?: unknown;
  /** The job's hash (SHA-256 of its RFC 8785 canonical JSON, hex, optionally `sha256:`-prefixed). */
  job_hash?: string;
  /** The policy snapshot the engine runs under: the decision must be bound to it. */
  policySnapshot: string;
  /**
   * The gate's public keys by key id (Ed25519, as KeyObjects or SPKI PEM text). List the old key
   * beside the new one while keys rotate: a decision signed by either verifies.
   */
  publicKeys: Record<string, KeyObject | string>;
  /** When given, the decision must be for this run and step (a decision copied from another step fails). */
  step?: { run_id: string; step_id: string };
}

/** Why a decision does not allow the engine to run the job now. */
export type VerifyFailure = 'invalid' | 'unsigned' | 'unknown_key' | 'bad_signature' | 'not_approved' | 'job_mismatch' | 'policy_mismatch' | 'step_mismatch';

export type VerifyResult = { ok: true; decision: Decision } | { ok: false; reason: VerifyFailure; detail: string };

/**
 * Whether the engine may run exactly this job now: the data is a decision (DecisionSchema), signed
 * by one of `publicKeys` over exactly these fields, `approved`, for the same job hash and the same
 * policy snapshot (and the same step, when `step` is given). The signature is checked first: the
 * fields of a decision the gate did not sign mean nothing. Never throws on any data.
 * @throws TypeError when neither `job` nor `job_hash` is given, or a public key is not an Ed25519 key.
 */
export function verifyDecision(data: unknown, options: VerifyOptions): VerifyResult {
  const expectedHash = expectedJobHash(options);
  const signed = checkDecisionSignature(data, options.publicKeys);
  if (!signed.ok) return signed;
  const { decision } = signed;
  if (decision.decision !== 'approved') return fail('not_approved', `the decision is ${decision.decision}`);
  if (normalizeHash(decision.job_hash) !== expectedHash) return fail('job_mismatch', `approved job hash ${decision.job_hash}, the job to run hashes to ${expectedHash}`);
  if (normalizeHash(decision.policy_snapshot) !== normalizeHash(options.policySnapshot)) {
    return fail('policy_mismatch', `approved under policy snapshot ${decision.policy_snapshot}, the engine runs under ${options.policySnapshot}`);
  }
  if (options.step && (decision.run_id !== options.step.run_id || decision.step_id !== options.step.step_id)) {
    return fail('step_mismatch', `the decision is for ${decision.run_id}/${decision.step_id}, not ${options.step.run_id}/${options.step.step_id}`);
  }
  return { ok: true, decision };
}

/** Why data is not a decision signed by one of the keys. */
export type SignatureFailure = Extract<VerifyFailure, 'invalid' | 'unsigned' | 'unknown_key' | 'bad_signature'>;

/**
 * Whether the data is a decision signed by one of `publicKeys` (the first half of
 * {@link verifyDecision}: who made it, not what it allows). Never throws on any data.
 * @throws TypeError when a public key is not an Ed25519 key.
 */
export function checkDecisionSignature(data: unknown, publicKeys: Record<string, KeyObject | string>): { ok: true; decision: Decision } | { ok: false; reason: SignatureFailure; detail: string } {
  const keys = publicKeysOf(publicKeys);
  const parsed = DecisionSchema.safeParse(data);
  if (!parsed.success) return { ok: false, reason: 'invalid', detail: `not a decision: ${parsed.error.issues.map((i) => `${i.path.join('.') || 'decision'}: ${i.message}`).join('; ')}` };
  const decision = parsed.data;
  const { signature } = decision;
  if (!signature) return { ok: false, reason: 'unsigned', detail: 'the decision carries no signature: the gate signs every decision it pushes' };
  const key = Object.hasOwn(keys, signature.key_id) ? keys[signature.key_id] : undefined;
  if (!key) return { ok: false, reason: 'unknown_key', detail: `signed with key "${signature.key_id}", which is not among the public keys given (${Object.keys(keys).join(', ') || 'none'})` };
  if (!isDecisionSignatureValid({ ...decision, signature }, key)) return { ok: false, reason: 'bad_signature', detail: `the signature does not match the decision under key "${signature.key_id}"` };
  return { ok: true, decision };
}

function fail(reason: VerifyFailure, detail: string): VerifyResult {
  return { ok: false, reason, detail };
}

function expectedJobHash(options: VerifyOptions): string {
  if (options.job !== undefined) {
    const canonical = canonicalize(options.job);
    if (canonical === undefined) throw new TypeError('verifyDecision: job is not JSON');
    return sha256Hex(canonical);
  }
  if (typeof options.job_hash === 'string') return normalizeHash(options.job_hash);
  throw new TypeError('verifyDecision: give the job to run (job) or its hash (job_hash)');
}

/**
 * The public keys as KeyObjects, by key id (a private key stands for its public half).
 * @throws TypeError when one is not an Ed25519 key, or PEM text that is not a key.
 */
export function publicKeysOf(given: Record<string, KeyObject | string>): Record<string, KeyObject> {
  const keys: Record<string, KeyObject> = {};
  for (const [id, key] of Object.entries(given)) {
    const object = typeof key === 'string' ? createPublicKey(key) : key.type === 'private' ? createPublicKey(key) : key;
    if (object.asymmetricKeyType !== 'ed25519') throw new TypeError(`verifyDecision: public key "${id}" is ${object.asymmetricKeyType ?? 'not asymmetric'}, not Ed25519`);
    keys[id] = object;
  }
  return keys;
}
