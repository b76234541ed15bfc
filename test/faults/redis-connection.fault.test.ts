import { setTimeout as delay } from 'node:timers/promises';
import { Redis } from 'ioredis';
import { afterEach, describe, expect, it } from 'vitest';
import { createRedis, type RedisClient } from '../../src/ops/redis-connection.js';
import { startSentinelSet, type SentinelSet } from '../../sandbox/redis-sentinel.js';
import { waitFor } from '../helpers/wait.js';

/**
 * A connection through Sentinel never gives up during a failover: not when the failover is announced
 * while it is already reconnecting, nor when one of the Sentinels it asks hangs.
 */

let set: SentinelSet | undefined;
let redis: RedisClient | undefined;
afterEach(async () => {
  redis?.disconnect();
  await set?.stop();
  redis = undefined;
  set = undefined;
});

/** A client through the set's Sentinels, as the bot builds it, with what it reports. */
function connect(s: SentinelSet) {
  const client = createRedis({ url: s.primary.url, sentinel: { sentinels: s.sentinels, name: s.name }, waitReplicas: { count: 0, timeoutMs: 500 } }, { maxRetriesPerRequest: null });
  const seen = { errors: [] as string[], ended: false };
  client.on('error', (err: Error) => seen.errors.push(err.message));
  client.on('end', () => {
    seen.ended = true;
  });
  return { client, seen };
}

/** Kills the primary, with the Sentinel at `hung` paused, and waits until the two others have promoted the replica. */
async function failOverWithout(s: SentinelSet, hung: number): Promise<void> {
  const others = [0, 1, 2].filter((i) => i !== hung);
  const before = await s.primaryAddress(others[0]);
  s.pauseSentinel(hung);
  await s.primary.kill();
  // Two of three Sentinels are a majority: they promote the replica without the hung one.
  for (const i of others) await waitFor(`Sentinel ${i} to name the new primary`, async () => (await s.primaryAddress(i)) !== before, 30_000);
}

/** Rejects after `ms` when `promise` has not settled: a connection that hangs fails the test with a reason. */
async function within<T>(ms: number, what: string, promise: Promise<T>): Promise<T> {
  const timeout = delay(ms).then(() => Promise.reject(new Error(`${what} did not settle within ${ms} ms`)));
  return Promise.race([promise, timeout]);
}

/** What the promoted replica holds at `key`, read directly. */
async function onPromoted(s: SentinelSet, key: string): Promise<string | null> {
  const promoted = new Redis(s.replicas[0]!.url);
  try {
    return await promoted.get(key);
  } finally {
    promoted.disconnect();
  }
}

describe('createRedis through Sentinel', () => {
  it('a connection that is reconnecting when the failover is announced reaches the new primary instead of ending', async () => {
    set = await startSentinelSet({ replicas: 1, sentinels: 3, downAfterMs: 1000 });
    const { client, seen } = connect(set);
    redis = client;
    await client.set('before', '1');

    // Sentinel 0, which the connection asked first, hangs: the reconnection after the kill waits
    // for its answer while the two others promote the replica and announce it (+switch-master).
    await failOverWithout(set, 0);
    // The hung Sentinel answers at last, long after the announcement.
    set.resumeSentinel(0);

    expect(await within(15_000, 'a write after the failover', client.set('after', '1'))).toBe('OK');
    expect(await onPromoted(set, 'after')).toBe('1');
    expect(seen.ended).toBe(false);
    expect(seen.errors).not.toContain('Connection is closed.');
  }, 60_000);

  it.each([0, 1, 2])('while Sentinel %i hangs, a connection follows the failover to the new primary', async (hung) => {
    set = await startSentinelSet({ replicas: 1, sentinels: 3, downAfterMs: 1000 });
    const { client, seen } = connect(set);
    redis = client;
    await client.set('before', '1');

    await failOverWithout(set, hung);
    // The hung Sentinel stays hung: the connection must get its answer from another one.
    expect(await within(15_000, 'a write after the failover', client.set('after', '1'))).toBe('OK');
    expect(await onPromoted(set, 'after')).toBe('1');
    expect(seen.ended).toBe(false);
    set.resumeSentinel(hung);
  }, 60_000);
});
