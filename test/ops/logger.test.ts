import { generateKeyPairSync } from 'node:crypto';
import { Writable } from 'node:stream';
import { describe, expect, it } from 'vitest';
import { createLogger } from '../../src/ops/logger.js';

describe('the logger', () => {
  it('never writes the decision signing key, as PEM in an environment or as a key in the config', () => {
    const lines: string[] = [];
    const sink = new Writable({ write: (chunk, _encoding, done) => (lines.push(String(chunk)), done()) });
    const log = createLogger('info', sink);
    const privateKey = generateKeyPairSync('ed25519').privateKey;
    const pem = privateKey.export({ type: 'pkcs8', format: 'pem' }).toString();
    log.info({ env: { DECISION_SIGNING_KEY: pem }, DECISION_SIGNING_KEY: pem }, 'environment');
    log.info({ config: { decisionSigning: { keyId: 'k1', privateKey: pem } }, decisionSigning: { keyId: 'k1', privateKey: pem } }, 'config');
    expect(lines).toHaveLength(2);
    expect(lines.join('')).not.toContain('PRIVATE KEY');
    expect(lines.join('')).toContain('[redacted]');
    expect(lines[1]).toContain('"keyId":"k1"');
  });
});
