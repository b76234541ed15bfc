import type { CustomRoute } from '@slack/bolt';
import { collectDefaultMetrics, Counter, Gauge, Histogram, Registry } from 'prom-client';
import { withTimeout } from './with-timeout.js';

/**
 * Prometheus metrics at `GET /metrics`: every refusal by reason (the identity and binding checks at
 * work), every decision recorded by outcome, how long requests wait for a card and cards for a
 * decision, escalations and expiries, the approvals pending, and Node's process metrics.
 */

// Seconds: a card is posted within seconds; a decision takes from seconds to days.
const CARD_BUCKETS = [0.1, 0.25, 0.5, 1, 2, 5, 10, 30, 60, 300];
const DECISION_BUCKETS = [10, 30, 60, 120, 300, 600, 1800, 3600, 7200, 14_400, 43_200, 86_400, 259_200, 604_800];

export interface Metrics {
  registry: Registry;
  /** A click, modal submit or typed confirmation that decided nothing, and why. */
  refusals: Counter<'reason' | 'action'>;
  /** A decision recorded (once per approval): approved, denied, stale or expired. */
  decisions: Counter<'decision'>;
  /** Seconds from the request's enqueueing to its card recorded, by route and outcome (posted, recovered). */
  requestToCard: Histogram<'route' | 'outcome'>;
  /** Seconds from the card posted to the decision recorded, by route and outcome (approved, denied, stale, expired). */
  cardToDecision: Histogram<'route' | 'outcome'>;
  /** Escalations posted, by route. */
  escalations: Counter<'route'>;
  /** Approvals ended as expired, by route. */
  expiries: Counter<'route'>;
}

export function createMetrics(): Metrics {
  const registry = new Registry();
  collectDefaultMetrics({ register: registry });
  return {
    registry,
    refusals: new Counter({
      name: 'approval_gate_refusals_total',
      help: 'Clicks and modal submits that decided nothing, by reason (unauthorized, guest, external_team, stale_card, typed_mismatch, unverified, …).',
      labelNames: ['reason', 'action'],
      registers: [registry],
    }),
    decisions: new Counter({
      name: 'approval_gate_decisions_total',
      help: 'Decisions recorded, by outcome (approved, denied, stale, expired).',
      labelNames: ['decision'],
      registers: [registry],
    }),
    requestToCard: new Histogram({
      name: 'approval_gate_request_to_card_seconds',
      help: 'Seconds from a request enqueued to its card posted and recorded, by route and outcome (posted, recovered).',
      labelNames: ['route', 'outcome'],
      buckets: CARD_BUCKETS,
      registers: [registry],
    }),
    cardToDecision: new Histogram({
      name: 'approval_gate_card_to_decision_seconds',
      help: 'Seconds from a card posted to its decision recorded, by route and outcome (approved, denied, stale, expired).',
      labelNames: ['route', 'outcome'],
      buckets: DECISION_BUCKETS,
      registers: [registry],
    }),
    escalations: new Counter({ name: 'approval_gate_escalations_total', help: 'Escalations posted in a card\'s thread, by route.', labelNames: ['route'], registers: [registry] }),
    expiries: new Counter({ name: 'approval_gate_expiries_total', help: 'Approvals ended as expired, by route.', labelNames: ['route'], registers: [registry] }),
  };
}

/** What the pending gauges read on each scrape: how many approvals wait, and when the oldest was requested (ms). */
export type PendingReader = () => Promise<{ count: number; oldestCreatedAt?: number }>;

/**
 * `approval_gate_pending_approvals` and `approval_gate_oldest_pending_age_seconds`, read from Redis
 * on each scrape, within `deadlineMs`: when Redis does not answer in time both read NaN in that
 * scrape (never a stale or made-up value), and the rest of the metrics are still served.
 */
export function registerPendingGauges(metrics: Metrics, read: PendingReader, deadlineMs = 1000, now: () => number = Date.now): void {
  let last: Promise<{ count: number; oldestCreatedAt?: number } | undefined> | undefined;
  // Both gauges are collected in one scrape: one read serves both.
  const reading = () => (last ??= withTimeout(read(), deadlineMs, `Redis did not answer within ${deadlineMs} ms`).catch(() => undefined).finally(() => setTimeout(() => (last = undefined), 0)));
  new Gauge({
    name: 'approval_gate_pending_approvals',
    help: 'Approvals waiting for a decision (NaN when Redis did not answer within 1 s of the scrape).',
    registers: [metrics.registry],
    async collect() {
      const pending = await reading();
      this.set(pending ? pending.count : NaN);
    },
  });
  new Gauge({
    name: 'approval_gate_oldest_pending_age_seconds',
    help: 'Seconds since the oldest approval still waiting was requested; 0 when none waits.',
    registers: [metrics.registry],
    async collect() {
      const pending = await reading();
      if (!pending) this.set(NaN);
      else this.set(pending.oldestCreatedAt === undefined ? 0 : Math.max(0, (now() - pending.oldestCreatedAt) / 1000));
    },
  });
}

/** `GET /metrics` in Prometheus' text format. */
export function createMetricsRoute(metrics: Metrics): CustomRoute {
  return {
    path: '/metrics',
    method: ['GET'],
    handler: (_req, res) => {
      void metrics.registry.metrics().then(
        (text) => {
          res.writeHead(200, { 'content-type': metrics.registry.contentType });
          res.end(text);
        },
        (err: unknown) => {
          res.writeHead(500, { 'content-type': 'text/plain' });
          res.end(`could not collect metrics: ${String(err)}`);
        },
      );
    },
  };
}
