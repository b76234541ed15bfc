import { describe, expect, inject, it } from 'vitest';
import { BOT_TOKEN, SIGNING_SECRET, useGates } from './helpers/gate.js';
import { freePort } from '../sandbox/free-port.js';

const gates = useGates();

describe('start-up and shutdown', () => {
  it('stops with one clear line when a required variable is missing', async () => {
    const bot = gates.bot({ SLACK_SIGNING_SECRET: SIGNING_SECRET, REDIS_URL: inject('redisUrl') });
    expect(await bot.exited).toBe(1);
    expect(bot.stderr().trim()).toMatch(/^approval-gate cannot start: SLACK_BOT_TOKEN is required: the Bot User OAuth Token \(xoxb-…\)/);
    expect(bot.stderr().trim().split('\n')).toHaveLength(1);
  });

  it('stops on a signing secret too short to be Slack’s', async () => {
    const bot = gates.bot({ SLACK_BOT_TOKEN: BOT_TOKEN, SLACK_SIGNING_SECRET: 'secret', APPROVERS: 'anyone', REDIS_URL: inject('redisUrl') });
    expect(await bot.exited).toBe(1);
    expect(bot.stderr().trim()).toBe('approval-gate cannot start: SLACK_SIGNING_SECRET is too short (6 characters, at least 16): use the Signing Secret from Basic Information in your Slack app settings');
  });

  it('stops without a decision signing key, saying how to make one', async () => {
    const bot = gates.bot({ SLACK_BOT_TOKEN: BOT_TOKEN, SLACK_SIGNING_SECRET: SIGNING_SECRET, APPROVERS: 'anyone', REDIS_URL: inject('redisUrl'), DECISION_SIGNING_KEY: '' });
    expect(await bot.exited).toBe(1);
    expect(bot.stderr().trim()).toBe(
      'approval-gate cannot start: DECISION_SIGNING_KEY is required (or DECISION_SIGNING_KEY_FILE): the Ed25519 private key (PKCS#8 PEM) that signs every decision; make one with `npx approval-gate keygen` (or `openssl genpkey -algorithm ed25519 -out decision-signing-key.pem`) and keep it secret',
    );
  });

  it('stops when no one is named to decide, unless it is said that anyone may', async () => {
    const bot = gates.bot({ SLACK_BOT_TOKEN: BOT_TOKEN, SLACK_SIGNING_SECRET: SIGNING_SECRET, APPROVALS_CHANNEL: 'C0APPROVALS', REDIS_URL: inject('redisUrl') });
    expect(await bot.exited).toBe(1);
    expect(bot.stderr().trim()).toBe(
      'approval-gate cannot start: APPROVERS is required without APPROVALS_CONFIG: the Slack user IDs who may decide, comma-separated, or APPROVERS=anyone to let anyone who can see a card decide',
    );
  });

  it('stops when Slack refuses the bot token', async () => {
    const gate = await gates.open();
    const bot = gates.bot({ ...gate.env, SLACK_BOT_TOKEN: 'xoxb-revoked', PORT: String(await freePort()) });
    expect(await bot.exited).toBe(1);
    expect(bot.logs).toContainEqual(expect.objectContaining({ msg: expect.stringContaining('Slack refused SLACK_BOT_TOKEN (auth.test: invalid_auth)') }));
  });

  it('stops when the Slack API cannot be reached, naming SLACK_API_URL', async () => {
    const bot = gates.bot({ SLACK_BOT_TOKEN: BOT_TOKEN, SLACK_SIGNING_SECRET: SIGNING_SECRET, APPROVERS: 'anyone', REDIS_URL: inject('redisUrl'), SLACK_API_URL: `http://127.0.0.1:${await freePort()}/api/`, PORT: String(await freePort()) });
    expect(await bot.exited).toBe(1);
    expect(bot.logs).toContainEqual(expect.objectContaining({ msg: expect.stringContaining('could not reach the Slack API (auth.test): check the network and SLACK_API_URL') }));
  });

  it('stops when Redis cannot be reached, naming REDIS_URL', async () => {
    const bot = gates.bot({ SLACK_BOT_TOKEN: BOT_TOKEN, SLACK_SIGNING_SECRET: SIGNING_SECRET, APPROVERS: 'anyone', REDIS_URL: `redis://127.0.0.1:${await freePort()}` });
    expect(await bot.exited).toBe(1);
    expect(bot.logs).toContainEqual(expect.objectContaining({ msg: expect.stringContaining('cannot reach Redis: check REDIS_URL') }));
  });

  it('stops with one line, not a stack, when PORT is taken', async () => {
    const gate = await gates.open();
    const bot = gates.bot({ ...gate.env });
    expect(await bot.exited).toBe(1);
    expect(bot.stderr()).toBe('');
    expect(bot.logs.at(-1)).toMatchObject({ level: 60, msg: `cannot listen on PORT ${gate.env.PORT}: it is in use (EADDRINUSE); stop what uses it or set PORT to a free port` });
  });

  it('stops with one line when REDIS_URL is not a URL', async () => {
    const bot = gates.bot({ SLACK_BOT_TOKEN: BOT_TOKEN, SLACK_SIGNING_SECRET: SIGNING_SECRET, APPROVERS: 'anyone', REDIS_URL: 'redis://:::::' });
    expect(await bot.exited).toBe(1);
    expect(bot.stderr()).toBe('approval-gate cannot start: REDIS_URL is not a valid URL ("redis://:::::"): use redis://[user:password@]host:port[/db]\n');
  });

  it('warns at start-up when Redis runs without AOF persistence', async () => {
    const gate = await gates.open();
    expect(gate.bot.logs).toContainEqual(expect.objectContaining({ level: 40, msg: expect.stringContaining('AOF persistence is off') }));
  });

  it('answers /healthz and /readyz, and shuts down cleanly on SIGTERM', async () => {
    const gate = await gates.open();
    const response = await fetch(`http://127.0.0.1:${gate.env.PORT}/healthz`);
    expect([response.status, await response.json()]).toEqual([200, { status: 'ok' }]);
    const ready = await fetch(`http://127.0.0.1:${gate.env.PORT}/readyz`);
    expect([ready.status, await ready.json()]).toEqual([200, { status: 'ok', redis: 'ok', slack: 'ok' }]);
    expect(await gate.bot.stop()).toBe(0);
    expect(gate.bot.logs.at(-1)).toMatchObject({ msg: 'stopped' });
  });
});
