import { Cluster, Redis } from 'ioredis';
import { describe, expect, it } from 'vitest';
import { createRedis, describeRedisTarget, duplicateRedis } from '../../src/ops/redis-connection.js';
import type { RedisTarget } from '../../src/ops/config.js';
import { redactRedisUrl } from '../../src/ops/redis-settings.js';

const clusterTarget: RedisTarget = { url: 'rediss://gate:s3cret@ignored:6379', cluster: { nodes: [{ host: 'redis-1', port: 7000 }] }, waitReplicas: { count: 0, timeoutMs: 500 } };

// lazyConnect everywhere: these read how connections are set up, and open none.
describe('Redis connections for a cluster', () => {
  it('opens a Cluster whose nodes get REDIS_URL’s credentials and TLS, and the options BullMQ needs', () => {
    const retry = () => 100;
    const cluster = createRedis(clusterTarget, { lazyConnect: true, maxRetriesPerRequest: null, retryStrategy: retry });
    expect(cluster).toBeInstanceOf(Cluster);
    const { options } = cluster as Cluster;
    expect(options).toMatchObject({ lazyConnect: true, clusterRetryStrategy: retry, redisOptions: { username: 'gate', password: 's3cret', tls: {}, maxRetriesPerRequest: null } });
    // With TLS, nodes are reached by the names they announce (the certificates name them).
    expect(options.dnsLookup).toBeTypeOf('function');
    expect(describeRedisTarget(clusterTarget, redactRedisUrl)).toBe('the Redis Cluster of redis-1:7000');
  });

  it('duplicates a cluster connection with the same nodes and credentials, and the options given', () => {
    const cluster = createRedis(clusterTarget, { lazyConnect: true, maxRetriesPerRequest: null }) as Cluster;
    const copy = duplicateRedis(cluster, { lazyConnect: true, commandTimeout: 5000 }) as Cluster;
    expect(copy).toBeInstanceOf(Cluster);
    expect(copy).not.toBe(cluster);
    expect(copy.options.redisOptions).toMatchObject({ username: 'gate', password: 's3cret', maxRetriesPerRequest: null, commandTimeout: 5000 });
    copy.disconnect();
    cluster.disconnect();
  });

  it('keeps a plain server and its duplicates plain', () => {
    const redis = createRedis({ url: 'redis://127.0.0.1:6390/2', waitReplicas: { count: 0, timeoutMs: 500 } }, { lazyConnect: true });
    expect(redis).toBeInstanceOf(Redis);
    const copy = duplicateRedis(redis, { lazyConnect: true }) as Redis;
    expect(copy).toBeInstanceOf(Redis);
    expect(copy.options).toMatchObject({ port: 6390, db: 2 });
    copy.disconnect();
    redis.disconnect();
  });
});
