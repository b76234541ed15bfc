import { WebClient } from '@slack/web-api';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createUserDirectory, IDENTITY_MAX_AGE_MS, IdentityUnavailableError } from '../../src/decide/user-directory.js';
import { SlackEmulator } from '../../sandbox/slack-emulator.js';

/** users.info as it decides clicks: never older than a few seconds, against the emulator over HTTP. */

const emulator = new SlackEmulator({ botToken: 'xoxb-users' });
let slack: WebClient;
beforeAll(async () => {
  await emulator.start();
  slack = new WebClient('xoxb-users', { slackApiUrl: emulator.apiUrl, retryConfig: { retries: 0 } });
});
afterAll(() => emulator.stop());

const calls = () => emulator.callsOf('users.info').length;

describe('who clicked, as fresh as it decides', () => {
  it(`reuses an answer for ${IDENTITY_MAX_AGE_MS} ms at most: a deactivation refuses the next click after that`, async () => {
    let now = 0;
    const users = createUserDirectory(slack, { now: () => now });
    emulator.addUser({ id: 'U0DANA', username: 'dana', team_id: emulator.teamId });
    const before = calls();
    expect(await users.lookup('U0DANA', undefined)).toMatchObject({ name: 'dana', deleted: false });
    emulator.addUser({ id: 'U0DANA', username: 'dana', team_id: emulator.teamId, deleted: true });
    now = IDENTITY_MAX_AGE_MS;
    expect(await users.lookup('U0DANA', undefined)).toMatchObject({ deleted: false });
    expect(calls() - before).toBe(1);
    now = IDENTITY_MAX_AGE_MS + 1;
    expect(await users.lookup('U0DANA', undefined)).toMatchObject({ deleted: true });
    expect(calls() - before).toBe(2);
  });

  it('asks Slack again when the caller needs an answer from after a given instant, and shares one call among concurrent lookups', async () => {
    let now = 1000;
    const users = createUserDirectory(slack, { now: () => now });
    emulator.addUser({ id: 'U0ERIN', username: 'erin', team_id: emulator.teamId });
    const before = calls();
    await Promise.all(Array.from({ length: 5 }, () => users.lookup('U0ERIN', undefined)));
    expect(calls() - before).toBe(1);
    emulator.addUser({ id: 'U0ERIN', username: 'erin', team_id: emulator.teamId, is_restricted: true });
    now = 1001;
    expect(await users.lookup('U0ERIN', undefined, { since: 1001 })).toMatchObject({ isGuest: true });
    expect(calls() - before).toBe(2);
  });

  it('never reuses a failed call', async () => {
    const users = createUserDirectory(slack, { now: () => 0 });
    emulator.injectFaults('users.info', { status: 503 });
    await expect(users.lookup('U0ALICE', undefined)).rejects.toBeInstanceOf(IdentityUnavailableError);
    expect(await users.lookup('U0ALICE', undefined)).toMatchObject({ name: 'alice' });
  });
});
