import type { CustomRoute } from '@slack/bolt';
import type { Redis } from 'ioredis';
import { withTimeout } from './with-timeout.js';

const PING_TIMEOUT_MS = 1000;

/** `GET /healthz`: 200 when Redis answers a PING within a second, 503 otherwise. */
export function createHealthRoute(redis: Redis): CustomRoute {
  return {
    path: '/healthz',
    method: ['GET'],
    handler: (_req, res) => {
      void isRedisReachable(redis).then((reachable) => {
        res.writeHead(reachable ? 200 : 503, { 'content-type': 'application/json' });
        res.end(JSON.stringify(reachable ? { status: 'ok' } : { status: 'unavailable', redis: 'unreachable' }));
      });
    },
  };
}

async function isRedisReachable(redis: Redis): Promise<boolean> {
  if (redis.status !== 'ready') return false;
  // An error or a timeout here is the answer: Redis is not reachable.
  return withTimeout(redis.ping(), PING_TIMEOUT_MS, 'PING timed out').then(
    (reply) => reply === 'PONG',
    () => false,
  );
}
