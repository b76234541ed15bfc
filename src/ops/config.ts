import type { KeyObject } from 'node:crypto';
import { z } from 'zod';
import { defaultKeyIdOf, type DecisionSigningKey } from '../domain/decision-signature.js';
import { loadPublicKeyFile, loadSigningKey } from './load-signing-key.js';
import { clusterLayoutProblem, type KeyLayout } from './cluster-layout.js';
import { checkRedisEnv, RedisEnvShape, redisTargetOf, type RedisTarget } from './redis-env.js';

export type { RedisTarget } from './redis-env.js';

const SLACK_ID = /^[A-Z0-9]{2,}$/;
const KEY_ID = /^[A-Za-z0-9._-]{1,64}$/;
/** Slack's signing secrets are 32 hex characters; anything under 16 is not one. */
const MIN_SIGNING_SECRET = 16;

const port = z
  .string()
  .trim()
  .transform((raw, ctx) => {
    const value = Number(raw);
    if (/^\d{1,5}$/.test(raw) && value <= 65535) return value;
    ctx.addIssue({ code: 'custom', message: `must be a port number from 0 to 65535, not "${raw}"` });
    return z.NEVER;
  });

const positiveInt = z.coerce.number().int().positive('must be a positive whole number');

const optionalText = z
  .string()
  .trim()
  .transform((value) => (value === '' ? undefined : value))
  .optional();

