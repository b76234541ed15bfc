import { setTimeout as delay } from 'node:timers/promises';
import type { WebClient } from '@slack/web-api';
import { LRUCache } from 'lru-cache';
import type { Logger } from '../ops/logger.js';
import { classifySlackError } from '../ops/slack-errors.js';

/**
 * Who may see the cards in a conversation, as Slack says, for `/approvals`. A public channel's cards
 * are for the whole workspace, except guests and users of other workspaces (or anyone whose account
 * could not be checked), who see them only where they are members; a private channel's and a group
 * DM's cards are for their members; a DM's card is for the person on the other side of the bot's DM.
 * Whatever cannot be established is not listed (fail closed) and is reported as unchecked.
 *
 * What a channel is comes from `conversations.info` (cached for minutes: it rarely changes); whose
 * channels a user is in comes from one `users.conversations` listing per user (cached for a minute),
 * which for a bot token lists the private channels and group DMs the bot shares with the user
 * (https://docs.slack.dev/reference/methods/users.conversations): every one holding a card, since
 * the bot posted it there. Calls run a few at a time; a 429 stops calls of that method until its
 * Retry-After has passed (Slack's limits are per method: https://docs.slack.dev/apis/web-api/rate-limits).
 */

/** Who may see a conversation's cards. `nobody`: its kind could not be established (fail closed). */
export type Audience = { kind: 'workspace' } | { kind: 'members' } | { kind: 'user'; user: string } | { kind: 'nobody'; why: string };

/** conversations.info's `channel`, the fields that say what kind of conversation it is. */
export interface ConversationFlags {
  is_channel?: boolean;
  is_group?: boolean;
  is_im?: boolean;
  is_mpim?: boolean;
  is_private?: boolean;
  user?: string;
}

/**
 * What kind of audience a conversation has. A DM (`is_im`) names the other side in `user`; group
 * DMs, private channels (`is_private`, and legacy `G…` ones with `is_group`) are for members; only a
 * channel that says it is one and says it is not private is public. Anything else is for nobody.
 */
export function audienceOf(channel: ConversationFlags | undefined): Audience {
  if (!channel) return { kind: 'nobody', why: 'no channel in the answer' };
  if (channel.is_im) return channel.user ? { kind: 'user', user: channel.user } : { kind: 'nobody', why: 'a DM without its user' };
  if (channel.is_mpim || channel.is_private || channel.is_group) return { kind: 'members' };
  if (channel.is_channel === true && channel.is_private === false) return { kind: 'workspace' };
  return { kind: 'nobody', why: 'an unknown kind of conversation' };
}

/** Who is looking. `membersOnly`: public channels too are visible to them only where they are members. */
export interface Viewer {
  id: string;
  membersOnly: boolean;
}

export interface Visibility {
  /** Channels whose cards the viewer may see. */
  visible: Set<string>;
  /** Channels whose visibility could not be established now (Slack refused, failed, rate limited or was slow): their cards are left out. */
  unchecked: Set<string>;
  /** When Slack rate limited a call that was needed: how long until it may be asked again, in ms. */
  retryAfterMs?: number;
}

export interface ChannelDirectory {
  /** Which of these channels the viewer may see cards in; never throws (what fails is unchecked). */
  visibleTo(viewer: Viewer, channels: Iterable<string>): Promise<Visibility>;
}

export interface ChannelDirectoryOptions {
  log: Logger;
  /** How long a channel's kind (conversations.info) is trusted. @defaultValue 600,000 ms (10 min) */
  infoTtlMs?: number;
  /**
   * How long a user's memberships (users.conversations) are trusted: someone removed from a private
   * channel may see its cards listed this long (a click is still checked). @defaultValue 60,000 ms
   */
  membershipTtlMs?: number;
  /** Channels whose kind is remembered; the least recently used go first. @defaultValue 10,000 */
  maxChannels?: number;
  /** Users whose memberships are remembered. @defaultValue 1,000 */
  maxUsers?: number;
  /** Slack calls in flight at once, across every /approvals. @defaultValue 4 */
  concurrency?: number;
  /** How long visibleTo waits before it answers with what it knows; checks still running go on and fill the caches. @defaultValue 5,000 ms */
  budgetMs?: number;
}

