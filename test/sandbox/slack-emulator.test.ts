import { WebClient } from '@slack/web-api';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { escapeCommandText } from '../../sandbox/interactions.js';
import { SlackEmulator } from '../../sandbox/slack-emulator.js';

const TOKEN = 'xoxb-emulator';

/** Sections of 3,000 characters (the last shorter) holding `total` characters of text in all. */
const sectionsOf = (total: number) =>
  Array.from({ length: Math.ceil(total / 3000) }, (_, i) => ({ type: 'section', text: { type: 'mrkdwn', text: 'x'.repeat(Math.min(3000, total - i * 3000)) } }));

describe('the Slack emulator', () => {
  const emulator = new SlackEmulator({
    botToken: TOKEN,
    channels: [
      { id: 'C0ONE', name: 'one', botIsMember: true },
      { id: 'C0OUT', name: 'outside', botIsMember: false },
    ],
  });
  let slack: WebClient;
  beforeAll(async () => {
    await emulator.start();
    slack = new WebClient(TOKEN, { slackApiUrl: emulator.apiUrl, retryConfig: { retries: 0 }, rejectRateLimitedCalls: true });
  });
  afterAll(() => emulator.stop());

  const platformError = (promise: Promise<unknown>) => promise.then(() => 'ok', (err: { data?: { error?: string } }) => err.data?.error);

  it('answers auth.test for the bot token and invalid_auth for any other', async () => {
    expect(await slack.auth.test()).toMatchObject({ ok: true, team_id: emulator.teamId, user_id: emulator.botUserId, bot_id: emulator.botId });
    const stranger = new WebClient('xoxb-other', { slackApiUrl: emulator.apiUrl, retryConfig: { retries: 0 } });
    expect(await platformError(stranger.auth.test())).toBe('invalid_auth');
    expect(await platformError(new WebClient(undefined, { slackApiUrl: emulator.apiUrl, retryConfig: { retries: 0 } }).auth.test())).toBe('not_authed');
  });

  it('records posted messages with their blocks and metadata', async () => {
    const response = await slack.chat.postMessage({
      channel: 'C0ONE',
      text: 'hello',
      blocks: [{ type: 'section', text: { type: 'mrkdwn', text: '*hi*' } }],
      metadata: { event_type: 'greeting', event_payload: { n: 1 } },
    });
    expect(emulator.messagesIn('C0ONE')).toContainEqual(
      expect.objectContaining({ ts: response.ts, text: 'hello', metadata: { event_type: 'greeting', event_payload: { n: 1 } } }),
    );
  });

  it.each([
    ['an unknown channel', { channel: 'C0NOPE', text: 'x' }, 'channel_not_found'],
    ['a channel the bot is not in', { channel: 'C0OUT', text: 'x' }, 'not_in_channel'],
    ['neither text nor blocks', { channel: 'C0ONE' }, 'no_text'],
    ['a section over 3000 characters', { channel: 'C0ONE', text: 'x', blocks: [{ type: 'section', text: { type: 'mrkdwn', text: 'x'.repeat(3001) } }] }, 'invalid_blocks'],
    ['a header over 150 characters', { channel: 'C0ONE', text: 'x', blocks: [{ type: 'header', text: { type: 'plain_text', text: 'x'.repeat(151) } }] }, 'invalid_blocks'],
    ['51 blocks', { channel: 'C0ONE', text: 'x', blocks: Array.from({ length: 51 }, () => ({ type: 'divider' })) }, 'invalid_blocks'],
    ['a button value over 2000 characters', { channel: 'C0ONE', text: 'x', blocks: [{ type: 'actions', elements: [{ type: 'button', text: { type: 'plain_text', text: 'Go' }, action_id: 'go', value: 'v'.repeat(2001) }] }] }, 'invalid_blocks'],
    ['11 section fields', { channel: 'C0ONE', text: 'x', blocks: [{ type: 'section', fields: Array.from({ length: 11 }, () => ({ type: 'mrkdwn', text: 'f' })) }] }, 'invalid_blocks'],
    ['a reply to a thread that does not exist', { channel: 'C0ONE', text: 'x', thread_ts: '1.000001' }, 'thread_not_found'],
    ['blocks holding more than 12,000 characters of text in all, each within its own limit', { channel: 'C0ONE', text: 'x', blocks: sectionsOf(12_001) }, 'msg_blocks_too_long'],
  ])('refuses a message with %s', async (_what, args, error) => {
    expect(await platformError(slack.chat.postMessage(args as never))).toBe(error);
  });

  it('counts the text of every text object towards the whole message: header, fields, context, buttons and their dialogs', async () => {
    const button = (text: string) => ({ type: 'button', text: { type: 'plain_text', text: 'Go' }, action_id: text, confirm: { title: { type: 'plain_text', text: 't' }, text: { type: 'plain_text', text: 'x'.repeat(300) }, confirm: { type: 'plain_text', text: 'y' }, deny: { type: 'plain_text', text: 'n' } } });
    const blocks = (fill: number) => [
      { type: 'header', text: { type: 'plain_text', text: 'h'.repeat(150) } },
      { type: 'section', fields: Array.from({ length: 5 }, () => ({ type: 'mrkdwn', text: 'f'.repeat(2000) })) },
      { type: 'context', elements: [{ type: 'mrkdwn', text: 'c'.repeat(fill) }] },
      { type: 'actions', elements: [button('a'), button('b')] },
    ];
    // 150 + 10,000 + 2 × (2 + 1 + 300 + 1 + 1) = 10,760 without the context.
    expect(await platformError(slack.chat.postMessage({ channel: 'C0ONE', text: 'x', blocks: blocks(12_000 - 10_760) } as never))).toBe('ok');
    expect(await platformError(slack.chat.postMessage({ channel: 'C0ONE', text: 'x', blocks: blocks(12_001 - 10_760) } as never))).toBe('msg_blocks_too_long');
  });

  it('applies the whole-message limit to chat.update, and the 4,000 characters of its text', async () => {
    const posted = await slack.chat.postMessage({ channel: 'C0ONE', text: 'before' });
    expect(await platformError(slack.chat.update({ channel: 'C0ONE', ts: posted.ts!, text: 'x', blocks: sectionsOf(12_001) } as never))).toBe('msg_blocks_too_long');
    expect(await platformError(slack.chat.update({ channel: 'C0ONE', ts: posted.ts!, text: 'x'.repeat(4001) }))).toBe('msg_too_long');
    expect(await platformError(slack.chat.update({ channel: 'C0ONE', ts: posted.ts!, text: 'x'.repeat(4000), blocks: sectionsOf(12_000) } as never))).toBe('ok');
  });

  it.each([
    ['an ephemeral reply with a section over 3,000 characters', { text: 'x', blocks: [{ type: 'section', text: { type: 'mrkdwn', text: '&amp;'.repeat(601) } }] }, 'invalid_blocks'],
    ['an ephemeral reply over the whole-message limit', { text: 'x', blocks: sectionsOf(12_001) }, 'msg_blocks_too_long'],
    ['a replacement of the original over the whole-message limit', { replace_original: true, text: 'x', blocks: sectionsOf(12_001) }, 'msg_blocks_too_long'],
    ['an ephemeral reply with neither text nor blocks', { response_type: 'ephemeral' }, 'no_text'],
  ])('refuses, through a response_url, %s', async (_what, body, error) => {
    const posted = await slack.chat.postMessage({ channel: 'C0ONE', text: 'original' });
    const url = emulator.responseUrls.issue({ user: 'U0ALICE', channel: 'C0ONE', messageTs: posted.ts! });
    const answer = await fetch(url, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify(body) });
    expect([answer.status, ((await answer.json()) as { error: string }).error]).toEqual([400, error]);
    expect(emulator.ephemeralsFor('U0ALICE')).not.toContain('x');
    expect(emulator.messagesIn('C0ONE').find((m) => m.ts === posted.ts)?.text).toBe('original');
  });

  it('says which block broke which limit, as Slack does', async () => {
    const err = await slack.chat
      .postMessage({ channel: 'C0ONE', text: 'x', blocks: [{ type: 'divider' }, { type: 'section', text: { type: 'mrkdwn', text: 'x'.repeat(3001) } }] })
      .catch((e: { data: { errors: string[] } }) => e.data);
    expect(err).toMatchObject({ errors: ['must be less than 3001 characters [json-pointer:/blocks/1/text/text]'] });
  });

  it('pages through history newest first, with metadata only when asked', async () => {
    const channel = 'C0HISTORY';
    emulator.addChannel({ id: channel, name: 'history', botIsMember: true });
    for (let i = 0; i < 5; i += 1) await slack.chat.postMessage({ channel, text: `m${i}`, metadata: { event_type: 'n', event_payload: { i } } });
    const first = await slack.conversations.history({ channel, limit: 3, include_all_metadata: true });
    expect(first.messages!.map((m) => m.text)).toEqual(['m4', 'm3', 'm2']);
    expect(first.messages![0]!.metadata).toEqual({ event_type: 'n', event_payload: { i: 4 } });
    const second = await slack.conversations.history({ channel, limit: 3, cursor: first.response_metadata!.next_cursor! });
    expect(second.messages!.map((m) => [m.text, m.metadata])).toEqual([['m1', undefined], ['m0', undefined]]);
    expect(second.has_more).toBe(false);
  });

  it('keeps thread replies out of history and returns them from conversations.replies', async () => {
    const parent = await slack.chat.postMessage({ channel: 'C0ONE', text: 'parent' });
    await slack.chat.postMessage({ channel: 'C0ONE', text: 'reply', thread_ts: parent.ts! });
    const history = await slack.conversations.history({ channel: 'C0ONE', oldest: String(Number(parent.ts) - 0.000001) });
    expect(history.messages!.map((m) => m.text)).toEqual(['parent']);
    const replies = await slack.conversations.replies({ channel: 'C0ONE', ts: parent.ts! });
    expect(replies.messages!.map((m) => m.text)).toEqual(['parent', 'reply']);
  });

  it('updates and deletes the bot’s messages', async () => {
    const posted = await slack.chat.postMessage({ channel: 'C0ONE', text: 'before' });
    await slack.chat.update({ channel: 'C0ONE', ts: posted.ts!, text: 'after' });
    expect(emulator.messagesIn('C0ONE').find((m) => m.ts === posted.ts)?.text).toBe('after');
    await slack.chat.delete({ channel: 'C0ONE', ts: posted.ts! });
    expect(emulator.messagesIn('C0ONE').find((m) => m.ts === posted.ts)).toBeUndefined();
    expect(await platformError(slack.chat.delete({ channel: 'C0ONE', ts: posted.ts! }))).toBe('message_not_found');
  });

  it('marks the bot’s messages with its bot and app ids, and refuses to update or delete another app’s or a person’s', async () => {
    const posted = await slack.chat.postMessage({ channel: 'C0ONE', text: 'ours' });
    expect(emulator.messagesIn('C0ONE').find((m) => m.ts === posted.ts)).toMatchObject({ bot_id: emulator.botId, app_id: 'A0APPROVALGATE', user: emulator.botUserId });
    const history = await slack.conversations.history({ channel: 'C0ONE' });
    expect(history.messages?.find((m) => m.ts === posted.ts)).toMatchObject({ bot_id: emulator.botId, app_id: 'A0APPROVALGATE' });
    for (const author of [{ bot_id: 'B0OTHER', app_id: 'A0OTHER', user: 'U0OTHERBOT' }, { user: 'U0MALLORY' }]) {
      const theirs = emulator.postAs(author, { channel: 'C0ONE', text: 'theirs' });
      expect(await platformError(slack.chat.update({ channel: 'C0ONE', ts: theirs.ts, text: 'changed' }))).toBe('cant_update_message');
      expect(await platformError(slack.chat.delete({ channel: 'C0ONE', ts: theirs.ts }))).toBe('cant_delete_message');
      expect(emulator.messagesIn('C0ONE').find((m) => m.ts === theirs.ts)?.text).toBe('theirs');
    }
  });

  it('injects faults in order, and can apply a call before failing it', async () => {
    emulator.injectFaults('chat.postMessage', { status: 500 }, { status: 429, retryAfterSec: 3 }, { status: 502, applyFirst: true });
    const before = emulator.messagesIn('C0ONE').length;
    const post = () => slack.chat.postMessage({ channel: 'C0ONE', text: 'faulty' }).then(() => 'ok', (e: { code: string; statusCode?: number; retryAfter?: number }) => e.statusCode ?? e.retryAfter);
    expect([await post(), await post(), await post(), await post()]).toEqual([500, 3, 502, 'ok']);
    expect(emulator.messagesIn('C0ONE').length - before).toBe(2);
    expect(emulator.callsOf('chat.postMessage').slice(-4).map((c) => c.answered)).toEqual(['HTTP 500', 'HTTP 429', 'HTTP 502', 'ok']);
  });

  it('enforces Slack’s per-channel pace when asked: a burst, then 429 with Retry-After; another channel is not held', async () => {
    const paced = await new SlackEmulator({
      botToken: TOKEN,
      channels: [
        { id: 'C0BUSY', name: 'busy', botIsMember: true },
        { id: 'C0CALM', name: 'calm', botIsMember: true },
      ],
      channelRateLimit: { perSecond: 1, burst: 2 },
    }).start();
    try {
      const client = new WebClient(TOKEN, { slackApiUrl: paced.apiUrl, retryConfig: { retries: 0 }, rejectRateLimitedCalls: true });
      const post = (channel: string) => client.chat.postMessage({ channel, text: 'paced' }).then(() => 'ok', (e: { retryAfter?: number }) => `429 after ${e.retryAfter} s`);
      expect([await post('C0BUSY'), await post('C0BUSY'), await post('C0BUSY'), await post('C0CALM')]).toEqual(['ok', 'ok', '429 after 1 s', 'ok']);
      expect(paced.messagesIn('C0BUSY')).toHaveLength(2);
      await new Promise((resolve) => setTimeout(resolve, 1100));
      expect(await post('C0BUSY')).toBe('ok');
    } finally {
      await paced.stop();
    }
  });
});

describe('slash command text, escaped as Slack escapes it for a command with should_escape', () => {
  const channels = [
    { id: 'C0INCIDENT42', name: 'incident-42' },
    { id: 'C0SECRET', name: 'secret', isPrivate: true },
  ];
  const users = [{ id: 'U0ALICE', username: 'alice' }];

  it.each([
    ['#incident-42', '<#C0INCIDENT42|incident-42>'],
    ['mine #Incident-42 prod', 'mine <#C0INCIDENT42|incident-42> prod'],
    ['#secret', '<#C0SECRET|>'],
    ['@alice', '<@U0ALICE>'],
    ['#nowhere @nobody', '#nowhere @nobody'],
    ['prod#incident-42', 'prod#incident-42'],
  ])('%s becomes %s', (typed, sent) => {
    expect(escapeCommandText(typed, channels, users)).toBe(sent);
  });
});
