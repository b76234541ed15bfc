import { Redis } from 'ioredis';
import { afterEach, describe, expect, it } from 'vitest';
import { BACKOFF_MS, createReplicaWait } from '../../src/store/replica-wait.js';
import { createLogger } from '../../src/ops/logger.js';
import { startRedisServer, type RedisServer } from '../../sandbox/redis-server.js';

const servers: RedisServer[] = [];
const clients: Redis[] = [];
afterEach(async () => {
  for (const client of clients.splice(0)) client.disconnect();
  for (const server of servers.splice(0)) {
    server.resume();
    await server.stop();
  }
});

async function primaryWithReplica(): Promise<{ primary: Redis; replica: RedisServer }> {
  const primaryServer = await startRedisServer();
  servers.push(primaryServer);
  const replica = await startRedisServer({ args: ['--replicaof', '127.0.0.1', String(primaryServer.port)] });
  servers.push(replica);
  const primary = new Redis(primaryServer.url);
  clients.push(primary);
  // Online once the primary lists it; WAIT counts only replicas that are.
  for (let i = 0; i < 200 && !/slave0:.*state=online/.test(await primary.info('replication')); i += 1) await new Promise((r) => setTimeout(r, 50));
  return { primary, replica };
}

function capturedLog() {
  const lines: Record<string, unknown>[] = [];
  const log = createLogger('warn', { write: (line: string) => void lines.push(JSON.parse(line)) });
  return { log, lines };
}

describe('waiting for replicas before a decision goes on', () => {
  it('returns once the replica has the writes made before it', async () => {
    const { primary } = await primaryWithReplica();
    const { log, lines } = capturedLog();
    const wait = createReplicaWait(primary, { count: 1, timeoutMs: 2000, log });
    await primary.set('decision', 'approved');
    expect(await wait('ap1')).toBe(1);
    expect(lines).toEqual([]);
  });

  it('a replica that hangs holds a decision for the timeout only, says so, and the next decisions do not wait for a while', async () => {
    const { primary, replica } = await primaryWithReplica();
    let clock = 1_000_000;
    const { log, lines } = capturedLog();
    const wait = createReplicaWait(primary, { count: 1, timeoutMs: 300, log, now: () => clock });
    replica.pause();
    await primary.set('decision', 'approved');
    const started = Date.now();
    expect(await wait('ap1')).toBe(0);
    expect(Date.now() - started).toBeGreaterThanOrEqual(250);
    expect(lines).toMatchObject([{ msg: 'decision not yet on enough replicas; going on (a failover now could lose it)', approval_id: 'ap1', replicas_acknowledged: 0 }]);
    clock += BACKOFF_MS - 1;
    expect(await wait('ap2')).toBe('skipped');
    replica.resume();
    clock += 1;
    await primary.set('decision', 'denied');
    expect(await wait('ap3')).toBe(1);
  });

  it('asks nothing when no replica is wanted', async () => {
    const { log } = capturedLog();
    const nothing = new Redis({ lazyConnect: true, port: 1 }); // never connected: a command would fail
    clients.push(nothing);
    expect(await createReplicaWait(nothing, { count: 0, timeoutMs: 300, log })('ap1')).toBe('skipped');
  });
});