/** A call's result; a failure says when to try again (rate limited), or Slack's error and whether it is for good. */
type Outcome<T> = { ok: true; value: T } | { ok: false; retryAt?: number; error?: string; permanent?: boolean; hint?: string };
type Verdict = 'visible' | 'hidden' | { unknown: true; retryAt?: number };

// users.conversations pages: Slack recommends at most 200 a page; a user in more than 10,000
// conversations of these kinds is not checked (fail closed).
const PAGE_SIZE = 200;
const MAX_PAGES = 50;

export function createChannelDirectory(slack: WebClient, options: ChannelDirectoryOptions): ChannelDirectory {
  const { log } = options;
  const budgetMs = options.budgetMs ?? 5_000;
  const audiences = new LRUCache<string, Audience>({ max: options.maxChannels ?? 10_000, ttl: options.infoTtlMs ?? 600_000 });
  const memberships = new LRUCache<string, Set<string>>({ max: options.maxUsers ?? 1_000, ttl: options.membershipTtlMs ?? 60_000 });
  const inFlight = new Map<string, Promise<Outcome<unknown>>>();
  const blockedUntil = new Map<string, number>();
  const limit = createLimiter(options.concurrency ?? 4);

  /** One Slack call, a few at a time; a 429 blocks the method until its Retry-After has passed. */
  async function call<T>(method: string, run: () => Promise<T>): Promise<Outcome<T>> {
    return limit(async () => {
      const blocked = blockedUntil.get(method) ?? 0;
      if (blocked > Date.now()) return { ok: false, retryAt: blocked };
      try {
        return { ok: true, value: await run() };
      } catch (err) {
        const fault = classifySlackError(err);
        if (fault.kind === 'transient' && fault.error === 'ratelimited' && fault.retryAfterMs !== undefined) {
          const retryAt = Date.now() + fault.retryAfterMs;
          blockedUntil.set(method, Math.max(retryAt, blocked));
          log.warn({ method, retry_after_ms: fault.retryAfterMs }, 'Slack rate limited /approvals: not calling this method again until Retry-After has passed');
          return { ok: false, retryAt };
        }
        return fault.kind === 'permanent' ? { ok: false, error: fault.error, permanent: true, hint: fault.hint } : { ok: false, error: fault.error };
      }
    });
  }

  /** Concurrent askers of the same thing share one call. */
  function shared<T>(key: string, fetch: () => Promise<Outcome<T>>): Promise<Outcome<T>> {
    const pending = inFlight.get(key) as Promise<Outcome<T>> | undefined;
    if (pending) return pending;
    const started = fetch().finally(() => inFlight.delete(key));
    inFlight.set(key, started);
    return started;
  }

  async function audience(channel: string): Promise<Outcome<Audience>> {
    const cached = audiences.get(channel);
    if (cached) return { ok: true, value: cached };
    return shared(`info:${channel}`, async () => {
      const answer = await call('conversations.info', () => slack.conversations.info({ channel }));
      if (answer.ok) {
        const value = audienceOf(answer.value.channel);
        if (value.kind === 'nobody') log.warn({ channel, why: value.why }, '/approvals cannot tell who may see this channel: its cards are not listed');
        audiences.set(channel, value);
        return { ok: true, value };
      }
      // A refusal (channel_not_found, missing_scope…) is remembered like an answer: asking again soon would change nothing.
      if (answer.permanent) {
        log.warn({ channel, slack_error: answer.error, hint: answer.hint }, '/approvals cannot read this channel (conversations.info): its cards are not listed');
        const value: Audience = { kind: 'nobody', why: answer.error ?? 'refused' };
        audiences.set(channel, value);
        return { ok: true, value };
      }
      return answer;
    });
  }

  async function membershipOf(viewer: Viewer): Promise<Outcome<Set<string>>> {
    const types = viewer.membersOnly ? 'public_channel,private_channel,mpim' : 'private_channel,mpim';
    const key = `${viewer.id}:${types}`;
    const cached = memberships.get(key);
    if (cached) return { ok: true, value: cached };
    return shared(`members:${key}`, async () => {
      const channels = new Set<string>();
      let cursor: string | undefined;
      for (let page = 0; page < MAX_PAGES; page += 1) {
        const answer = await call('users.conversations', () =>
          slack.users.conversations({ user: viewer.id, types, limit: PAGE_SIZE, exclude_archived: false, ...(cursor ? { cursor } : {}) }),
        );
        if (!answer.ok) {
          if (answer.error) log.warn({ user: viewer.id, slack_error: answer.error, hint: answer.hint }, '/approvals cannot read which channels this user is in (users.conversations)');
          return answer;
        }
        for (const channel of answer.value.channels ?? []) if (channel.id) channels.add(channel.id);
        cursor = answer.value.response_metadata?.next_cursor || undefined;
        if (!cursor) {
          memberships.set(key, channels);
          return { ok: true, value: channels };
        }
      }
      log.warn({ user: viewer.id, pages: MAX_PAGES }, '/approvals stopped reading a user’s channels after many pages');
      return { ok: false, error: 'too_many_conversations' };
    });
  }

  async function verdict(viewer: Viewer, channel: string): Promise<Verdict> {
    const found = await audience(channel);
    if (!found.ok) return { unknown: true, ...(found.retryAt ? { retryAt: found.retryAt } : {}) };
    const who = found.value;
    if (who.kind === 'nobody') return { unknown: true };
    if (who.kind === 'user') return who.user === viewer.id ? 'visible' : 'hidden';
    if (who.kind === 'workspace' && !viewer.membersOnly) return 'visible';
    const member = await membershipOf(viewer);
    if (!member.ok) return { unknown: true, ...(member.retryAt ? { retryAt: member.retryAt } : {}) };
    return member.value.has(channel) ? 'visible' : 'hidden';
  }

  return {
    async visibleTo(viewer, channels) {
      const wanted = new Set(channels);
      const result = { visible: new Set<string>(), unchecked: new Set(wanted) };
      let retryAt = 0;
      let answered = false;
      const work = Promise.all(
        [...wanted].map(async (channel) => {
          const outcome = await verdict(viewer, channel).catch((err: unknown): Verdict => {
            log.error({ channel, err: String(err) }, '/approvals could not check a channel');
            return { unknown: true };
          });
          // Past the budget the answer is gone; what this check learnt stays in the caches.
          if (answered) return;
          if (outcome === 'visible') result.visible.add(channel);
          if (outcome === 'visible' || outcome === 'hidden') result.unchecked.delete(channel);
          else if (outcome.retryAt) retryAt = Math.max(retryAt, outcome.retryAt);
        }),
      );
      const timer = new AbortController();
      await Promise.race([work, delay(budgetMs, undefined, { signal: timer.signal }).catch(() => undefined)]);
      timer.abort();
      answered = true;
      return { ...result, ...(retryAt > Date.now() ? { retryAfterMs: retryAt - Date.now() } : {}) };
    },
  };
}

/** Runs at most `max` tasks at once; the others wait their turn, in order. */
function createLimiter(max: number): <T>(task: () => Promise<T>) => Promise<T> {
  let running = 0;
  const waiting: (() => void)[] = [];
  return async (task) => {
    if (running >= max) await new Promise<void>((resolve) => waiting.push(resolve));
    else running += 1;
    try {
      return await task();
    } finally {
      // Hand the slot straight to the next task, so no newcomer slips in between.
      const next = waiting.shift();
      if (next) next();
      else running -= 1;
    }
  };
}
