/**
 * How fast the bot calls Slack's rate-limited write methods, for send turns (store/send-turns.ts).
 * Slack's limits (https://docs.slack.dev/apis/web-api/rate-limits): chat.postMessage allows "one
 * message per second per channel" with short bursts, plus a workspace-wide limit; chat.update is
 * Tier 3, "50+ per minute" per method per workspace, with bursts. Over a limit Slack answers 429
 * with `Retry-After` (seconds) and does nothing.
 */
export interface Pace {
  /** What the limit applies to: `chat.postMessage:<channel>`, `chat.update`. */
  scope: string;
  /** The time between two calls in the scope (ms). */
  intervalMs: number;
  /** How many calls may go at once after a quiet spell. */
  burst: number;
}

/**
 * chat.postMessage to one channel: a message every 1.05 s, no bursts. The 5 % over Slack's one a
 * second absorbs network jitter between our clock (Redis TIME) and Slack's, so that a card posted
 * a little late and the next one on time are not refused.
 */
export function postMessagePace(channel: string): Pace {
  return { scope: `chat.postMessage:${channel}`, intervalMs: 1050, burst: 1 };
}

/**
 * chat.update in the workspace: 50 a minute on average (Tier 3), with bursts of up to 20 cards updated
 * at once (a burst of clicks), so that no minute sees more than about 70.
 */
export const UPDATE_PACE: Pace = { scope: 'chat.update', intervalMs: 1200, burst: 20 };
