import { WebClient } from '@slack/web-api';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { SlackEmulator } from '../../sandbox/slack-emulator.js';
import { backoffMs, classifySlackError } from '../../src/ops/slack-errors.js';

/** Real errors thrown by @slack/web-api against the emulator, configured as the bot configures it. */
describe('classifying Slack failures', () => {
  const emulator = new SlackEmulator({ botToken: 'xoxb-good' });
  let client: WebClient;
  beforeAll(async () => {
    await emulator.start();
    client = new WebClient('xoxb-good', { slackApiUrl: emulator.apiUrl, retryConfig: { retries: 0 }, rejectRateLimitedCalls: true });
  });
  afterAll(() => emulator.stop());

  async function failureOf(call: () => Promise<unknown>) {
    try {
      await call();
    } catch (err) {
      return classifySlackError(err);
    }
    throw new Error('expected the call to fail');
  }
  const post = () => client.chat.postMessage({ channel: 'C0APPROVALS', text: 'hi' });

  it('a 429 is transient, certainly not applied, and carries Retry-After', async () => {
    emulator.injectFaults('chat.postMessage', { status: 429, retryAfterSec: 7 });
    expect(await failureOf(post)).toEqual({ kind: 'transient', error: 'ratelimited', retryAfterMs: 7000, certainlyNotApplied: true, rateLimited: true });
  });

  it('a 5xx is transient and may have been applied', async () => {
    emulator.injectFaults('chat.postMessage', { status: 503 });
    expect(await failureOf(post)).toEqual({ kind: 'transient', error: 'HTTP 503', certainlyNotApplied: false, rateLimited: false });
  });

  it('a network failure is transient and may have been applied', async () => {
    const unreachable = new WebClient('xoxb-good', { slackApiUrl: 'http://127.0.0.1:1/api/', retryConfig: { retries: 0 } });
    expect(await failureOf(() => unreachable.auth.test())).toMatchObject({ kind: 'transient', certainlyNotApplied: false });
  });

  it.each([
    ['channel_not_found', 'check the channel ID'],
    ['not_in_channel', 'invite the bot'],
    ['invalid_blocks', 'bug in the bot'],
  ])('%s is permanent, with a hint', async (error, hint) => {
    emulator.injectFaults('chat.postMessage', { error });
    const fault = await failureOf(post);
    expect(fault).toMatchObject({ kind: 'permanent', error });
    expect(fault.kind === 'permanent' && fault.hint).toContain(hint);
  });

  it('a refused token is permanent and names SLACK_BOT_TOKEN', async () => {
    const wrong = new WebClient('xoxb-wrong', { slackApiUrl: emulator.apiUrl, retryConfig: { retries: 0 } });
    expect(await failureOf(() => wrong.chat.postMessage({ channel: 'C0APPROVALS', text: 'x' }))).toMatchObject({
      kind: 'permanent',
      error: 'invalid_auth',
      hint: expect.stringContaining('SLACK_BOT_TOKEN'),
    });
  });

  it('Slack-side internal errors answered as ok:false are transient', async () => {
    emulator.injectFaults('chat.postMessage', { error: 'internal_error' });
    expect(await failureOf(post)).toMatchObject({ kind: 'transient', error: 'internal_error' });
  });

  it('a call that times out is transient and may have been applied', async () => {
    const impatient = new WebClient('xoxb-good', { slackApiUrl: emulator.apiUrl, retryConfig: { retries: 0 }, timeout: 100 });
    emulator.injectFaults('chat.postMessage', { delayMs: 1000 });
    expect(await failureOf(() => impatient.chat.postMessage({ channel: 'C0APPROVALS', text: 'hi' }))).toMatchObject({ kind: 'transient', certainlyNotApplied: false });
  });

  it.each([
    ['a RangeError from building the card', new RangeError('Invalid time value')],
    ['a TypeError from a bug', new TypeError("Cannot read properties of undefined (reading 'ts')")],
    ['a plain Error of our own', new Error('no channel to post the card to')],
    ['something thrown that is not an Error', 'boom'],
  ])('%s is not Slack’s: never retried as a Slack failure', (_what, err) => {
    expect(classifySlackError(err)).toEqual({ kind: 'not_slack', error: String(err) });
  });

  it('backs off exponentially with jitter, up to a minute', () => {
    expect(backoffMs(1, () => 0.5)).toBe(1000);
    expect(backoffMs(3, () => 0.5)).toBe(4000);
    expect(backoffMs(30, () => 0.5)).toBe(60_000);
    expect(backoffMs(2, () => 0)).toBe(1600);
    expect(backoffMs(2, () => 1)).toBe(2400);
  });
});
