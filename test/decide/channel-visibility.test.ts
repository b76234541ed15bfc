import { setTimeout as delay } from 'node:timers/promises';
import { WebClient } from '@slack/web-api';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { audienceOf, createChannelDirectory, type ChannelDirectoryOptions, type Viewer } from '../../src/decide/channel-visibility.js';
import { createLogger } from '../../src/ops/logger.js';
import { SlackEmulator, type EmulatedChannel } from '../../sandbox/slack-emulator.js';

const TOKEN = 'xoxb-visibility';
const ALICE: Viewer = { id: 'U0ALICE', membersOnly: false };
const GUEST: Viewer = { id: 'U0MALLORY', membersOnly: true };

describe('who may see a conversation’s cards, from conversations.info', () => {
  it.each([
    ['a public channel', { is_channel: true, is_private: false, is_im: false, is_mpim: false }, { kind: 'workspace' }],
    ['a private channel', { is_channel: true, is_private: true }, { kind: 'members' }],
    ['a legacy private channel (G…)', { is_channel: false, is_group: true, is_private: true }, { kind: 'members' }],
    ['a group DM', { is_channel: false, is_mpim: true, is_private: true }, { kind: 'members' }],
    ['a group DM that does not say it is private', { is_mpim: true }, { kind: 'members' }],
    ['a DM, as Slack’s IM object has it (no is_private)', { is_im: true, user: 'U0ALICE' }, { kind: 'user', user: 'U0ALICE' }],
    ['a DM without its user', { is_im: true }, { kind: 'nobody', why: 'a DM without its user' }],
    ['a channel that does not say whether it is private', { is_channel: true }, { kind: 'nobody', why: 'an unknown kind of conversation' }],
    ['an empty answer', {}, { kind: 'nobody', why: 'an unknown kind of conversation' }],
    ['no channel at all', undefined, { kind: 'nobody', why: 'no channel in the answer' }],
  ])('%s', (_what, channel, audience) => {
    expect(audienceOf(channel)).toEqual(audience);
  });
});

