import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { setTimeout as delay } from 'node:timers/promises';
import { Redis } from 'ioredis';
import { freePort } from './free-port.js';
import { startRedisServer, type RedisServer } from './redis-server.js';

/** A primary, its replicas and the Sentinels that watch them, all private, on loopback. */
export interface SentinelSet {
  /** The master group name the Sentinels know the primary by. */
  name: string;
  sentinels: { host: string; port: number }[];
  primary: RedisServer;
  replicas: RedisServer[];
  /** Asks a Sentinel (the first, or the one at index `sentinel`) which server is the primary now: `host:port`. */
  primaryAddress(sentinel?: number): Promise<string>;
  /** Stops the Sentinel at `index` (SIGSTOP) with its connections open: a Sentinel that hangs. */
  pauseSentinel(index: number): void;
  /** Lets a paused Sentinel run again (SIGCONT). */
  resumeSentinel(index: number): void;
  /** Stops every process and removes their directories. */
  stop(): Promise<void>;
}

/**
 * Starts a primary, `replicas` replicas and `sentinels` Sentinels (quorum: a majority) from the
 * redis-server on PATH, for tests of failover. The Sentinels call a primary down after
 * `downAfterMs` without an answer (Sentinel's `down-after-milliseconds`), so a killed primary is
 * replaced within a few seconds.
 */
export async function startSentinelSet(options: { replicas?: number; sentinels?: number; downAfterMs?: number; name?: string } = {}): Promise<SentinelSet> {
  const name = options.name ?? 'approvals';
  const primary = await startRedisServer();
  const replicas: RedisServer[] = [];
  const sentinelProcesses: { child: ChildProcess; dir: string; port: number }[] = [];
  const stop = async () => {
    for (const sentinel of sentinelProcesses) {
      sentinel.child.kill('SIGKILL');
      rmSync(sentinel.dir, { recursive: true, force: true });
    }
    await Promise.all([primary, ...replicas].map((server) => server.stop()));
  };
  try {
    for (let i = 0; i < (options.replicas ?? 1); i += 1) {
      replicas.push(await startRedisServer({ args: ['--replicaof', '127.0.0.1', String(primary.port)] }));
    }
    await waitForReplicas(primary.url, replicas.length);
    const count = options.sentinels ?? 3;
    for (let i = 0; i < count; i += 1) {
      const port = await freePort();
      const dir = mkdtempSync(join(tmpdir(), 'approval-gate-sentinel-'));
      // Sentinel rewrites its configuration file as it learns the set: it must be its own, writable.
      const conf = join(dir, 'sentinel.conf');
      writeFileSync(
        conf,
        [
          `port ${port}`,
          'bind 127.0.0.1',
          `dir ${dir}`,
          `sentinel monitor ${name} 127.0.0.1 ${primary.port} ${Math.floor(count / 2) + 1}`,
          `sentinel down-after-milliseconds ${name} ${options.downAfterMs ?? 1000}`,
          `sentinel failover-timeout ${name} 5000`,
          `sentinel parallel-syncs ${name} 1`,
        ].join('\n') + '\n',
      );
      const child = spawn('redis-server', [conf, '--sentinel'], { stdio: 'ignore' });
      sentinelProcesses.push({ child, dir, port });
    }
    for (const sentinel of sentinelProcesses) await waitForSentinel(sentinel.port, name, count);
  } catch (err) {
    await stop();
    throw err;
  }
  const sentinels = sentinelProcesses.map(({ port }) => ({ host: '127.0.0.1', port }));
  return {
    name,
    sentinels,
    primary,
    replicas,
    async primaryAddress(sentinel = 0) {
      const probe = new Redis({ host: '127.0.0.1', port: sentinels[sentinel]!.port, lazyConnect: true, maxRetriesPerRequest: 1 });
      try {
        const [host, port] = (await probe.call('SENTINEL', 'get-master-addr-by-name', name)) as [string, string];
        return `${host}:${port}`;
      } finally {
        probe.disconnect();
      }
    },
    pauseSentinel: (index) => void sentinelProcesses[index]!.child.kill('SIGSTOP'),
    resumeSentinel: (index) => void sentinelProcesses[index]!.child.kill('SIGCONT'),
    stop,
  };
}

async function waitForReplicas(url: string, count: number): Promise<void> {
  const probe = new Redis(url);
  try {
    for (let tries = 0; tries < 200; tries += 1) {
      const info = await probe.info('replication');
      const online = [...info.matchAll(/^slave\d+:.*state=online/gm)].length;
      if (online >= count) return;
      await delay(50);
    }
    throw new Error(`replicas did not come online within 10 s`);
  } finally {
    probe.disconnect();
  }
}

/** Waits until the Sentinel knows the replicas and the other Sentinels (they find each other in about 2 s). */
async function waitForSentinel(port: number, name: string, sentinels: number): Promise<void> {
  for (let tries = 0; tries < 300; tries += 1) {
    const probe = new Redis({ host: '127.0.0.1', port, lazyConnect: true, maxRetriesPerRequest: 0, retryStrategy: () => null });
    probe.on('error', () => undefined); // refused until the Sentinel is up
    try {
      await probe.connect();
      const master = (await probe.call('SENTINEL', 'master', name)) as string[];
      const replicas = Number(master[master.indexOf('num-slaves') + 1]);
      const others = Number(master[master.indexOf('num-other-sentinels') + 1]);
      if (replicas > 0 && others >= sentinels - 1) return;
    } catch {
      // not up yet
    } finally {
      probe.disconnect();
    }
    await delay(50);
  }
  throw new Error(`Sentinel on port ${port} did not learn the set within 15 s`);
}
