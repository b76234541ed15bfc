import { randomBytes } from 'node:crypto';
import { Redis } from 'ioredis';
import { afterAll, describe, expect, inject, it } from 'vitest';
import { createDecisionTimes, STATS_WINDOW_MS } from '../../src/store/decision-times.js';

const redis = new Redis(inject('redisUrl'));
afterAll(() => redis.disconnect());

const NOW = Date.UTC(2026, 10, 30, 12);

describe('decision times', () => {
  it('keeps the times of the last 7 days per route, each approval once', async () => {
    const prefix = `times-${randomBytes(4).toString('hex')}`;
    const times = createDecisionTimes(redis, prefix);
    await times.record('prod', 'ap1', 60, NOW - STATS_WINDOW_MS - 1000);
    await times.record('prod', 'ap2', 120.4, NOW - 1000);
    await times.record('prod', 'ap2', 120.4, NOW - 1000);
    await times.record('default', 'ap3', 5, NOW);
    const found = await times.within(['prod', 'default', 'none'], NOW);
    expect(Object.fromEntries(found)).toEqual({ prod: [120], default: [5], none: [] });
  });

  it('is bounded: past its cap a route keeps the newest, and the key expires', async () => {
    const prefix = `times-${randomBytes(4).toString('hex')}`;
    const times = createDecisionTimes(redis, prefix, 3);
    for (let i = 0; i < 6; i += 1) await times.record('prod', `ap${i}`, i, NOW - 6000 + i * 1000);
    expect((await times.within(['prod'], NOW)).get('prod')).toEqual([3, 4, 5]);
    expect(await redis.pttl(`${prefix}:decision-times:prod`)).toBeGreaterThan(STATS_WINDOW_MS);
  });
});
