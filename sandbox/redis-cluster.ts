import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import { setTimeout as delay } from 'node:timers/promises';
import { Redis } from 'ioredis';
import { startRedisServer, type RedisServer } from './redis-server.js';

const run = promisify(execFile);

export interface RedisClusterSet {
  /** The masters, each a private redis-server in a temporary directory of its own. */
  nodes: RedisServer[];
  /** Their addresses, as REDIS_CLUSTER_NODES takes them. */
  addresses: { host: string; port: number }[];
  /** The master that serves `slot` (0 to 16383). */
  ownerOf(slot: number): Promise<RedisServer>;
  /** Kills every node and removes their directories. */
  stop(): Promise<void>;
}

/**
 * A local Redis Cluster of `masters` masters and no replicas, on free loopback ports, for tests:
 * `redis-server --cluster-enabled yes` each, joined by `redis-cli --cluster create`; resolves
 * once every node says `cluster_state:ok`. Needs redis-server and redis-cli on PATH.
 * `nodeTimeoutMs` is `cluster-node-timeout`: how soon the cluster says a silent node is down (ms).
 */
export async function startRedisCluster(options: { masters?: number; nodeTimeoutMs?: number } = {}): Promise<RedisClusterSet> {
  const count = options.masters ?? 3;
  const nodes: RedisServer[] = [];
  const stop = async () => {
    for (const node of nodes.splice(0)) await node.stop();
  };
  try {
    for (let i = 0; i < count; i++) {
      // The cluster config file is written in the server's own --dir, removed with it.
      nodes.push(await startRedisServer({ args: ['--cluster-enabled', 'yes', '--cluster-config-file', 'nodes.conf', '--cluster-node-timeout', String(options.nodeTimeoutMs ?? 2000)] }));
    }
    await run('redis-cli', ['--cluster', 'create', ...nodes.map((n) => `127.0.0.1:${n.port}`), '--cluster-replicas', '0', '--cluster-yes'], { timeout: 30_000 });
    await untilEveryNode(nodes, async (redis) => /cluster_state:ok/.test(await redis.cluster('INFO')));
  } catch (err) {
    await stop();
    throw err;
  }
  return {
    nodes,
    addresses: nodes.map((n) => ({ host: '127.0.0.1', port: n.port })),
    async ownerOf(slot) {
      const probe = new Redis(nodes[0]!.url);
      try {
        const ranges = await probe.cluster('SLOTS');
        const range = ranges.find(([from, to]) => slot >= from && slot <= to);
        const owner = nodes.find((n) => n.port === range?.[2]?.[1]);
        if (!owner) throw new Error(`no node of the cluster serves slot ${slot}`);
        return owner;
      } finally {
        probe.disconnect();
      }
    },
    stop,
  };
}

async function untilEveryNode(nodes: RedisServer[], ok: (redis: Redis) => Promise<boolean>): Promise<void> {
  const deadline = Date.now() + 20_000;
  const clients = nodes.map((n) => new Redis(n.url));
  try {
    while (!(await Promise.all(clients.map(ok))).every(Boolean)) {
      if (Date.now() > deadline) throw new Error('the cluster did not reach cluster_state:ok within 20 s');
      await delay(100);
    }
  } finally {
    for (const client of clients) client.disconnect();
  }
}