/** The environment the bot reads, once, at start-up. */
const EnvSchema = z
  .object({
    ...RedisEnvShape,
    SLACK_BOT_TOKEN: z
      .string({ error: 'is required: the Bot User OAuth Token (xoxb-…) from OAuth & Permissions in your Slack app settings' })
      .trim()
      .min(1, 'is required: the Bot User OAuth Token (xoxb-…) from OAuth & Permissions in your Slack app settings')
      // A user (xoxp-) or app-level (xapp-) token would pass nothing but auth.test: say so before calling Slack.
      .refine(
        (token) => token.startsWith('xoxb-'),
        'must be a bot token (xoxb-…): the Bot User OAuth Token from OAuth & Permissions in your Slack app settings, not a user (xoxp-) or app-level (xapp-) token',
      ),
    SLACK_SIGNING_SECRET: optionalText,
    /** When set, the bot runs in Socket Mode and needs no public URL. */
    SLACK_APP_TOKEN: optionalText.refine(
      (token) => token === undefined || token.startsWith('xapp-'),
      'must be an app-level token (xapp-…) with the connections:write scope, from Basic Information in your Slack app settings',
    ),
    /** Base URL of the Slack Web API; point it at the local emulator in tests and the sandbox. */
    SLACK_API_URL: optionalText.refine(
      (url) => url === undefined || /^https?:\/\//.test(url),
      'must be an http(s) URL such as https://slack.com/api/',
    ),
    /** @defaultValue 3000 */
    PORT: port.default(3000),
    APPROVALS_CHANNEL: optionalText.refine(
      (channel) => channel === undefined || SLACK_ID.test(channel),
      'must be a channel ID such as C0123ABCD (not a #name): open the channel details in Slack to copy it',
    ),
    /** @defaultValue `approval-requests` */
    REQUEST_QUEUE: z.string().trim().min(1).default('approval-requests'),
    /** @defaultValue `approval-resume` */
    RESUME_QUEUE: z.string().trim().min(1).default('approval-resume'),
    /** @defaultValue `bull` */
    QUEUE_PREFIX: z.string().trim().min(1).default('bull'),
    /** @defaultValue `approvals:policy-snapshot` */
    POLICY_SNAPSHOT_KEY: z.string().trim().min(1).default('approvals:policy-snapshot'),
    /** Prefix of the bot's own Redis keys (approval records, leases). @defaultValue `approvals` */
    STATE_PREFIX: z
      .string()
      .trim()
      .min(1)
      .default('approvals')
      .refine((prefix) => !prefix.endsWith(':'), 'must not end with ":" (the bot adds it)'),
    /** How long an approval record is kept after its last change. @defaultValue 30 days */
    APPROVAL_RETENTION_SEC: positiveInt.default(30 * 24 * 3600),
    /**
     * How long an ended approval's tombstone (its binding and its decision or cancellation, well under
     * 1 KiB) is kept, so that a request for the same step long after gets the same answer.
     * @defaultValue one year (365 days)
     */
    DECISION_TOMBSTONE_SEC: positiveInt.default(365 * 24 * 3600),
    /** Path of the routes file (YAML): channels, mentions and approvers per route. */
    APPROVALS_CONFIG: optionalText,
    /** Slack user IDs who may decide, comma-separated; unset means anyone who can see the card. */
    APPROVERS: optionalText.transform((list, ctx): string[] | 'anyone' | undefined => {
      if (list === undefined) return undefined;
      if (list.toLowerCase() === 'anyone') return 'anyone';
      const ids = list.split(',').map((id) => id.trim()).filter((id) => id !== '');
      const bad = ids.filter((id) => !/^[UW][A-Z0-9]{2,}$/.test(id));
      if (bad.length > 0 || ids.length === 0) {
        ctx.addIssue({ code: 'custom', message: `must be Slack user IDs such as U0123ABCD, comma-separated (not ${bad.join(', ') || 'empty'}): copy them from each profile's "Copy member ID"` });
        return z.NEVER;
      }
      return ids;
    }),
    /** How many entries the audit stream keeps (approximately; older ones are trimmed). @defaultValue 100000 */
    AUDIT_MAX_LEN: positiveInt.default(100_000),
    /** How many entries the stream of clicks and refusals keeps (approximately). @defaultValue 100000 */
    AUDIT_REFUSALS_MAX_LEN: positiveInt.default(100_000),
    /** How many requests one bot process handles at once. @defaultValue 10 */
    INTAKE_CONCURRENCY: positiveInt.default(10),
    /** The Ed25519 private key that signs decisions, as PKCS#8 PEM (or DECISION_SIGNING_KEY_FILE). Never logged. */
    DECISION_SIGNING_KEY: optionalText,
    /** Path of a file holding DECISION_SIGNING_KEY (a mounted secret, say). */
    DECISION_SIGNING_KEY_FILE: optionalText,
    /** The id engines know the public key by. @defaultValue `ed25519-` and 16 hex digits of the public key's SHA-256 */
    DECISION_SIGNING_KEY_ID: optionalText.refine((id) => id === undefined || KEY_ID.test(id), 'must be 1 to 64 letters, digits, ".", "_" or "-"'),
    /** @defaultValue `info` */
    LOG_LEVEL: z.enum(['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent']).default('info'),
  })
  .superRefine((env, ctx) => {
    checkRedisEnv(env, ctx);
    if (env.REDIS_CLUSTER_NODES) {
      const problem = clusterLayoutProblem(keyLayoutOf(env));
      if (problem) ctx.addIssue({ code: 'custom', path: ['REDIS_CLUSTER_NODES'], message: `is set, so ${problem}` });
    }
    if (env.DECISION_TOMBSTONE_SEC < env.APPROVAL_RETENTION_SEC) {
      // A tombstone stands for the record once it is gone: a shorter one would never be read.
      ctx.addIssue({
        code: 'custom',
        path: ['DECISION_TOMBSTONE_SEC'],
        message: `must be at least APPROVAL_RETENTION_SEC (${env.APPROVAL_RETENTION_SEC}): a decision's tombstone must outlive its record`,
      });
    }
    if (env.APPROVALS_CONFIG !== undefined) {
      for (const name of ['APPROVERS', 'APPROVALS_CHANNEL'] as const) {
        if (env[name] !== undefined) ctx.addIssue({ code: 'custom', path: [name], message: 'must not be set with APPROVALS_CONFIG: the routes file names channels and approvers' });
      }
    } else if (env.APPROVERS === undefined) {
      // Who may decide is never a default: an unset list must not silently mean "anyone".
      ctx.addIssue({
        code: 'custom',
        path: ['APPROVERS'],
        message: 'is required without APPROVALS_CONFIG: the Slack user IDs who may decide, comma-separated, or APPROVERS=anyone to let anyone who can see a card decide',
      });
    }
    if (env.SLACK_APP_TOKEN === undefined && env.SLACK_SIGNING_SECRET === undefined) {
      ctx.addIssue({
        code: 'custom',
        path: ['SLACK_SIGNING_SECRET'],
        message:
          'is required in HTTP mode: the Signing Secret from Basic Information in your Slack app settings (or set SLACK_APP_TOKEN for Socket Mode)',
      });
    } else if (env.SLACK_APP_TOKEN === undefined && env.SLACK_SIGNING_SECRET !== undefined && env.SLACK_SIGNING_SECRET.length < MIN_SIGNING_SECRET) {
      // Every request's authenticity rests on this secret: a short one can be guessed.
      ctx.addIssue({
        code: 'custom',
        path: ['SLACK_SIGNING_SECRET'],
        message: `is too short (${env.SLACK_SIGNING_SECRET.length} character${env.SLACK_SIGNING_SECRET.length === 1 ? '' : 's'}, at least ${MIN_SIGNING_SECRET}): use the Signing Secret from Basic Information in your Slack app settings`,
      });
    }
  });

