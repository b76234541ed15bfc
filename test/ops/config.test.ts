import { createPublicKey, generateKeyPairSync } from 'node:crypto';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { ConfigError, loadCliConfig, loadConfig } from '../../src/ops/config.js';
import { defaultKeyIdOf } from '../../src/domain/decision-signature.js';

const signingKey = generateKeyPairSync('ed25519').privateKey;
const SIGNING_KEY_PEM = signingKey.export({ type: 'pkcs8', format: 'pem' }).toString();
const base = { SLACK_BOT_TOKEN: 'xoxb-1', SLACK_SIGNING_SECRET: '8f14e45fceea167a5a36dedd4bea2543', APPROVERS: 'anyone', DECISION_SIGNING_KEY: SIGNING_KEY_PEM };

function errorOf(env: Record<string, string>): string {
  try {
    loadConfig(env);
  } catch (err) {
    expect(err).toBeInstanceOf(ConfigError);
    return (err as Error).message;
  }
  throw new Error('expected loadConfig to fail');
}

describe('configuration', () => {
  it('applies the documented defaults', () => {
    const config = loadConfig(base);
    expect(config).toMatchObject({
      redis: { url: 'redis://127.0.0.1:6379', waitReplicas: { count: 0, timeoutMs: 500 } },
      port: 3000,
      approvalsChannel: undefined,
      queues: { request: 'approval-requests', resume: 'approval-resume', prefix: 'bull' },
      policySnapshotKey: 'approvals:policy-snapshot',
      statePrefix: 'approvals',
      approvalRetentionSec: 2_592_000,
      decisionTombstoneSec: 31_536_000,
      logLevel: 'info',
      slack: { botToken: 'xoxb-1', signingSecret: '8f14e45fceea167a5a36dedd4bea2543', appToken: undefined, apiUrl: undefined },
    });
  });

  it('keeps clicks and refusals in an audit stream of their own, capped on its own', () => {
    expect(loadConfig(base).audit).toEqual({ key: 'approvals:audit', maxLen: 100_000, refusalsMaxLen: 100_000 });
    expect(loadConfig({ ...base, STATE_PREFIX: 'gate', AUDIT_MAX_LEN: '5000', AUDIT_REFUSALS_MAX_LEN: '2000' }).audit).toEqual({ key: 'gate:audit', maxLen: 5000, refusalsMaxLen: 2000 });
    expect(errorOf({ ...base, AUDIT_REFUSALS_MAX_LEN: '0' })).toMatch(/^AUDIT_REFUSALS_MAX_LEN must be a positive whole number/);
  });

  it('follows a Sentinel-managed primary when Sentinels are named', () => {
    expect(loadConfig(base).redis.sentinel).toBeUndefined();
    expect(loadConfig({ ...base, REDIS_URL: 'redis://:pw@ignored:6379/2', REDIS_SENTINELS: 'sentinel-1:26379, 10.0.0.2:26380,[::1]:26381', REDIS_SENTINEL_NAME: 'gate' }).redis).toEqual({
      url: 'redis://:pw@ignored:6379/2',
      waitReplicas: { count: 0, timeoutMs: 500 },
      sentinel: { name: 'gate', sentinels: [{ host: 'sentinel-1', port: 26379 }, { host: '10.0.0.2', port: 26380 }, { host: '::1', port: 26381 }] },
    });
    expect(loadConfig({ ...base, REDIS_SENTINELS: 's:1', REDIS_SENTINEL_PASSWORD: 'x' }).redis.sentinel).toEqual({ name: 'mymaster', sentinels: [{ host: 's', port: 1 }], password: 'x' });
    expect(loadConfig({ ...base, REDIS_WAIT_REPLICAS: '1', REDIS_WAIT_TIMEOUT_MS: '250' }).redis.waitReplicas).toEqual({ count: 1, timeoutMs: 250 });
    expect(errorOf({ ...base, REDIS_WAIT_REPLICAS: '-1' })).toMatch(/^REDIS_WAIT_REPLICAS must be 0 or more/);
    expect(errorOf({ ...base, REDIS_SENTINELS: 'sentinel-1,sentinel-2:99999' })).toBe(
      'REDIS_SENTINELS must be host:port pairs, comma-separated, such as sentinel-1:26379,sentinel-2:26379 (not "sentinel-1", "sentinel-2:99999")',
    );
  });

  describe('Redis Cluster', () => {
    const tags = { QUEUE_PREFIX: '{gate}', STATE_PREFIX: '{gate}:approvals', POLICY_SNAPSHOT_KEY: '{gate}:policy-snapshot' };

    it('connects to a cluster when its nodes are named, with REDIS_URL giving the credentials', () => {
      expect(loadConfig({ ...base, ...tags, REDIS_URL: 'rediss://u:pw@ignored:6379', REDIS_CLUSTER_NODES: 'redis-1:6379, [::1]:7000' }).redis).toEqual({
        url: 'rediss://u:pw@ignored:6379',
        waitReplicas: { count: 0, timeoutMs: 500 },
        cluster: { nodes: [{ host: 'redis-1', port: 6379 }, { host: '::1', port: 7000 }] },
      });
    });

    it('refuses prefixes that would spread the keys over slots, saying which and how to fix it', () => {
      const message = errorOf({ ...base, REDIS_CLUSTER_NODES: 'redis-1:6379' });
      expect(message).toMatch(/^REDIS_CLUSTER_NODES is set, so every key of the gate must be in one cluster slot/);
      expect(message).toContain('Fix: begin QUEUE_PREFIX, STATE_PREFIX and POLICY_SNAPSHOT_KEY with one hash tag');
      expect(errorOf({ ...base, ...tags, STATE_PREFIX: '{other}:approvals', REDIS_CLUSTER_NODES: 'redis-1:6379' })).toContain('the hash tags put keys in 2 slots');
      // Without a cluster, the names are free.
      expect(loadConfig({ ...base, STATE_PREFIX: '{other}:approvals' }).statePrefix).toBe('{other}:approvals');
    });

    it('refuses Sentinels, a database other than 0 and waiting for replicas alongside a cluster', () => {
      const message = errorOf({ ...base, ...tags, REDIS_CLUSTER_NODES: 'redis-1:6379', REDIS_SENTINELS: 's:26379', REDIS_URL: 'redis://h:6379/3', REDIS_WAIT_REPLICAS: '1' });
      expect(message.split('\n')).toEqual([
        'REDIS_CLUSTER_NODES must not be set with REDIS_SENTINELS: a Redis Cluster fails over by itself; set one or the other',
        'REDIS_URL must name no database (or /0) with REDIS_CLUSTER_NODES: a Redis Cluster has database 0 only',
        'REDIS_WAIT_REPLICAS is not supported with REDIS_CLUSTER_NODES yet: set it to 0 (a cluster primary replicates asynchronously; see the README)',
      ]);
      expect(errorOf({ ...base, ...tags, REDIS_CLUSTER_NODES: 'redis-1' })).toMatch(/^REDIS_CLUSTER_NODES must be host:port pairs/);
    });

    it('gives the command line and the MCP server the same Redis target and the same layout check', () => {
      expect(loadCliConfig({ ...tags, REDIS_CLUSTER_NODES: '127.0.0.1:7000' }).redis.cluster).toEqual({ nodes: [{ host: '127.0.0.1', port: 7000 }] });
      expect(loadCliConfig({ REDIS_SENTINELS: 's:26379', REDIS_SENTINEL_NAME: 'gate' }).redis.sentinel).toEqual({ name: 'gate', sentinels: [{ host: 's', port: 26379 }] });
      expect(() => loadCliConfig({ REDIS_CLUSTER_NODES: '127.0.0.1:7000' })).toThrow(/^REDIS_CLUSTER_NODES is set, so every key of the gate must be in one cluster slot/);
      expect(() => loadCliConfig({ REDIS_URL: 'http://x' })).toThrow(/^REDIS_URL must start with redis:\/\/ or rediss:\/\//);
    });
  });

  it('names a missing bot token and says where to find it', () => {
    expect(errorOf({ SLACK_SIGNING_SECRET: 's' })).toMatch(/^SLACK_BOT_TOKEN is required: the Bot User OAuth Token/);
  });

  it('requires the signing secret in HTTP mode only', () => {
    expect(errorOf({ SLACK_BOT_TOKEN: 'xoxb-1', APPROVERS: 'anyone' })).toMatch(/^SLACK_SIGNING_SECRET is required in HTTP mode/);
    expect(errorOf({ SLACK_BOT_TOKEN: 'xoxb-1', APPROVERS: 'anyone', SLACK_SIGNING_SECRET: '  ' })).toMatch(/^SLACK_SIGNING_SECRET is required in HTTP mode/);
    expect(loadConfig({ SLACK_BOT_TOKEN: 'xoxb-1', SLACK_APP_TOKEN: 'xapp-1', APPROVERS: 'anyone', DECISION_SIGNING_KEY: SIGNING_KEY_PEM }).slack.appToken).toBe('xapp-1');
  });

  it.each([
    [{ PORT: 'eighty' }, 'PORT'],
    [{ PORT: '70000' }, 'PORT must be a port number'],
    [{ REDIS_URL: 'localhost:6379' }, 'REDIS_URL must start with redis:// or rediss://'],
    [{ APPROVALS_CHANNEL: '#approvals' }, 'APPROVALS_CHANNEL must be a channel ID'],
    [{ SLACK_APP_TOKEN: 'xoxb-wrong' }, 'SLACK_APP_TOKEN must be an app-level token'],
    [{ LOG_LEVEL: 'loud' }, 'LOG_LEVEL'],
    [{ APPROVAL_RETENTION_SEC: '-5' }, 'APPROVAL_RETENTION_SEC must be a positive whole number'],
    [{ DECISION_TOMBSTONE_SEC: '0' }, 'DECISION_TOMBSTONE_SEC must be a positive whole number'],
    [{ APPROVAL_RETENTION_SEC: '100', DECISION_TOMBSTONE_SEC: '50' }, 'DECISION_TOMBSTONE_SEC must be at least APPROVAL_RETENTION_SEC (100)'],
    [{ STATE_PREFIX: 'approvals:' }, 'STATE_PREFIX must not end with ":"'],
    [{ PORT: 'abc' }, 'PORT must be a port number from 0 to 65535, not "abc"'],
    [{ REDIS_URL: 'redis://:::::' }, 'REDIS_URL is not a valid URL ("redis://:::::"): use redis://[user:password@]host:port[/db]'],
    [{ SLACK_BOT_TOKEN: 'xoxp-user-token' }, 'SLACK_BOT_TOKEN must be a bot token (xoxb-…)'],
    [{ SLACK_BOT_TOKEN: 'xapp-1-A0' }, 'SLACK_BOT_TOKEN must be a bot token (xoxb-…)'],
  ])('rejects %j with a line naming the variable', (env, expected) => {
    expect(errorOf({ ...base, ...env })).toContain(expected);
  });

  it('refuses a signing secret too short to be Slack’s, in HTTP mode', () => {
    expect(errorOf({ SLACK_BOT_TOKEN: 'xoxb-1', SLACK_SIGNING_SECRET: 'short' })).toContain('SLACK_SIGNING_SECRET is too short (5 characters, at least 16)');
    expect(errorOf({ SLACK_BOT_TOKEN: 'xoxb-1', SLACK_SIGNING_SECRET: 'x' })).toContain('SLACK_SIGNING_SECRET is too short (1 character, at least 16)');
  });

  it('needs APPROVERS said without a routes file: user IDs, or anyone', () => {
    const { APPROVERS: _, ...unsaid } = base;
    expect(errorOf(unsaid)).toBe('APPROVERS is required without APPROVALS_CONFIG: the Slack user IDs who may decide, comma-separated, or APPROVERS=anyone to let anyone who can see a card decide');
    expect(loadConfig({ ...base, APPROVERS: 'anyone' }).approvers).toBe('anyone');
    expect(loadConfig({ ...base, APPROVERS: 'U0ALICE, U0BOB' }).approvers).toEqual(['U0ALICE', 'U0BOB']);
    expect(loadConfig({ ...unsaid, APPROVALS_CONFIG: 'examples/approvals.yml' }).approvers).toBeUndefined();
  });

  describe('the decision signing key', () => {
    const { DECISION_SIGNING_KEY: _, ...keyless } = base;
    const publicDer = (config: ReturnType<typeof loadConfig>) => createPublicKey(config.decisionSigning.privateKey).export({ type: 'spki', format: 'der' });

    it('is required, and the error says how to make one', () => {
      expect(errorOf(keyless)).toBe(
        'DECISION_SIGNING_KEY is required (or DECISION_SIGNING_KEY_FILE): the Ed25519 private key (PKCS#8 PEM) that signs every decision; make one with `npx approval-gate keygen` (or `openssl genpkey -algorithm ed25519 -out decision-signing-key.pem`) and keep it secret',
      );
      expect(errorOf({ ...keyless, DECISION_SIGNING_KEY: '  ' })).toMatch(/^DECISION_SIGNING_KEY is required/);
    });

    it('is read from the variable (line breaks written as \\n too) or from a file, with its id or one derived from the public key', () => {
      const fromEnv = loadConfig(base);
      expect(publicDer(fromEnv)).toEqual(createPublicKey(signingKey).export({ type: 'spki', format: 'der' }));
      expect(fromEnv.decisionSigning.keyId).toBe(defaultKeyIdOf(signingKey));
      expect(fromEnv.decisionSigning.keyId).toMatch(/^ed25519-[0-9a-f]{16}$/);
      expect(publicDer(loadConfig({ ...base, DECISION_SIGNING_KEY: SIGNING_KEY_PEM.trim().replace(/\n/g, '\\n') }))).toEqual(publicDer(fromEnv));
      const file = join(mkdtempSync(join(tmpdir(), 'config-test-')), 'key.pem');
      writeFileSync(file, SIGNING_KEY_PEM);
      const fromFile = loadConfig({ ...keyless, DECISION_SIGNING_KEY_FILE: file, DECISION_SIGNING_KEY_ID: 'gate-2026-11' });
      expect(fromFile.decisionSigning.keyId).toBe('gate-2026-11');
      expect(publicDer(fromFile)).toEqual(publicDer(fromEnv));
    });

    it('refuses both sources at once, an unreadable file, a key that is not an Ed25519 private key, and a bad id, never quoting the key', () => {
      const rsa = generateKeyPairSync('rsa', { modulusLength: 1024 }).privateKey.export({ type: 'pkcs8', format: 'pem' }).toString();
      const publicOnly = createPublicKey(signingKey).export({ type: 'spki', format: 'pem' }).toString();
      const errors = [
        errorOf({ ...base, DECISION_SIGNING_KEY_FILE: '/nonexistent/key.pem' }),
        errorOf({ ...keyless, DECISION_SIGNING_KEY_FILE: '/nonexistent/key.pem' }),
        errorOf({ ...base, DECISION_SIGNING_KEY: rsa }),
        errorOf({ ...base, DECISION_SIGNING_KEY: publicOnly }),
        errorOf({ ...base, DECISION_SIGNING_KEY: 'not a key' }),
        errorOf({ ...base, DECISION_SIGNING_KEY_ID: 'has:colon' }),
      ];
      expect(errors).toEqual([
        'DECISION_SIGNING_KEY must not be set with DECISION_SIGNING_KEY_FILE: set one of them',
        'DECISION_SIGNING_KEY_FILE cannot be read (ENOENT): /nonexistent/key.pem',
        expect.stringMatching(/^DECISION_SIGNING_KEY is an rsa key, not Ed25519: make one with `npx approval-gate keygen`/),
        expect.stringMatching(/^DECISION_SIGNING_KEY is not a PEM private key: make one with/),
        expect.stringMatching(/^DECISION_SIGNING_KEY is not a PEM private key: make one with/),
        'DECISION_SIGNING_KEY_ID must be 1 to 64 letters, digits, ".", "_" or "-"',
      ]);
      for (const error of errors) expect(error).not.toMatch(/BEGIN|not a key/);
    });
  });

  it('treats an empty optional variable as unset', () => {
    expect(loadConfig({ ...base, APPROVALS_CHANNEL: '', SLACK_APP_TOKEN: '' })).toMatchObject({ approvalsChannel: undefined, slack: { appToken: undefined } });
  });
});
