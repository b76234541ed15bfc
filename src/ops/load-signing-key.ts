import { createPrivateKey, createPublicKey, type KeyObject } from 'node:crypto';
import { readFileSync } from 'node:fs';

/** How to make a signing key, for the error that says one is missing or unusable. */
const KEYGEN_HINT = 'make one with `npx approval-gate keygen` (or `openssl genpkey -algorithm ed25519 -out decision-signing-key.pem`) and keep it secret';

/**
 * The Ed25519 private key from DECISION_SIGNING_KEY (PEM) or the file DECISION_SIGNING_KEY_FILE
 * names, or why there is none. Messages never quote the key.
 */
export function loadSigningKey(pem: string | undefined, file: string | undefined): KeyObject | string {
  if (pem !== undefined && file !== undefined) return 'DECISION_SIGNING_KEY must not be set with DECISION_SIGNING_KEY_FILE: set one of them';
  if (pem === undefined && file === undefined) {
    return `DECISION_SIGNING_KEY is required (or DECISION_SIGNING_KEY_FILE): the Ed25519 private key (PKCS#8 PEM) that signs every decision; ${KEYGEN_HINT}`;
  }
  let text: string;
  const name = pem !== undefined ? 'DECISION_SIGNING_KEY' : `DECISION_SIGNING_KEY_FILE (${file})`;
  try {
    // A PEM passed through a one-line variable often has its line breaks written as \n.
    text = pem !== undefined ? pem.replace(/\\n/g, '\n') : readFileSync(file!, 'utf8');
  } catch (err) {
    return `DECISION_SIGNING_KEY_FILE cannot be read (${(err as NodeJS.ErrnoException).code ?? 'error'}): ${file}`;
  }
  let key: KeyObject;
  try {
    key = createPrivateKey({ key: text, format: 'pem' });
  } catch {
    return `${name} is not a PEM private key: ${KEYGEN_HINT}`;
  }
  if (key.asymmetricKeyType !== 'ed25519') return `${name} is an ${key.asymmetricKeyType ?? 'unknown'} key, not Ed25519: ${KEYGEN_HINT}`;
  return key;
}

/** The gate's Ed25519 public key from a PEM file (DECISION_PUBLIC_KEY_FILE), or why it is not one. */
export function loadPublicKeyFile(file: string): KeyObject | string {
  try {
    const key = createPublicKey(readFileSync(file, 'utf8'));
    if (key.asymmetricKeyType !== 'ed25519') throw new Error(`an ${key.asymmetricKeyType ?? 'unknown'} key`);
    return key;
  } catch (err) {
    return `DECISION_PUBLIC_KEY_FILE is not an Ed25519 public key in PEM (${file}: ${(err as NodeJS.ErrnoException).code ?? (err as Error).message.split('\n')[0]}): use the gate's public key (openssl pkey -in decision-signing-key.pem -pubout)`;
  }
}
