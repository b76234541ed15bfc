import { createPublicKey, generateKeyPairSync } from 'node:crypto';

/**
 * The decision signing key of the bots the tests start (one per test process), and the public key
 * and id an engine would verify their decisions with.
 */
const pair = generateKeyPairSync('ed25519');

export const TEST_KEY_ID = 'test-key-1';
export const TEST_SIGNING_KEY_PEM = pair.privateKey.export({ type: 'pkcs8', format: 'pem' }).toString();
export const TEST_SIGNING_KEY = { keyId: TEST_KEY_ID, privateKey: pair.privateKey };
export const TEST_PUBLIC_KEY = createPublicKey(pair.privateKey);
