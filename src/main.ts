import { hostname } from 'node:os';
import { createPublicKey, randomBytes } from 'node:crypto';
import { App, HTTPReceiver, SocketModeReceiver } from '@slack/bolt';
import { WebClient, type WebClientOptions } from '@slack/web-api';
import { ConfigError, loadConfig, timersQueueOf, type Config, type RedisTarget } from './ops/config.js';
import { createRedis, describeRedisTarget, duplicateRedis, type RedisClient } from './ops/redis-connection.js';
import { createReadiness } from './ops/health.js';
import { createMetrics, createMetricsRoute, registerPendingGauges } from './ops/metrics.js';
import { createDecisionTimes } from './store/decision-times.js';
import { createUserDirectory } from './decide/user-directory.js';
import { processClick, registerButtons } from './decide/buttons.js';
import { createClickInbox } from './decide/click-inbox.js';
import { answerRefusedOverHttp, answerRefusedOverSocket, createRequestGuard, httpRequestProperties, RequestRefusedError, socketRequestProperties } from './decide/request-guard.js';
import { createInbox } from './store/inbox.js';
import { createRequestMemory } from './store/request-memory.js';
import { registerCommands } from './decide/commands.js';
import { createChannelDirectory } from './decide/channel-visibility.js';
import { registerModals } from './decide/modals.js';
import { registerViewJob } from './decide/view-job.js';
import { createApproverDirectory } from './decide/approver-directory.js';
import { createAudit } from './store/audit.js';
import { createRequestWorker } from './intake/request-worker.js';
import { createLogger, toSlackLogger, type Logger } from './ops/logger.js';
import { createOutbox } from './store/outbox.js';
import { createReplicaWait } from './store/replica-wait.js';
import { createRequesterNotices } from './intake/requester-notice.js';
import { assessRedisSettings, loadRedisSettings, redactRedisUrl } from './ops/redis-settings.js';
import { classifySlackError } from './ops/slack-errors.js';
import { matchRoute, type Route } from './domain/routes.js';
import type { ApprovalRecord } from './domain/approval.js';
import type { Decision } from './domain/contract.js';
import { loadRoutes, RoutesConfigError } from './ops/load-routes.js';
import { createStore } from './store/store.js';
import { createSendTurns } from './store/send-turns.js';
import { createTimers } from './intake/timers.js';
import { moveLegacyTimers } from './intake/legacy-timers.js';
import { createDueTimes } from './store/due-times.js';
import type { BotIdentity } from './intake/find-posted-card.js';
import { withTimeout } from './ops/with-timeout.js';

/** The composition root: config → logger → Redis → Slack → workers and the Bolt app; graceful shutdown. */

const REDIS_READY_TIMEOUT_MS = 10_000;
const SHUTDOWN_TIMEOUT_MS = 10_000;
const POST_LEASE_MS = 10_000;

