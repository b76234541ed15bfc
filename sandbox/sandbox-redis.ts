import { Redis } from 'ioredis';
import { redactRedisUrl } from '../src/ops/redis-settings.js';
import { startRedisServer } from './redis-server.js';

/**
 * The sandbox's Redis: REDIS_URL when it answers, else a private redis-server on a free port that
 * goes away on exit. On a Redis it did not start, the sandbox touches only its own keys (its
 * queues and `sandbox:*`), clears what an earlier sandbox left there, and removes them on exit.
 */

export interface SandboxRedis {
  url: string;
  /** One line for the start-up banner. */
  description: string;
  close(): Promise<void>;
}

export interface SandboxKeys {
  requestQueue: string;
  resumeQueue: string;
  queuePrefix: string;
  statePrefix: string;
}

const PROBE_TIMEOUT_MS = 2000;

export async function connectRedis(url: string | undefined, keys: SandboxKeys): Promise<SandboxRedis> {
  if (url && (await answers(url))) {
    await removeSandboxKeys(url, keys);
    return {
      url,
      description: `${redactRedisUrl(url)} (sandbox keys only: ${patterns(keys).join(', ')}; removed on exit)`,
      close: () => removeSandboxKeys(url, keys),
    };
  }
  const why = url ? `REDIS_URL (${redactRedisUrl(url)}) did not answer, so ` : '';
  const server = await startRedisServer({ appendonly: true }).catch((err: unknown) => {
    throw new Error(
      `the sandbox needs Redis: ${why}it tried to start redis-server from PATH and could not (${err instanceof Error ? err.message : String(err)}). ` +
        'Set REDIS_URL to a Redis that answers, or install redis-server (Debian/Ubuntu: apt-get install redis-server; macOS: brew install redis).',
    );
  });
  return { url: server.url, description: `${why}a private redis-server on ${server.url} (stopped and removed on exit)`, close: () => server.stop() };
}

async function answers(url: string): Promise<boolean> {
  const probe = new Redis(url, { lazyConnect: true, maxRetriesPerRequest: 0, retryStrategy: () => null, connectTimeout: PROBE_TIMEOUT_MS });
  probe.on('error', () => undefined); // a refused connection is the answer "no"
  try {
    await probe.connect();
    return (await probe.ping()) === 'PONG';
  } catch {
    return false;
  } finally {
    probe.disconnect();
  }
}

function patterns(keys: SandboxKeys): string[] {
  const queue = (name: string) => `${keys.queuePrefix}:${name}:*`;
  return [`${keys.statePrefix}:*`, queue(keys.requestQueue), queue(`${keys.requestQueue}-timers`), queue(keys.resumeQueue)];
}

async function removeSandboxKeys(url: string, keys: SandboxKeys): Promise<void> {
  const redis = new Redis(url, { maxRetriesPerRequest: 1 });
  try {
    for (const pattern of patterns(keys)) {
      for await (const batch of redis.scanStream({ match: pattern, count: 500 }) as AsyncIterable<string[]>) {
        if (batch.length > 0) await redis.unlink(...batch);
      }
    }
  } finally {
    redis.disconnect();
  }
}
