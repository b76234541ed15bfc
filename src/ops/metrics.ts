import type { CustomRoute } from '@slack/bolt';
import { collectDefaultMetrics, Counter, Registry } from 'prom-client';

/**
 * Prometheus metrics at `GET /metrics`: every refusal by reason (the identity and binding checks at
 * work), every decision recorded by outcome, and Node's process metrics.
 */

export interface Metrics {
  registry: Registry;
  /** A click, modal submit or typed confirmation that decided nothing, and why. */
  refusals: Counter<'reason' | 'action'>;
  /** A decision recorded (once per approval): approved, denied, stale or expired. */
  decisions: Counter<'decision'>;
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
  };
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