async function main(): Promise<void> {
  let config: Config;
  try {
    config = loadConfig();
  } catch (err) {
    if (!(err instanceof ConfigError)) throw err;
    process.stderr.write(`approval-gate cannot start: ${err.message.split('\n').join('\n  ')}\n`);
    process.exit(1);
  }
  let routes: Route[];
  try {
    routes = loadRoutes(config);
  } catch (err) {
    if (!(err instanceof RoutesConfigError)) throw err;
    process.stderr.write(`approval-gate cannot start: APPROVALS_CONFIG is not valid:\n  ${err.message.split('\n').join('\n  ')}\n`);
    process.exit(1);
  }
  const log = createLogger(config.logLevel);
  const mode = config.slack.appToken ? 'socket' : 'http';

  // One connection for our state and BullMQ's queue commands; workers open their own blocking ones.
  // maxRetriesPerRequest null: commands wait for a reconnect instead of failing mid-flow.
  const redis = createRedis(config.redis, { maxRetriesPerRequest: null, lazyConnect: true });
  redis.on('error', (err) => log.warn({ err: err.message }, 'redis connection error'));
  await connectRedis(redis, config.redis, log);
  // What comes before Slack's acknowledgement (the request memory, the click inbox) has a connection
  // of its own, so it never waits behind the work of clicks and requests in flight.
  const front = duplicateRedis(redis, { lazyConnect: false });
  front.on('error', (err) => log.warn({ err: err.message }, 'redis connection error'));
  for (const warning of assessRedisSettings(await loadRedisSettings(redis))) log.warn({ component: 'redis' }, warning);

  const slackLogger = toSlackLogger(log, 'slack');
  const clientOptions: WebClientOptions = {
    ...(config.slack.apiUrl ? { slackApiUrl: config.slack.apiUrl } : {}),
    // Retries are BullMQ delays of our own (crash-safe, Retry-After honoured): the client must not retry.
    retryConfig: { retries: 0 },
    rejectRateLimitedCalls: true,
    timeout: 10_000,
    logger: slackLogger,
  };
  const slack = new WebClient(config.slack.botToken, clientOptions);
  const { teamId: homeTeamId, own } = await verifyBotToken(slack, log);
  if (!config.routesFile && !config.approvalsChannel) log.warn('APPROVALS_CHANNEL is not set: requests that name no channel will fail');
  for (const route of routes.filter((r) => r.approvers === 'anyone')) {
    const fix = config.routesFile ? `list its approvers in ${config.routesFile}` : 'set APPROVERS to the Slack user IDs who may decide';
    log.warn({ route: route.name }, `route "${route.name}" lets anyone who can see a card approve or deny it (${fix})`);
  }

  const metrics = createMetrics();
  const readiness = createReadiness({ redis, probeKey: config.policySnapshotKey, slack, log, verifiedAt: Date.now() });
  const customRoutes = [...readiness.routes, createMetricsRoute(metrics)];
  // Bolt's own receivers, given what the request guard needs: the signed timestamp and signature
  // (HTTP) or the envelope id (Socket Mode), and an answer for the requests it refuses.
  const receiver =
    mode === 'socket'
      ? new SocketModeReceiver({
          appToken: config.slack.appToken!,
          logger: slackLogger,
          // The Socket Mode client has a Web API client of its own (apps.connections.open): same options, same SLACK_API_URL.
          installerOptions: { port: config.port, clientOptions },
          customRoutes,
          customPropertiesExtractor: socketRequestProperties,
          processEventErrorHandler: answerRefusedOverSocket,
        })
      : new HTTPReceiver({
          signingSecret: config.slack.signingSecret!,
          logger: slackLogger,
          customRoutes,
          customPropertiesExtractor: httpRequestProperties,
          processEventErrorHandler: answerRefusedOverHttp,
        });
  const app = new App({ token: config.slack.botToken, logger: slackLogger, clientOptions, receiver, ...(mode === 'socket' ? { socketMode: true } : {}) });
  app.error(async (error) => {
    // Refused by the request guard: logged there; the receiver answers it (401, or an acknowledgement).
    if (error instanceof RequestRefusedError) throw error;
    log.error({ err: error.message, code: error.code }, 'unhandled error in a Slack listener');
  });
  app.use(createRequestGuard({ memory: createRequestMemory(front, config.statePrefix), metrics, log }));

  const store = createStore(redis, {
    prefix: config.statePrefix,
    audit: config.audit,
    retentionSec: config.approvalRetentionSec,
    tombstoneSec: config.decisionTombstoneSec,
    leaseMs: POST_LEASE_MS,
    onDecisionRecorded: (decision, record) => recordDecisionTime(decision, record),
  });
  registerPendingGauges(metrics, () => store.pendingSummary());
  const decisionTimes = createDecisionTimes(redis, config.statePrefix);
  // Counted and timed once per approval (the store tells of the decision it recorded first).
  function recordDecisionTime(decision: Decision, record: ApprovalRecord | undefined): void {
    metrics.decisions.inc({ decision: decision.decision });
    if (!record) return;
    const route = matchRoute(routes, record.request).name;
    if (decision.decision === 'expired') metrics.expiries.inc({ route });
    if (record.postedAt === undefined) return;
    const decidedAt = Date.parse(decision.decided_at);
    const seconds = Math.max(0, (decidedAt - record.postedAt) / 1000);
    metrics.cardToDecision.observe({ route, outcome: decision.decision }, seconds);
    if (decision.decision !== 'approved' && decision.decision !== 'denied') return;
    decisionTimes.record(route, record.id, seconds, decidedAt).catch((err: unknown) => log.warn({ err: String(err), route }, 'could not record the time to decision for /approvals stats'));
  }
  const directory = createApproverDirectory(slack);
  const notices = createRequesterNotices({ slack, store, log });
  const turns = createSendTurns(redis, { prefix: config.statePrefix });
  const outbox = createOutbox({
    turns,
    connection: redis,
    queueName: config.queues.resume,
    queuePrefix: config.queues.prefix,
    retentionSec: config.approvalRetentionSec,
    signingKey: config.decisionSigning,
    store,
    slack,
    onSettled: (record) => notices.ended(record),
    // The store records on `redis`: WAIT on it covers the ending and everything before it.
    waitForReplicas: createReplicaWait(redis, { ...config.redis.waitReplicas, log }),
    log,
  });
  const actionDeps = {
    store,
    audit: createAudit(redis, config.audit),
    users: createUserDirectory(slack),
    homeTeamId,
    outbox,
    slack,
    routes,
    directory,
    policySnapshotKey: config.policySnapshotKey,
    metrics,
    log,
  };
  const clicks = createClickInbox({
    inbox: createInbox(front, { prefix: config.statePrefix, consumer: `${hostname()}:${process.pid}:${randomBytes(3).toString('hex')}` }),
    process: (click, respond, delivery) => processClick(actionDeps, click, respond, delivery),
    log,
  });
  registerButtons(app, { ...actionDeps, clicks });
  const due = createDueTimes(redis, config.statePrefix);
  // Only timers left by an earlier version are there; an ACL without that queue's keys must not stop the bot.
  await moveLegacyTimers({ connection: redis, queueName: timersQueueOf(config.queues.request), queuePrefix: config.queues.prefix, due, log }).catch((err: unknown) =>
    log.warn({ err: String(err) }, 'could not look for timers left on the earlier timer queue; approvals an earlier version left pending may not expire on time (a click still refuses them after their expiry)'),
  );
  const timers = createTimers({
    turns,
    due,
    routes,
    store,
    outbox,
    slack,
    own,
    policySnapshotKey: config.policySnapshotKey,
    log,
    onEscalated: (route) => metrics.escalations.inc({ route }),
  });
  registerModals(app, actionDeps);
  registerViewJob(app, actionDeps);
  registerCommands(app, { store, decisionTimes, slack, routes, directory, users: actionDeps.users, channels: createChannelDirectory(slack, { log }), homeTeamId, log });
  // Requests are fetched on a connection of their own: a large one (a huge one is read whole before
  // it can be refused) must not hold up the clicks' Redis commands queued behind it on `redis`.
  const intakeRedis = duplicateRedis(redis);
  intakeRedis.on('error', (err) => log.warn({ err: err.message }, 'redis connection error (intake)'));
  const intake = createRequestWorker({
    connection: intakeRedis,
    queueName: config.queues.request,
    queuePrefix: config.queues.prefix,
    concurrency: config.intakeConcurrency,
    routes,
    store,
    outbox,
    timers,
    notices,
    slack,
    own,
    turns,
    policySnapshotKey: config.policySnapshotKey,
    log,
    onCardPosted: (route, outcome, seconds) => metrics.requestToCard.observe({ route, outcome }, seconds),
  });

  await listen(app, config.port, log);
  // The public key is what engines verify decisions with: shown so an operator can hand it on.
  const publicKey = createPublicKey(config.decisionSigning.privateKey).export({ type: 'spki', format: 'pem' }).toString();
  log.info({ key_id: config.decisionSigning.keyId, public_key: publicKey }, 'decisions are signed');
  log.info({ mode, port: config.port, request_queue: config.queues.request }, 'approval gate started');

  let stopping = false;
  const shutdown = async (signal: string) => {
    if (stopping) return;
    stopping = true;
    log.info({ signal }, 'shutting down: finishing requests in flight');
    // worker.close() waits for jobs in flight and can hang while Redis is unreachable: bound it.
    const closed = await withTimeout(Promise.all([intake.close(), timers.close(), outbox.close(), clicks.close()]).then(() => app.stop()), SHUTDOWN_TIMEOUT_MS, 'shutdown timed out').then(
      () => true,
      () => false,
    );
    if (!closed) log.warn({ timeout_ms: SHUTDOWN_TIMEOUT_MS }, 'shutdown timed out; jobs in flight will be picked up again');
    readiness.close();
    redis.disconnect();
    intakeRedis.disconnect();
    front.disconnect();
    log.info('stopped');
    process.exit(closed ? 0 : 1);
  };
  process.on('SIGTERM', () => void shutdown('SIGTERM'));
  process.on('SIGINT', () => void shutdown('SIGINT'));
}

