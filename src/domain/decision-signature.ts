import { createHash, createPublicKey, sign, verify, type KeyObject } from 'node:crypto';
import canonicalize from 'canonicalize';
import { DECISION_SIGNATURE_ALG, type Decision, type DecisionSignature } from './contract.js';

/**
 * Decisions signed by the gate, so that an engine can tell a decision the gate made from a job that
 * anyone with write access to Redis put on the resume queue. Ed25519 (RFC 8032) signatures are
 * deterministic: the same decision signed again, as when a push is repeated after a crash, gives the
 * same job data.
 */

/** The bot's signing key: an Ed25519 private key and the id engines know its public key by. */
export interface DecisionSigningKey {
  keyId: string;
  privateKey: KeyObject;
}

/** A decision as pushed on the resume queue: with the gate's signature. */
export type SignedDecision = Decision & { signature: DecisionSignature };

/**
 * The bytes that are signed: the RFC 8785 canonical JSON of the decision without `signature`, in
 * UTF-8. Fields that are undefined are left out, as JSON leaves them out.
 * @throws when a string holds an unpaired UTF-16 surrogate (RFC 8785 cannot write one): see {@link signDecision}.
 */
export function decisionSigningBytes(decision: Decision): Buffer {
  const { signature: _signature, ...unsigned } = decision;
  return Buffer.from(canonicalize(unsigned)!, 'utf8');
}

/**
 * The decision with the gate's signature (replacing any it had). Unpaired UTF-16 surrogates in its
 * strings (possible in an engine's run_id or a Slack comment, not writable as RFC 8785 JSON) become
 * U+FFFD first, so every decision can be signed; the pushed decision carries the same text.
 */
export function signDecision(decision: Decision, key: DecisionSigningKey): SignedDecision {
  const { signature: _signature, ...unsigned } = wellFormed(decision) as Decision;
  const sig = sign(null, decisionSigningBytes(unsigned), key.privateKey).toString('base64url');
  return { ...unsigned, signature: { alg: DECISION_SIGNATURE_ALG, key_id: key.keyId, sig } };
}

/** Whether `signature.sig` is a valid Ed25519 signature of the decision by `publicKey`. Never throws. */
export function isDecisionSignatureValid(decision: Decision & { signature: DecisionSignature }, publicKey: KeyObject): boolean {
  try {
    const sig = Buffer.from(decision.signature.sig, 'base64url');
    return sig.length === 64 && verify(null, decisionSigningBytes(decision), publicKey, sig);
  } catch {
    return false; // a string RFC 8785 cannot write, or a key that is not Ed25519
  }
}

/**
 * The key id used when DECISION_SIGNING_KEY_ID is not set: `ed25519-` and the first 16 hex digits of
 * the SHA-256 of the public key (SPKI DER), so a new key gets a new id by itself.
 */
export function defaultKeyIdOf(privateOrPublicKey: KeyObject): string {
  const publicKey = privateOrPublicKey.type === 'public' ? privateOrPublicKey : createPublicKey(privateOrPublicKey);
  const spki = publicKey.export({ type: 'spki', format: 'der' });
  return `ed25519-${createHash('sha256').update(spki).digest('hex').slice(0, 16)}`;
}

const UNPAIRED = /[\uD800-\uDBFF](?![\uDC00-\uDFFF])|(?<![\uD800-\uDBFF])[\uDC00-\uDFFF]/g;

function wellFormed(value: unknown): unknown {
  if (typeof value === 'string') return value.replace(UNPAIRED, '\uFFFD');
  if (Array.isArray(value)) return value.map(wellFormed);
  if (value !== null && typeof value === 'object') return Object.fromEntries(Object.entries(value).map(([key, v]) => [wellFormed(key) as string, wellFormed(v)]));
  return value;
}
