import { WebClient } from '@slack/web-api';
import { afterAll, beforeAll } from 'vitest';
import { SlackEmulator } from '../../sandbox/slack-emulator.js';

/** The Slack emulator and a Web API client on it, for the tests of one file. */
export interface EmulatedSlack {
  emulator: SlackEmulator;
  /** Built as main.ts builds it: no retries of its own, 429s handed back to the caller. */
  client: WebClient;
}

/**
 * Starts the Slack emulator with `botToken` before the file's tests and stops it after them.
 * @returns the fixture, whose fields are set once the file's tests run (read them inside a test).
 */
export function useEmulatedSlack(botToken: string): EmulatedSlack {
  const slack = {} as EmulatedSlack;
  beforeAll(async () => {
    slack.emulator = await new SlackEmulator({ botToken }).start();
    slack.client = new WebClient(botToken, { slackApiUrl: slack.emulator.apiUrl, retryConfig: { retries: 0 }, rejectRateLimitedCalls: true });
  });
  afterAll(async () => {
    await slack.emulator?.stop();
  });
  return slack;
}
