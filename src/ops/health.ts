import type { CustomRoute } from '@slack/bolt';
import type { WebClient } from '@slack/web-api';
import type { RedisClient } from './redis-connection.js';
import type { Logger } from './logger.js';
import { classifySlackError } from './slack-errors.js';
import { withTimeout } from './with-timeout.js';

const PING_TIMEOUT_MS = 1000;
const AUTH_TEST_TIMEOUT_MS = 5000;

/** How readiness checks Slack. */
export interface ReadinessOptions {
  redis: RedisClient;
  /**
   * A key in the gate's slot (say POLICY_SNAPSHOT_KEY): readiness reads it (EXISTS) rather than
   * sending PING, so that in a Redis Cluster it is the node serving the gate's slot that must
   * answer, and a cluster that is down (CLUSTERDOWN) or lost that slot makes the bot not ready.
   * @defaultValue none: PING
   */
  probeKey?: string;
  slack: WebClient;
  log: Logger;
  /** When the bot's token last passed auth.test (ms), e.g. at start-up. */
  verifiedAt?: number;
  /** How often auth.test is called again in the background (ms). @defaultValue 60000 */
  recheckMs?: number;
  /**
   * How long one successful auth.test keeps the bot ready (ms), so that one failed re-check (a
   * network blip, a 429) does not take it out of service. A token Slack refuses (invalid_auth,
   * revoked…) makes it not ready at once. @defaultValue three re-checks
   */
  freshForMs?: number;
}

export interface Readiness {
  /** `GET /healthz` (liveness) and `GET /readyz` (readiness), for Bolt's `customRoutes`. */
  routes: CustomRoute[];
  /** Stops the background re-checks. */
  close(): void;
}

/**
 * Liveness and readiness.
 * - `/healthz`: 200 `{"status":"ok"}` while the process serves HTTP at all: restart it when this fails.
 * - `/readyz`: 200 when Redis answers a PING (or a read of `probeKey`) within a second and Slack's auth.test succeeded
 *   recently (see {@link ReadinessOptions.freshForMs}); 503 otherwise, saying which. It follows Redis
 *   going and coming back without a restart.
 */
export function createReadiness(options: ReadinessOptions): Readiness {
  const recheckMs = options.recheckMs ?? 60_000;
  const freshForMs = options.freshForMs ?? 3 * recheckMs;
  let verifiedAt = options.verifiedAt;
  let refusal: string | undefined;
  let lastProblem: string | undefined;
  const recheck = async () => {
    try {
      await withTimeout(options.slack.auth.test(), AUTH_TEST_TIMEOUT_MS, 'auth.test timed out');
      verifiedAt = Date.now();
      refusal = undefined;
      if (lastProblem !== undefined) options.log.info('Slack auth.test succeeds again');
      lastProblem = undefined;
    } catch (err) {
      const fault = classifySlackError(err);
      if (fault.kind === 'permanent') refusal = fault.error;
      // Logged when it changes, not once a minute.
      if (fault.error !== lastProblem) options.log.warn({ slack_error: fault.error }, 'Slack auth.test failed (readiness check)');
      lastProblem = fault.error;
    }
  };
  const timer = setInterval(() => void recheck(), recheckMs);
  timer.unref();
  const slackState = () => {
    if (refusal !== undefined) return refusal;
    return verifiedAt !== undefined && Date.now() - verifiedAt <= freshForMs ? 'ok' : 'unverified';
  };
  return {
    routes: [
      {
        path: '/healthz',
        method: ['GET'],
        handler: (_req, res) => {
          res.writeHead(200, { 'content-type': 'application/json' });
          res.end(JSON.stringify({ status: 'ok' }));
        },
      },
      {
        path: '/readyz',
        method: ['GET'],
        handler: (_req, res) => {
          void isRedisReachable(options.redis, options.probeKey).then((reachable) => {
            const slack = slackState();
            const ready = reachable && slack === 'ok';
            res.writeHead(ready ? 200 : 503, { 'content-type': 'application/json' });
            res.end(JSON.stringify({ status: ready ? 'ok' : 'unavailable', redis: reachable ? 'ok' : 'unreachable', slack }));
          });
        },
      },
    ],
    close: () => clearInterval(timer),
  };
}

async function isRedisReachable(redis: RedisClient, probeKey: string | undefined): Promise<boolean> {
  if (redis.status !== 'ready') return false;
  // An error or a timeout here is the answer: Redis is not reachable.
  const probe = probeKey === undefined ? redis.ping().then((reply) => reply === 'PONG') : redis.exists(probeKey).then(() => true);
  return withTimeout(probe, PING_TIMEOUT_MS, 'Redis did not answer').then(
    (answered) => answered,
    () => false,
  );
}
