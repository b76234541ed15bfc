import { createPublicKey, generateKeyPairSync } from 'node:crypto';
import { writeFileSync } from 'node:fs';
import type { RedisClient } from '../../ops/redis-connection.js';
import { defaultKeyIdOf } from '../../domain/decision-signature.js';
import type { CliConfig } from '../../ops/config.js';
import { describeRedisTarget } from '../../ops/redis-connection.js';
import { redactRedisUrl } from '../../ops/redis-settings.js';
import { createAudit, formatTrail } from '../../store/audit.js';
import { createApprovalClient, type ApprovalClient } from '../approval-client.js';
import { ApprovalRequestError } from '../errors.js';
import { connectRedis } from './connect-redis.js';
import { EXIT, exitCodeOf } from './exit-codes.js';
import type { CliIo } from './request-command.js';

/** Runs `use` with a connection that fails fast (one line when Redis cannot be reached: exit 3). */
async function withRedis(config: CliConfig, io: CliIo, use: (redis: RedisClient) => Promise<number>): Promise<number> {
  let redis: RedisClient;
  try {
    redis = await connectRedis(config.redis);
  } catch (err) {
    io.err((err as Error).message);
    return EXIT.redis;
  }
  try {
    return await use(redis);
  } catch (err) {
    io.err(`could not read or write ${describeRedisTarget(config.redis, redactRedisUrl)}: ${(err as Error).message}`);
    return EXIT.redis;
  } finally {
    redis.disconnect();
  }
}

function clientOn(redis: RedisClient, config: CliConfig): ApprovalClient {
  return createApprovalClient({ connection: redis, requestQueue: config.queues.request, resumeQueue: config.queues.resume, prefix: config.queues.prefix, policySnapshotKey: config.policySnapshotKey, statePrefix: config.statePrefix });
}

/**
 * `approval-gate status RUN STEP`: prints where the approval stands, as JSON, and exits with the
 * decision's code, 13 cancelled, 14 pending, or 16 unknown.
 */
export function statusCommand(runId: string, stepId: string, config: CliConfig, io: CliIo): Promise<number> {
  return withRedis(config, io, async (redis) => {
    const client = clientOn(redis, config);
    try {
      const status = await client.status(runId, stepId);
      io.out(JSON.stringify(status));
      if (status.state === 'decided') return exitCodeOf(status.decision.decision);
      return status.state === 'pending' ? EXIT.pending : status.state === 'cancelled' ? EXIT.cancelled : EXIT.unknown;
    } finally {
      await client.close();
    }
  });
}

/** `approval-gate cancel RUN STEP --reason …`: puts a cancel job on the request queue. */
export function cancelCommand(runId: string, stepId: string, reason: string, config: CliConfig, io: CliIo): Promise<number> {
  return withRedis(config, io, async (redis) => {
    const client = clientOn(redis, config);
    try {
      await client.cancel(runId, stepId, reason);
      io.out(`cancel queued on ${config.queues.request} (run ${runId}, step ${stepId})`);
      return EXIT.ok;
    } catch (err) {
      if (!(err instanceof ApprovalRequestError)) throw err;
      io.err(`not sent: ${err.problems.join('; ')}`);
      return EXIT.invalid;
    } finally {
      await client.close();
    }
  });
}

/** `approval-gate audit RUN [--json]`: the run's audit trail, oldest first (both audit streams merged). */
export function auditCommand(runId: string, json: boolean, config: CliConfig, io: CliIo): Promise<number> {
  const key = `${config.statePrefix}:audit`;
  return withRedis(config, io, async (redis) => {
    const trail = await createAudit(redis, { key, maxLen: 0 }).trail(runId);
    if (json) io.out(JSON.stringify(trail, null, 2));
    else if (trail.length === 0) io.out(`no audit entries for run ${runId} in ${key} or ${key}:refusals (the sandbox's trail is under STATE_PREFIX=sandbox)`);
    else io.out(formatTrail(trail));
    return EXIT.ok;
  });
}

/**
 * `approval-gate keygen [--out FILE]`: writes a new Ed25519 private key (PKCS#8 PEM, mode 0600; an
 * existing file is never overwritten) and its public key beside it (`.pub.pem`), and prints the key id.
 */
export function keygenCommand(out: string, io: CliIo): number {
  const { privateKey } = generateKeyPairSync('ed25519');
  const publicPath = out.endsWith('.pem') ? `${out.slice(0, -4)}.pub.pem` : `${out}.pub.pem`;
  const publicPem = createPublicKey(privateKey).export({ type: 'spki', format: 'pem' }).toString();
  try {
    writeFileSync(out, privateKey.export({ type: 'pkcs8', format: 'pem' }), { mode: 0o600, flag: 'wx' });
    writeFileSync(publicPath, publicPem, { flag: 'wx' });
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    io.err(code === 'EEXIST' ? `${(err as { path?: string }).path ?? out} exists: it is never overwritten; choose another --out` : `cannot write the key: ${(err as Error).message}`);
    return EXIT.invalid;
  }
  io.out(`private key: ${out} (keep it secret: DECISION_SIGNING_KEY_FILE=${out})`);
  io.out(`public key: ${publicPath} (for engines: verifyDecision's publicKeys, DECISION_PUBLIC_KEY_FILE)`);
  io.out(`key id: ${defaultKeyIdOf(privateKey)} (the default DECISION_SIGNING_KEY_ID)`);
  return EXIT.ok;
}
