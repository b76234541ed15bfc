import { Redis } from 'ioredis';
import { describe, expect, inject, it } from 'vitest';
import { assessRedisSettings, loadRedisSettings } from '../../src/ops/redis-settings.js';

describe('Redis settings check at start-up', () => {
  it('is quiet when Redis is set up as BullMQ asks', () => {
    expect(assessRedisSettings({ maxmemoryPolicy: 'noeviction', appendonly: 'yes' })).toEqual([]);
  });

  it('warns about an eviction policy other than noeviction', () => {
    const [warning] = assessRedisSettings({ maxmemoryPolicy: 'allkeys-lru', appendonly: 'yes' });
    expect(warning).toContain('maxmemory-policy is "allkeys-lru": set it to "noeviction"');
  });

  it('warns when AOF is off', () => {
    expect(assessRedisSettings({ maxmemoryPolicy: 'noeviction', appendonly: 'no' })).toEqual([expect.stringContaining('AOF persistence is off')]);
  });

  it('warns about what it could not read', () => {
    expect(assessRedisSettings({ maxmemoryPolicy: undefined, appendonly: undefined })).toEqual([
      expect.stringContaining('could not read maxmemory-policy'),
      expect.stringContaining('could not read appendonly'),
    ]);
  });

  it('reads the settings from a real server', async () => {
    const redis = new Redis(inject('redisUrl'));
    try {
      expect(await loadRedisSettings(redis)).toEqual({ maxmemoryPolicy: 'noeviction', appendonly: 'no' });
    } finally {
      redis.disconnect();
    }
  });
});
