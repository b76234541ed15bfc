import type { CustomRoute } from '@slack/bolt';
import type { Redis } from 'ioredis';

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
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<false>((resolve) => {
    timer = setTimeout(() => resolve(false), PING_TIMEOUT_MS);
  });
  try {
    return await Promise.race([redis.ping().then((reply) => reply === 'PONG'), timeout]);
  } catch {
    // An error here is the answer: Redis is not reachable.
    return false;
  } finally {
    clearTimeout(timer);
  }
}