export interface Config {
  redis: RedisTarget;
  slack: {
    botToken: string;
    signingSecret: string | undefined;
    appToken: string | undefined;
    apiUrl: string | undefined;
  };
  port: number;
  approvalsChannel: string | undefined;
  /** undefined: anyone who can see the card may decide. */
  /** Who may decide on the one route without a routes file: user IDs, or anyone who can see the card. */
  approvers: string[] | 'anyone' | undefined;
  /** The routes file, when there is one (else APPROVERS and APPROVALS_CHANNEL make one route). */
  routesFile: string | undefined;
  queues: { request: string; resume: string; prefix: string };
  policySnapshotKey: string;
  statePrefix: string;
  /** The audit streams: `<STATE_PREFIX>:audit` for changes of state, and `<STATE_PREFIX>:audit:refusals` (capped at `refusalsMaxLen`) for clicks and refusals. */
  audit: { key: string; maxLen: number; refusalsMaxLen: number };
  approvalRetentionSec: number;
  /** How long an ended approval's tombstone is kept from its ending (s): DECISION_TOMBSTONE_SEC. */
  decisionTombstoneSec: number;
  intakeConcurrency: number;
  /** The key that signs every decision pushed on the resume queue. */
  decisionSigning: DecisionSigningKey;
  logLevel: z.infer<typeof EnvSchema>['LOG_LEVEL'];
}

/** A start-up setting that is missing or malformed; its message names the variable and how to fix it. */
export class ConfigError extends Error {
  override name = 'ConfigError';
}

/**
 * Reads and checks the bot's environment. The only reader of `process.env`.
 * @throws ConfigError with one line per bad variable.
 */
export function loadConfig(env: NodeJS.ProcessEnv = process.env): Config {
  const parsed = EnvSchema.safeParse(env);
  const key = parsed.success ? loadSigningKey(parsed.data.DECISION_SIGNING_KEY, parsed.data.DECISION_SIGNING_KEY_FILE) : undefined;
  if (!parsed.success || typeof key === 'string') {
    const lines = parsed.success ? [] : parsed.error.issues.map((issue) => `${issue.path.join('.')} ${issue.message}`);
    if (typeof key === 'string') lines.push(key);
    throw new ConfigError(lines.join('\n'));
  }
  const e = parsed.data;
  return {
    redis: redisTargetOf(e),
    slack: {
      botToken: e.SLACK_BOT_TOKEN,
      signingSecret: e.SLACK_SIGNING_SECRET,
      appToken: e.SLACK_APP_TOKEN,
      apiUrl: e.SLACK_API_URL,
    },
    port: e.PORT,
    approvalsChannel: e.APPROVALS_CHANNEL,
    approvers: e.APPROVERS,
    routesFile: e.APPROVALS_CONFIG,
    queues: { request: e.REQUEST_QUEUE, resume: e.RESUME_QUEUE, prefix: e.QUEUE_PREFIX },
    policySnapshotKey: e.POLICY_SNAPSHOT_KEY,
    statePrefix: e.STATE_PREFIX,
    audit: { key: `${e.STATE_PREFIX}:audit`, maxLen: e.AUDIT_MAX_LEN, refusalsMaxLen: e.AUDIT_REFUSALS_MAX_LEN },
    approvalRetentionSec: e.APPROVAL_RETENTION_SEC,
    decisionTombstoneSec: e.DECISION_TOMBSTONE_SEC,
    intakeConcurrency: e.INTAKE_CONCURRENCY,
    decisionSigning: { keyId: e.DECISION_SIGNING_KEY_ID ?? defaultKeyIdOf(key!), privateKey: key! },
    logLevel: e.LOG_LEVEL,
  };
}


