import { createServer, type Server } from 'node:http';
import { once } from 'node:events';
import type { AddressInfo } from 'node:net';
import { WebClient } from '@slack/web-api';
import { Redis } from 'ioredis';
import { afterEach, describe, expect, it } from 'vitest';
import { createReadiness, type Readiness, type ReadinessOptions } from '../../src/ops/health.js';
import { createLogger } from '../../src/ops/logger.js';
import { SlackEmulator } from '../../sandbox/slack-emulator.js';
import { startRedisServer } from '../../sandbox/redis-server.js';
import { waitFor } from '../helpers/wait.js';

/** /healthz says the process is alive; /readyz that it can serve: Redis answers and Slack's auth.test succeeded recently. */

const TOKEN = 'xoxb-health';
const cleanups: (() => Promise<unknown> | void)[] = [];
afterEach(async () => {
  for (const cleanup of cleanups.splice(0).reverse()) await cleanup();
});

/** The readiness routes served over HTTP, as Bolt serves its custom routes, against a private Redis and the emulator. */
async function serve(options: Partial<ReadinessOptions> = {}) {
  const redisServer = await startRedisServer();
  cleanups.push(() => redisServer.stop());
  const emulator = await new SlackEmulator({ botToken: TOKEN }).start();
  cleanups.push(() => emulator.stop());
  // As main.ts connects: commands wait for a reconnect rather than fail.
  const redis = new Redis(redisServer.url, { maxRetriesPerRequest: null });
  redis.on('error', () => undefined);
  cleanups.push(() => redis.disconnect());
  const slack = new WebClient(TOKEN, { slackApiUrl: emulator.apiUrl, retryConfig: { retries: 0 }, rejectRateLimitedCalls: true });
  const readiness: Readiness = createReadiness({ redis, slack, log: createLogger('silent'), verifiedAt: Date.now(), ...options });
  cleanups.push(() => readiness.close());
  const server: Server = createServer((req, res) => {
    const route = readiness.routes.find((r) => r.path === req.url);
    if (!route) return void res.writeHead(404).end();
    void route.handler(req as never, res as never);
  }).listen(0, '127.0.0.1');
  await once(server, 'listening');
  cleanups.push(() => new Promise((resolve) => server.close(resolve)));
  const base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  const get = async (path: string) => {
    const response = await fetch(base + path);
    return { status: response.status, body: (await response.json()) as Record<string, string> };
  };
  await redis.ping();
  return { redisServer, emulator, get };
}

describe('liveness and readiness', () => {
  it('a Redis outage makes /readyz 503 and it is 200 again once Redis is back, without a restart; /healthz stays 200', async () => {
    const { redisServer, get } = await serve();
    expect(await get('/readyz')).toEqual({ status: 200, body: { status: 'ok', redis: 'ok', slack: 'ok' } });

    await redisServer.kill();
    const down = await waitFor('/readyz to report Redis down', async () => {
      const answer = await get('/readyz');
      return answer.status === 503 && answer;
    });
    expect(down.body).toEqual({ status: 'unavailable', redis: 'unreachable', slack: 'ok' });
    expect(await get('/healthz')).toEqual({ status: 200, body: { status: 'ok' } });

    await redisServer.restart();
    await waitFor('/readyz to report Redis back', async () => (await get('/readyz')).status === 200, 20_000);
  }, 40_000);

  it('/readyz is 503 once auth.test has failed for longer than it stays fresh, and 200 again after it succeeds', async () => {
    const { emulator, get } = await serve({ recheckMs: 100, freshForMs: 1000 });
    emulator.injectFaults('auth.test', ...Array.from({ length: 40 }, () => ({ status: 503 })));
    // One failed re-check does not take the bot out of service…
    await waitFor('a failed re-check', () => emulator.callsOf('auth.test').some((call) => call.answered === 'HTTP 503'));
    expect((await get('/readyz')).status).toBe(200);
    // …failing for longer than freshForMs does.
    const stale = await waitFor('/readyz to report Slack unverified', async () => {
      const answer = await get('/readyz');
      return answer.status === 503 && answer;
    });
    expect(stale.body).toEqual({ status: 'unavailable', redis: 'ok', slack: 'unverified' });
    await waitFor('/readyz once auth.test succeeds again', async () => (await get('/readyz')).status === 200, 10_000);
  });

  it('a token Slack refuses makes /readyz 503 at the next re-check, naming the error', async () => {
    const { emulator, get } = await serve({ recheckMs: 100, freshForMs: 60_000 });
    emulator.injectFaults('auth.test', { error: 'token_revoked' });
    const refused = await waitFor('/readyz to report the refusal', async () => {
      const answer = await get('/readyz');
      return answer.status === 503 && answer;
    });
    expect(refused.body).toEqual({ status: 'unavailable', redis: 'ok', slack: 'token_revoked' });
  });
});
