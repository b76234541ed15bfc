/**
 * npm run audit -- <run_id> [--json]
 * Prints the audit trail of a run, oldest first: the streams `<STATE_PREFIX>:audit` (changes of
 * state) and `<STATE_PREFIX>:audit:refusals` (clicks and refusals) merged by time (REDIS_URL and
 * STATE_PREFIX as the bot reads them).
 */
import { parseArgs } from 'node:util';
import type { Redis } from 'ioredis';
import { redactRedisUrl } from '../src/ops/redis-settings.js';
import { connectRedis } from './connect-redis.js';
import { createAudit, formatTrail } from '../src/store/audit.js';

const { values, positionals } = parseArgs({ options: { json: { type: 'boolean', default: false } }, allowPositionals: true });
const [runId] = positionals;
if (!runId) {
  console.error('usage: npm run audit -- <run_id> [--json]');
  process.exit(2);
}
const redisUrl = process.env.REDIS_URL || 'redis://127.0.0.1:6379';
const key = `${process.env.STATE_PREFIX || 'approvals'}:audit`;
let redis: Redis;
try {
  redis = await connectRedis(redisUrl);
} catch (err) {
  console.error((err as Error).message);
  process.exit(1);
}
let exitCode = 0;
try {
  const trail = await createAudit(redis, { key, maxLen: 0 }).trail(runId);
  if (values.json) console.log(JSON.stringify(trail, null, 2));
  else if (trail.length === 0) console.log(`no audit entries for run ${runId} in ${key} or ${key}:refusals (the sandbox's trail is under STATE_PREFIX=sandbox)`);
  else console.log(formatTrail(trail));
} catch (err) {
  console.error(`could not read the audit trail from ${redactRedisUrl(redisUrl)}: ${err instanceof Error ? err.message : String(err)}`);
  exitCode = 1;
} finally {
  redis.disconnect();
}
process.exit(exitCode);