describe('the channel directory, against the emulator', () => {
  const channels: EmulatedChannel[] = [
    ...['C0A', 'C0B', 'C0C', 'C0D', 'C0E', 'C0F', 'C0G', 'C0H'].map((id) => ({ id, name: id.toLowerCase(), botIsMember: true })),
    { id: 'C0STAFF', name: 'staff', botIsMember: true, members: ['U0ALICE', 'U0BOB'] },
    { id: 'C0SECRET', name: 'secret', botIsMember: true, isPrivate: true, members: ['U0ALICE', 'U0APPROVALBOT'] },
  ];
  let emulator: SlackEmulator;
  let inFlight = 0;
  let maxInFlight = 0;
  let slack: WebClient;
  beforeEach(async () => {
    emulator = await new SlackEmulator({ botToken: TOKEN, channels }).start();
    inFlight = 0;
    maxInFlight = 0;
    const counting: typeof fetch = async (...args) => {
      maxInFlight = Math.max(maxInFlight, ++inFlight);
      return fetch(...args).finally(() => (inFlight -= 1));
    };
    // As main.ts builds it: no retries of its own, 429s handed back.
    slack = new WebClient(TOKEN, { slackApiUrl: emulator.apiUrl, retryConfig: { retries: 0 }, rejectRateLimitedCalls: true, timeout: 10_000, fetch: counting });
  });
  afterEach(() => emulator.stop());

  const directory = (options: Partial<ChannelDirectoryOptions> = {}) => createChannelDirectory(slack, { log: createLogger('silent'), ...options });
  const infoCalls = () => emulator.callsOf('conversations.info').map((call) => call.args.channel);

  it('asks about a channel once while it is remembered, and again once that has expired', async () => {
    const channelsOf = directory({ infoTtlMs: 300 });
    expect((await channelsOf.visibleTo(ALICE, ['C0A'])).visible).toEqual(new Set(['C0A']));
    await channelsOf.visibleTo(ALICE, ['C0A']);
    expect(infoCalls()).toEqual(['C0A']);
    await delay(400);
    await channelsOf.visibleTo(ALICE, ['C0A']);
    expect(infoCalls()).toEqual(['C0A', 'C0A']);
  });

  it('remembers a bounded number of channels, forgetting the least recently used first', async () => {
    const channelsOf = directory({ maxChannels: 2 });
    for (const channel of ['C0A', 'C0B', 'C0A', 'C0C', 'C0A', 'C0B']) await channelsOf.visibleTo(ALICE, [channel]);
    expect(infoCalls()).toEqual(['C0A', 'C0B', 'C0C', 'C0B']);
  });

  it('never has more than `concurrency` calls in flight, across callers, and callers asking the same share one call', async () => {
    emulator.injectFaults('conversations.info', ...Array.from({ length: 8 }, () => ({ delayMs: 100 })));
    const channelsOf = directory({ concurrency: 3 });
    const [first, second] = await Promise.all([channelsOf.visibleTo(ALICE, ['C0A', 'C0B', 'C0C', 'C0D', 'C0E']), channelsOf.visibleTo(ALICE, ['C0D', 'C0E', 'C0F', 'C0G', 'C0H'])]);
    expect(first.visible.size + second.visible.size).toBe(10);
    expect(infoCalls()).toHaveLength(8);
    expect(maxInFlight).toBe(3);
  });

  it('after a 429, asks nothing more of that method until Retry-After has passed', async () => {
    emulator.injectFaults('conversations.info', { status: 429, retryAfterSec: 1 });
    const channelsOf = directory({ concurrency: 1 });
    const limited = await channelsOf.visibleTo(ALICE, ['C0A', 'C0B', 'C0C']);
    expect(limited.visible.size).toBe(0);
    expect(limited.unchecked).toEqual(new Set(['C0A', 'C0B', 'C0C']));
    expect(limited.retryAfterMs).toBeGreaterThan(0);
    expect(limited.retryAfterMs).toBeLessThanOrEqual(1000);
    expect(infoCalls()).toHaveLength(1);

    await delay(1100);
    const later = await channelsOf.visibleTo(ALICE, ['C0A', 'C0B', 'C0C']);
    expect(later.visible.size).toBe(3);
    expect(later.retryAfterMs).toBeUndefined();
  });

  it('answers within its budget with what it knows; what arrives later is remembered', async () => {
    emulator.injectFaults('conversations.info', { delayMs: 1500, match: { channel: 'C0B' } });
    const channelsOf = directory({ budgetMs: 300 });
    const started = Date.now();
    const first = await channelsOf.visibleTo(ALICE, ['C0A', 'C0B']);
    expect(Date.now() - started).toBeLessThan(1400);
    expect(first.visible).toEqual(new Set(['C0A']));
    expect(first.unchecked).toEqual(new Set(['C0B']));

    await delay(1600);
    const second = await channelsOf.visibleTo(ALICE, ['C0A', 'C0B']);
    expect(second.visible).toEqual(new Set(['C0A', 'C0B']));
    expect(infoCalls()).toEqual(['C0A', 'C0B']);
  });

  it('reads a user’s memberships once per user while remembered: private channels for members, public ones too for guests', async () => {
    const channelsOf = directory();
    const all = ['C0A', 'C0STAFF', 'C0SECRET'];
    expect((await channelsOf.visibleTo(ALICE, all)).visible).toEqual(new Set(all));
    expect((await channelsOf.visibleTo({ id: 'U0BOB', membersOnly: false }, all)).visible).toEqual(new Set(['C0A', 'C0STAFF']));
    expect((await channelsOf.visibleTo(GUEST, all)).visible).toEqual(new Set(['C0A']));
    await channelsOf.visibleTo(ALICE, all);
    const listings = emulator.callsOf('users.conversations').map((call) => [call.args.user, call.args.types]);
    expect(listings).toEqual([
      ['U0ALICE', 'private_channel,mpim'],
      ['U0BOB', 'private_channel,mpim'],
      ['U0MALLORY', 'public_channel,private_channel,mpim'],
    ]);
  });

  it('shows a DM to the user on the other side only, without asking who is in it', async () => {
    await slack.chat.postMessage({ channel: 'U0ALICE', text: 'a card' });
    const channelsOf = directory();
    expect((await channelsOf.visibleTo(ALICE, ['D0ALICE'])).visible).toEqual(new Set(['D0ALICE']));
    expect((await channelsOf.visibleTo({ id: 'U0BOB', membersOnly: false }, ['D0ALICE'])).visible).toEqual(new Set());
    expect(emulator.callsOf('users.conversations')).toHaveLength(0);
  });

  it('leaves out, as unchecked, a channel Slack will not describe, and remembers the refusal for a while', async () => {
    emulator.scopes.delete('groups:read');
    const channelsOf = directory();
    for (let i = 0; i < 2; i += 1) {
      const result = await channelsOf.visibleTo(ALICE, ['C0A', 'C0SECRET', 'C0GONE']);
      expect(result.visible).toEqual(new Set(['C0A']));
      expect(result.unchecked).toEqual(new Set(['C0SECRET', 'C0GONE']));
      expect(result.retryAfterMs).toBeUndefined();
    }
    expect(emulator.callsOf('conversations.info').map((call) => call.answered)).toEqual(['ok', 'missing_scope', 'channel_not_found']);
  });
});
