/**
 * Slack's per-channel limit on `chat.postMessage`: about one message a second per channel, with
 * short bursts allowed; a call over it is answered HTTP 429 with `Retry-After` in whole seconds
 * (https://docs.slack.dev/apis/web-api/rate-limits). Modelled as a token bucket per channel; a
 * refused call takes no token, as Slack's do not count.
 */
export interface ChannelRateLimit {
  /** Messages a second each channel takes, on average. */
  perSecond: number;
  /** How many messages a channel takes at once after a quiet spell. */
  burst: number;
}

export class ChannelBuckets {
  private readonly buckets = new Map<string, { tokens: number; at: number }>();

  constructor(private readonly limit: ChannelRateLimit) {}

  /**
   * Takes a token for one message to `channel` at `now` (ms).
   * @returns undefined when the message may go, else the Retry-After to answer with (whole seconds, at least 1).
   */
  take(channel: string, now: number): number | undefined {
    const { perSecond, burst } = this.limit;
    const bucket = this.buckets.get(channel) ?? { tokens: burst, at: now };
    bucket.tokens = Math.min(burst, bucket.tokens + ((now - bucket.at) / 1000) * perSecond);
    bucket.at = now;
    this.buckets.set(channel, bucket);
    if (bucket.tokens >= 1) {
      bucket.tokens -= 1;
      return undefined;
    }
    return Math.max(1, Math.ceil((1 - bucket.tokens) / perSecond));
  }
}
