import { renderSpan } from './cards.js';
import { literalLine } from './mrkdwn.js';

/** One route's decisions in the window: how many, and the median and 90th percentile time to decision (s). */
export interface RouteStats {
  route: string;
  decided: number;
  medianSec?: number;
  p90Sec?: number;
}

/** The `p`th percentile (0–100) of `values` by nearest rank; undefined for none. */
export function percentile(values: readonly number[], p: number): number | undefined {
  if (values.length === 0) return undefined;
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.min(sorted.length - 1, Math.max(0, Math.ceil((p / 100) * sorted.length) - 1))];
}

/** A route's stats from its times to decision (s). */
export function routeStats(route: string, seconds: readonly number[]): RouteStats {
  const median = percentile(seconds, 50);
  const p90 = percentile(seconds, 90);
  return { route, decided: seconds.length, ...(median !== undefined ? { medianSec: median } : {}), ...(p90 !== undefined ? { p90Sec: p90 } : {}) };
}

/**
 * The reply to `/approvals stats`: for each route the caller may decide on, how many approvals were
 * approved or denied in the last 7 days and how long they took from card to decision. Route names
 * come from the routes file (trusted), shown literally all the same.
 */
export function renderDecisionStats(stats: readonly RouteStats[]): string {
  if (stats.length === 0) return 'You are not an approver on any route, so there are no decision times to show.';
  const lines = stats.map((s) =>
    s.decided === 0
      ? `• *${literalLine(s.route, 100)}*: nothing decided`
      : `• *${literalLine(s.route, 100)}*: ${s.decided} decided · median ${renderSpan(s.medianSec! * 1000)} · 90th percentile ${renderSpan(s.p90Sec! * 1000)}`,
  );
  return ['*Time from card to decision, last 7 days* (approved or denied, on the routes you may decide on):', ...lines.slice(0, 40)].join('\n');
}