/** Starts the Bolt app on PORT; a port that cannot be used stops start-up with one line. */
async function listen(app: App, port: number, log: Logger): Promise<void> {
  try {
    await app.start(port);
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    if (code !== 'EADDRINUSE' && code !== 'EACCES') throw err;
    const why = code === 'EADDRINUSE' ? 'it is in use (EADDRINUSE); stop what uses it' : 'this user may not bind it (EACCES); use a port above 1023';
    log.fatal(`cannot listen on PORT ${port}: ${why} or set PORT to a free port`);
    process.exit(1);
  }
}

async function connectRedis(redis: RedisClient, target: RedisTarget, log: Logger): Promise<void> {
  const connected = await withTimeout(redis.connect(), REDIS_READY_TIMEOUT_MS, 'Redis did not answer').then(
    () => true,
    () => false,
  );
  if (!connected) {
    const check = target.cluster
      ? 'REDIS_CLUSTER_NODES, the user and password in REDIS_URL, and that the cluster is up (CLUSTER INFO: cluster_state:ok)'
      : target.sentinel
        ? 'REDIS_SENTINELS, REDIS_SENTINEL_NAME and that the Sentinels and the primary are running'
        : 'REDIS_URL and that the server is running';
    log.fatal({ redis: describeRedisTarget(target, redactRedisUrl) }, `cannot reach Redis: check ${check}`);
    process.exit(1);
  }
}

