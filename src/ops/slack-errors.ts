/**
 * What a failed Slack Web API call means for the request: try again later, or never.
 * @slack/web-api is configured not to retry by itself (see `slackClientOptions`), so every
 * retry is a BullMQ delay that survives a crash and honours Retry-After.
 */
export type SlackFault =
  | {
      kind: 'transient';
      error: string;
      /** Slack's Retry-After (ms, at most MAX_RETRY_AFTER_MS), when it gave one. */
      retryAfterMs?: number;
      /** True when Slack surely did nothing (a 429); false when the call may have gone through. */
      certainlyNotApplied: boolean;
      /** Slack's rate limit (429, `ratelimited`): a wait, not a failure. */
      rateLimited: boolean;
    }
  | { kind: 'permanent'; error: string; hint: string }
  /**
   * Not raised by Slack's client at all: a bug in the bot, or a request it should have refused
   * (a RangeError while the card is built). Retrying cannot help; never taken for Slack's failure.
   */
  | { kind: 'not_slack'; error: string };

/**
 * The longest Retry-After (ms) taken as given. Slack's own are seconds to a minute; the header comes
 * over the network (Slack, or a proxy in between), so a value beyond reason must not hold a channel
 * for longer than this: past it, the next call meets a fresh 429 and a fresh Retry-After.
 */
export const MAX_RETRY_AFTER_MS = 15 * 60_000;

const TRANSIENT_PLATFORM_ERRORS = new Set(['internal_error', 'fatal_error', 'service_unavailable', 'request_timeout', 'ratelimited', 'rate_limited']);

const HINTS: Record<string, string> = {
  channel_not_found: 'check the channel ID; for a private channel, invite the bot to it first',
  not_in_channel: 'invite the bot to the channel (/invite @bot), then send the request again',
  is_archived: 'the channel is archived: unarchive it or send the request to another channel',
  invalid_auth: 'SLACK_BOT_TOKEN was refused: copy the Bot User OAuth Token from your Slack app settings',
  not_authed: 'SLACK_BOT_TOKEN was refused: copy the Bot User OAuth Token from your Slack app settings',
  token_revoked: 'SLACK_BOT_TOKEN was revoked: reinstall the app and update the token',
  token_expired: 'SLACK_BOT_TOKEN has expired: reinstall the app and update the token',
  account_inactive: 'the bot user is deactivated: reinstall the app',
  missing_scope: 'the app lacks a scope it needs: update it from manifest.yml and reinstall',
  invalid_blocks: 'the card broke a Block Kit rule: this is a bug in the bot, please report it with the request',
  invalid_blocks_format: 'the card broke a Block Kit rule: this is a bug in the bot, please report it with the request',
};

interface WebApiErrorShape {
  code?: unknown;
  retryAfter?: unknown;
  statusCode?: unknown;
  data?: { error?: unknown };
  message?: unknown;
}

/**
 * Classifies an error thrown around a @slack/web-api call. Only the client's own errors are
 * Slack's (codes `slack_webapi_*`: platform, HTTP, rate-limited, and request errors, which are
 * network failures and timeouts); anything else is `not_slack`.
 */
export function classifySlackError(err: unknown): SlackFault {
  const e = (typeof err === 'object' && err !== null ? err : {}) as WebApiErrorShape;
  switch (e.code) {
    case 'slack_webapi_rate_limited_error': {
      const seconds = Number(e.retryAfter);
      return {
        kind: 'transient',
        error: 'ratelimited',
        certainlyNotApplied: true,
        rateLimited: true,
        ...(Number.isFinite(seconds) && seconds >= 0 ? { retryAfterMs: Math.min(Math.ceil(seconds * 1000), MAX_RETRY_AFTER_MS) } : {}),
      };
    }
    case 'slack_webapi_http_error': {
      const status = Number(e.statusCode);
      if (status >= 500 || status === 408) return { kind: 'transient', error: `HTTP ${status}`, certainlyNotApplied: false, rateLimited: false };
      return { kind: 'permanent', error: `HTTP ${status}`, hint: 'the Slack API answered with a client error: check SLACK_API_URL' };
    }
    case 'slack_webapi_platform_error': {
      const error = String(e.data?.error ?? 'unknown_error');
      if (TRANSIENT_PLATFORM_ERRORS.has(error)) {
        const rateLimited = error === 'ratelimited' || error === 'rate_limited';
        return { kind: 'transient', error, certainlyNotApplied: rateLimited, rateLimited };
      }
      return { kind: 'permanent', error, hint: HINTS[error] ?? 'see the Slack API documentation for this error' };
    }
    case 'slack_webapi_request_error':
      // A network failure or a timeout: the call may or may not have landed.
      return { kind: 'transient', error: String(e.message ?? err), certainlyNotApplied: false, rateLimited: false };
    default:
      return { kind: 'not_slack', error: String(err) };
  }
}

/** Exponential backoff with jitter for the n-th failure (1-based), capped at a minute. */
export function backoffMs(failures: number, random: () => number = Math.random): number {
  const base = Math.min(1000 * 2 ** Math.max(failures - 1, 0), 60_000);
  return Math.round(base * (0.8 + 0.4 * random()));
}