/** What the command line (`approval-gate`) reads: where the gate's queues and keys are, and its public keys. */
export interface CliConfig {
  redis: RedisTarget;
  queues: { request: string; resume: string; prefix: string };
  policySnapshotKey: string;
  statePrefix: string;
  /** The gate's public key by key id (DECISION_PUBLIC_KEY_FILE), to verify decisions; undefined when not set. */
  publicKeys: Record<string, KeyObject> | undefined;
}

const CliRedisSchema = z.object(RedisEnvShape).superRefine(checkRedisEnv);

/**
 * Reads the command line's environment: the bot's Redis settings (REDIS_URL, REDIS_SENTINELS…,
 * REDIS_CLUSTER_NODES), its names (REQUEST_QUEUE, RESUME_QUEUE, QUEUE_PREFIX, POLICY_SNAPSHOT_KEY,
 * STATE_PREFIX, with the bot's defaults; in a cluster, checked to share one slot as the bot checks them)
 * and DECISION_PUBLIC_KEY_FILE (the gate's public key, PEM) with DECISION_SIGNING_KEY_ID (default: derived from the key).
 * @throws ConfigError with one line per bad variable.
 */
export function loadCliConfig(env: NodeJS.ProcessEnv = process.env): CliConfig {
  const value = (name: string, fallback: string) => env[name]?.trim() || fallback;
  const redis = CliRedisSchema.safeParse(env);
  const problems = redis.success ? [] : redis.error.issues.map((issue) => `${issue.path.join('.')} ${issue.message}`);
  const names = {
    REQUEST_QUEUE: value('REQUEST_QUEUE', 'approval-requests'),
    RESUME_QUEUE: value('RESUME_QUEUE', 'approval-resume'),
    QUEUE_PREFIX: value('QUEUE_PREFIX', 'bull'),
    POLICY_SNAPSHOT_KEY: value('POLICY_SNAPSHOT_KEY', 'approvals:policy-snapshot'),
    STATE_PREFIX: value('STATE_PREFIX', 'approvals'),
  };
  const layoutProblem = redis.success && redis.data.REDIS_CLUSTER_NODES ? clusterLayoutProblem(keyLayoutOf(names)) : undefined;
  if (layoutProblem) problems.push(`REDIS_CLUSTER_NODES is set, so ${layoutProblem}`);
  let publicKeys: Record<string, KeyObject> | undefined;
  const keyFile = env.DECISION_PUBLIC_KEY_FILE?.trim();
  if (keyFile) {
    const key = loadPublicKeyFile(keyFile);
    if (typeof key === 'string') problems.push(key);
    else publicKeys = { [env.DECISION_SIGNING_KEY_ID?.trim() || defaultKeyIdOf(key)]: key };
  }
  if (!redis.success || problems.length > 0) throw new ConfigError(problems.join('\n'));
  return {
    redis: redisTargetOf(redis.data),
    queues: { request: names.REQUEST_QUEUE, resume: names.RESUME_QUEUE, prefix: names.QUEUE_PREFIX },
    policySnapshotKey: names.POLICY_SNAPSHOT_KEY,
    statePrefix: names.STATE_PREFIX,
    publicKeys,
  };
}

/** The name of the timers queue the bot keeps next to the request queue. */
export function timersQueueOf(requestQueue: string): string {
  return `${requestQueue}-timers`;
}

/** Every name the gate's keys are built from, for {@link clusterLayoutProblem}. */
function keyLayoutOf(names: { REQUEST_QUEUE: string; RESUME_QUEUE: string; QUEUE_PREFIX: string; STATE_PREFIX: string; POLICY_SNAPSHOT_KEY: string }): KeyLayout {
  return {
    queuePrefix: names.QUEUE_PREFIX,
    queues: [names.REQUEST_QUEUE, names.RESUME_QUEUE, timersQueueOf(names.REQUEST_QUEUE)],
    statePrefix: names.STATE_PREFIX,
    policySnapshotKey: names.POLICY_SNAPSHOT_KEY,
  };
}
