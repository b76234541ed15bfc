import { WebClient } from '@slack/web-api';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { manifestScopes } from '../../sandbox/conversations.js';
import { SlackEmulator } from '../../sandbox/slack-emulator.js';

const TOKEN = 'xoxb-emulator';

describe('the Slack emulator’s conversations', () => {
  const emulator = new SlackEmulator({
    botToken: TOKEN,
    channels: [
      { id: 'C0PUBLIC', name: 'public', botIsMember: false },
      { id: 'C0PRIVATE', name: 'private', botIsMember: true, isPrivate: true, members: ['U0ALICE', 'U0APPROVALBOT'] },
      { id: 'C0HIDDEN', name: 'hidden', botIsMember: false, isPrivate: true, members: ['U0ALICE'] },
      { id: 'G0MPIM', name: 'mpdm-alice--bob--approval-gate-1', botIsMember: true, isMpim: true, members: ['U0ALICE', 'U0BOB', 'U0APPROVALBOT'] },
    ],
  });
  let slack: WebClient;
  beforeAll(async () => {
    await emulator.start();
    slack = new WebClient(TOKEN, { slackApiUrl: emulator.apiUrl, retryConfig: { retries: 0 }, rejectRateLimitedCalls: true });
  });
  afterAll(() => emulator.stop());

  const platformError = (promise: Promise<unknown>) => promise.then(() => undefined, (err: { data?: { error?: string; needed?: string } }) => err.data);

  it('grants the scopes manifest.yml asks for, unless told otherwise', () => {
    expect([...emulator.scopes].sort()).toEqual([...manifestScopes()].sort());
    expect(manifestScopes()).toEqual(expect.arrayContaining(['im:read', 'mpim:read', 'channels:read', 'groups:read']));
  });

  it('posts in the bot’s DM with a user by the DM’s id, as by the user’s', async () => {
    const byDm = await slack.chat.postMessage({ channel: 'D0ALICE', text: 'by the DM id' });
    const byUser = await slack.chat.postMessage({ channel: 'U0ALICE', text: 'by the user id' });
    expect([byDm.channel, byUser.channel]).toEqual(['D0ALICE', 'D0ALICE']);
    expect(emulator.directMessagesTo('U0ALICE').map((m) => m.text)).toEqual(['by the DM id', 'by the user id']);
    expect((await platformError(slack.chat.postMessage({ channel: 'D0NOBODY', text: 'x' })))?.error).toBe('channel_not_found');
  });

  it('describes each kind of conversation as conversations.info does', async () => {
    await slack.chat.postMessage({ channel: 'U0BOB', text: 'open the DM' });
    expect((await slack.conversations.info({ channel: 'C0PUBLIC' })).channel).toMatchObject({ is_channel: true, is_private: false, is_im: false, is_mpim: false });
    expect((await slack.conversations.info({ channel: 'C0PRIVATE' })).channel).toMatchObject({ is_channel: true, is_private: true, is_mpim: false });
    expect((await slack.conversations.info({ channel: 'G0MPIM' })).channel).toMatchObject({ is_channel: false, is_mpim: true, is_private: true });
    const dm = (await slack.conversations.info({ channel: 'D0BOB' })).channel!;
    expect(dm).toMatchObject({ id: 'D0BOB', is_im: true, user: 'U0BOB' });
    expect(dm).not.toHaveProperty('is_private');
    expect((await slack.conversations.members({ channel: 'D0BOB' })).members).toEqual(['U0BOB', emulator.botUserId]);
  });

  it('lists the conversations a user is in: public ones, and others only where the bot is too', async () => {
    const list = async (user: string, types: string) => ((await slack.users.conversations({ user, types })).channels ?? []).map((c) => c.id);
    expect(await list('U0ALICE', 'private_channel,mpim')).toEqual(['C0PRIVATE', 'G0MPIM']);
    expect(await list('U0BOB', 'private_channel,mpim')).toEqual(['G0MPIM']);
    expect(await list('U0ALICE', 'public_channel')).toEqual(['C0PUBLIC']);
    const first = await slack.users.conversations({ user: 'U0ALICE', types: 'public_channel,private_channel,mpim', limit: 2 });
    expect(first.channels!.map((c) => c.id)).toEqual(['C0PUBLIC', 'C0PRIVATE']);
    const second = await slack.users.conversations({ user: 'U0ALICE', types: 'public_channel,private_channel,mpim', limit: 2, cursor: first.response_metadata!.next_cursor! });
    expect(second.channels!.map((c) => c.id)).toEqual(['G0MPIM']);
    expect(second.response_metadata!.next_cursor).toBe('');
  });

  it('pages conversations.members', async () => {
    const first = await slack.conversations.members({ channel: 'G0MPIM', limit: 2 });
    const second = await slack.conversations.members({ channel: 'G0MPIM', limit: 2, cursor: first.response_metadata!.next_cursor! });
    expect([...first.members!, ...second.members!]).toEqual(['U0ALICE', 'U0BOB', 'U0APPROVALBOT']);
  });

  it('answers missing_scope, naming the scope, for a kind of conversation the app may not read', async () => {
    emulator.scopes.delete('mpim:read');
    try {
      expect(await platformError(slack.conversations.info({ channel: 'G0MPIM' }))).toMatchObject({ error: 'missing_scope', needed: 'mpim:read' });
      expect(await platformError(slack.users.conversations({ user: 'U0ALICE', types: 'private_channel,mpim' }))).toMatchObject({ error: 'missing_scope', needed: 'mpim:read' });
      expect((await slack.conversations.info({ channel: 'C0PRIVATE' })).ok).toBe(true);
    } finally {
      emulator.scopes.add('mpim:read');
    }
  });

  it('gives an injected fault to the first call whose arguments match it', async () => {
    emulator.injectFaults('conversations.info', { error: 'internal_error', match: { channel: 'C0PRIVATE' } });
    expect((await slack.conversations.info({ channel: 'C0PUBLIC' })).ok).toBe(true);
    expect((await platformError(slack.conversations.info({ channel: 'C0PRIVATE' })))?.error).toBe('internal_error');
    expect((await slack.conversations.info({ channel: 'C0PRIVATE' })).ok).toBe(true);
  });
});