/** @returns the bot's workspace id, and who it is (its bot id and bot user id). */
async function verifyBotToken(slack: WebClient, log: Logger): Promise<{ teamId: string; own: BotIdentity }> {
  try {
    const auth = await slack.auth.test();
    log.info({ team_id: auth.team_id, bot_user_id: auth.user_id, bot_id: auth.bot_id }, 'connected to Slack');
    // A user token has no bot id: the bot could not tell its own cards from others'.
    if (auth.bot_id && auth.user_id) return { teamId: String(auth.team_id), own: { botId: auth.bot_id, userId: auth.user_id } };
    log.fatal('SLACK_BOT_TOKEN is not a bot token (auth.test returned no bot_id): use the app\'s Bot User OAuth Token (xoxb-…)');
    process.exit(1);
  } catch (err) {
    const fault = classifySlackError(err);
    if (fault.kind === 'permanent') {
      log.fatal({ slack_error: fault.error }, `Slack refused SLACK_BOT_TOKEN (auth.test: ${fault.error}): ${fault.hint}`);
    } else {
      log.fatal({ slack_error: fault.error, slack_api_url: slack.slackApiUrl }, 'could not reach the Slack API (auth.test): check the network and SLACK_API_URL');
    }
    process.exit(1);
  }
}

main().catch((err: unknown) => {
  process.stderr.write(`approval-gate crashed: ${err instanceof Error ? (err.stack ?? err.message) : String(err)}\n`);
  process.exit(1);
});
