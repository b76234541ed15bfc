import { createPublicKey, type KeyObject } from 'node:crypto';
import canonicalize from 'canonicalize';
import { DecisionSchema, normalizeHash, sha256Hex, type Decision } from '../domain/contract.js';
import { isDecisionSignatureValid } from '../domain/decision-signature.js';
import { findJsonProblem } from '../domain/json-bounds.js';

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
  const bound = checkDecisionBinding(decision, { job_hash: expectedHash, policySnapshot: options.policySnapshot, ...(options.step ? { step: options.step } : {}) });
  return bound ?? { ok: true, decision };
}

/** Why a decision is not the one made for a given request. */
export type BindingFailure = Extract<VerifyFailure, 'job_mismatch' | 'policy_mismatch' | 'step_mismatch'>;

/** What a decision must be bound to; each part left out is not checked. */
export interface DecisionBinding {
  /** SHA-256 hex of the job's RFC 8785 canonical JSON, optionally `sha256:`-prefixed. */
  job_hash?: string;
  policySnapshot?: string;
  step?: { run_id: string; step_id: string };
}

/**
 * Whether the decision (of any outcome) was made for this job, policy snapshot and step: the second
 * half of {@link verifyDecision}, also what a waiter checks so that it never reports the decision of
 * an earlier request on the same step, or one copied from another step. Pure; never throws.
 * @returns undefined when bound to all that is given, else the first mismatch.
 */
export function checkDecisionBinding(decision: Decision, binding: DecisionBinding): { ok: false; reason: BindingFailure; detail: string } | undefined {
  if (binding.job_hash !== undefined && normalizeHash(decision.job_hash) !== normalizeHash(binding.job_hash)) {
    return { ok: false, reason: 'job_mismatch', detail: `the decision is for job hash ${decision.job_hash}, the job in question hashes to ${binding.job_hash}` };
  }
  if (binding.policySnapshot !== undefined && normalizeHash(decision.policy_snapshot) !== normalizeHash(binding.policySnapshot)) {
    return { ok: false, reason: 'policy_mismatch', detail: `the decision is under policy snapshot ${decision.policy_snapshot}, not ${binding.policySnapshot}` };
  }
  if (binding.step && (decision.run_id !== binding.step.run_id || decision.step_id !== binding.step.step_id)) {
    return { ok: false, reason: 'step_mismatch', detail: `the decision is for ${decision.run_id}/${decision.step_id}, not ${binding.step.run_id}/${binding.step.step_id}` };
  }
  return undefined;
}

/** Why data is not a decision signed by one of the keys. */
export type SignatureFailure = Extract<VerifyFailure, 'invalid' | 'unsigned' | 'unknown_key' | 'bad_signature'>;

/**
 * The text of an Ed25519 signature as the gate writes it: 64 bytes in base64url without padding,
 * 86 characters. Node's base64url decoder also takes padding, the `+` `/` alphabet and skips junk,
 * so several texts would decode to one signature: only this one is accepted.
 */
const SIG_TEXT = /^[A-Za-z0-9_-]{86}$/;

/**
 * Bounds for reading a decision as received: no decision the gate pushes comes near them (its
 * largest parts, constraints and comment, are bounded far below by the request and Slack limits).
 */
const DECISION_BOUNDS = { maxDepth: 16, maxBytes: 1024 * 1024 };

/**
 * Whether the data is a decision signed by one of `publicKeys` (the first half of
 * {@link verifyDecision}: who made it, not what it allows). The signature is checked over the data
 * as received, not as the schema reads it: data with a reserved key (`__proto__`, which parsing
 * drops unseen), a field the schema does not keep as is, or a signature text other than the gate's
 * is refused. Never throws on any data.
 * @throws TypeError when a public key is not an Ed25519 key.
 */
export function checkDecisionSignature(data: unknown, publicKeys: Record<string, KeyObject | string>): { ok: true; decision: Decision } | { ok: false; reason: SignatureFailure; detail: string } {
  const keys = publicKeysOf(publicKeys);
  const problem = findJsonProblem(data, 'decision', DECISION_BOUNDS);
  if (problem) return { ok: false, reason: 'invalid', detail: `not a decision: ${problem}` };
  const parsed = DecisionSchema.safeParse(data);
  if (!parsed.success) return { ok: false, reason: 'invalid', detail: `not a decision: ${parsed.error.issues.map((i) => `${i.path.join('.') || 'decision'}: ${i.message}`).join('; ')}` };
  const decision = parsed.data;
  // What is verified must be what the engine reads: the data exactly as received.
  if (canonicalize(data) !== canonicalize(decision)) return { ok: false, reason: 'invalid', detail: 'not a decision: it holds fields or values the decision schema does not keep as they are' };
  const { signature } = decision;
  if (!signature) return { ok: false, reason: 'unsigned', detail: 'the decision carries no signature: the gate signs every decision it pushes' };
  if (!SIG_TEXT.test(signature.sig)) return { ok: false, reason: 'bad_signature', detail: 'signature.sig is not 86 base64url characters without padding, as the gate writes an Ed25519 signature' };
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
