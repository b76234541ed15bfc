/**
 * `npm run sandbox`: the whole gate on one machine, with no Slack workspace. Starts Redis (or uses
 * REDIS_URL), the Slack emulator, the bot (`node dist/main.js`, HTTP mode, examples/sandbox.yml)
 * and the sandbox page, and stops all of it on Ctrl-C. For local use only: everything binds to loopback.
 * `npm run emulator` (`--own-bot`) starts all of it but the bot, and prints the line that starts
 * yours (`npm start`, a debugger, a build of your own) against the emulator.
 */
import { createPublicKey, generateKeyPairSync, randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { Redis } from 'ioredis';
import { freePort } from './free-port.js';
import { SandboxEngine, type EngineNames } from './engine.js';
import { PageServer } from './page-server.js';
import { connectRedis, type SandboxRedis } from './sandbox-redis.js';
import { startSandboxBot, type SandboxBot } from './sandbox-bot.js';
import { SANDBOX_CHANNELS, SANDBOX_USER_GROUPS, SANDBOX_USERS } from './sandbox-workspace.js';
import { SlackEmulator } from './slack-emulator.js';

/** The snapshot in force at start: the one examples/*.json are bound to, so `npm run request` works with them. */
const INITIAL_POLICY_SNAPSHOT = 'sha256:7f3d1a2b9c0e4f5a6b7c8d9e0f1a2b3c4d5e6f708192a3b4c5d6e7f8091a2b3c';
const BOT_NAME = 'Approval Gate';
const SANDBOX_KEY_ID = 'sandbox';
const NAMES: EngineNames & { statePrefix: string } = {
  requestQueue: 'sandbox-requests',
  resumeQueue: 'sandbox-decisions',
  queuePrefix: 'bull',
  policySnapshotKey: 'sandbox:policy-snapshot',
  statePrefix: 'sandbox',
};
const ROUTES_FILE = fileURLToPath(new URL('../examples/sandbox.yml', import.meta.url));

/** `--own-bot` (npm run emulator): everything but the bot, and the line that starts yours against it. */
const ownBot = process.argv.includes('--own-bot');
const out = (line: string) => process.stdout.write(`${line}\n`);
const cleanups: (() => Promise<unknown>)[] = [];
let stopping = false;

async function main(): Promise<void> {
  const pagePort = Number(process.env.SANDBOX_PORT || 3000);
  if (!Number.isInteger(pagePort) || pagePort < 0 || pagePort > 65535) throw new Error(`SANDBOX_PORT must be a port number from 0 to 65535, not ${process.env.SANDBOX_PORT}`);
  const botToken = `xoxb-sandbox-${randomBytes(12).toString('hex')}`;
  const signingSecret = randomBytes(24).toString('hex');

  const redis: SandboxRedis = await connectRedis(process.env.REDIS_URL, NAMES);
  cleanups.push(() => redis.close());

  const emulator = await new SlackEmulator({ botToken, signingSecret, channels: SANDBOX_CHANNELS, users: SANDBOX_USERS }).start();
  cleanups.push(() => emulator.stop());
  for (const group of SANDBOX_USER_GROUPS) emulator.setUserGroup(group.id, group.members);

  const connection = new Redis(redis.url, { maxRetriesPerRequest: null });
  cleanups.push(async () => connection.disconnect());
  await connection.set(NAMES.policySnapshotKey, INITIAL_POLICY_SNAPSHOT);
  const engine = new SandboxEngine(connection, NAMES);
  cleanups.push(() => engine.close());

  const page = new PageServer({
    emulator,
    engine,
    users: SANDBOX_USERS,
    botName: BOT_NAME,
    context: {
      userName: (id) => emulator.users.get(id)?.real_name,
      channelName: (id) => SANDBOX_CHANNELS.find((c) => c.id === id)?.name,
      groupName: (id) => SANDBOX_USER_GROUPS.find((g) => g.id === id)?.handle,
      channelOfLink: (url) => emulator.channelOfPermalink(url),
    },
  });
  await page.start(pagePort).catch((err: NodeJS.ErrnoException) => {
    throw new Error(err.code === 'EADDRINUSE' ? `port ${pagePort} is in use: stop what uses it or set SANDBOX_PORT to another port` : err.message);
  });
  cleanups.push(() => page.stop());

  // An ephemeral decision signing key, in a file only this user can read: the bot refuses to start
  // without one, and the sandbox's decisions are worth nothing outside it.
  const keyDir = mkdtempSync(join(tmpdir(), 'approval-gate-sandbox-'));
  cleanups.push(async () => rmSync(keyDir, { recursive: true, force: true }));
  const keyFile = join(keyDir, 'decision-signing-key.pem');
  const { privateKey } = generateKeyPairSync('ed25519');
  writeFileSync(keyFile, privateKey.export({ type: 'pkcs8', format: 'pem' }), { mode: 0o600 });
  const publicKeyPem = createPublicKey(privateKey).export({ type: 'spki', format: 'pem' }).toString();
  const publicKeyFile = join(keyDir, 'decision-signing-key.pub.pem');
  writeFileSync(publicKeyFile, publicKeyPem);

  const botPort = ownBot ? Number(process.env.BOT_PORT || 3001) : await freePort();
  emulator.connectApp(`http://127.0.0.1:${botPort}/slack/events`);
  const botEnv = {
    REDIS_URL: redis.url,
    SLACK_BOT_TOKEN: botToken,
    SLACK_SIGNING_SECRET: signingSecret,
    SLACK_API_URL: emulator.apiUrl,
    PORT: String(botPort),
    APPROVALS_CONFIG: ROUTES_FILE,
    REQUEST_QUEUE: NAMES.requestQueue,
    RESUME_QUEUE: NAMES.resumeQueue,
    QUEUE_PREFIX: NAMES.queuePrefix,
    POLICY_SNAPSHOT_KEY: NAMES.policySnapshotKey,
    STATE_PREFIX: NAMES.statePrefix,
    DECISION_SIGNING_KEY_FILE: keyFile,
    DECISION_SIGNING_KEY_ID: SANDBOX_KEY_ID,
  };
  if (!ownBot) {
    const bot: SandboxBot = await startSandboxBot({ ...botEnv, LOG_LEVEL: process.env.LOG_LEVEL ?? 'info' }, (line) => out(`bot │ ${line}`));
    cleanups.push(() => bot.stop());
    void bot.exited.then((code) => {
      if (stopping) return;
      out(`The bot stopped on its own (exit code ${code}); stopping the sandbox.`);
      void shutdown(1);
    });
  }

  out('');
  out(`Sandbox ready: ${page.url}`);
  out(`  Redis: ${redis.description}`);
  out(`  Slack emulator: ${emulator.apiUrl} (local only; nothing reaches Slack)`);
  if (ownBot) {
    out(`  Bot: yours. Start it from another shell; the emulator sends clicks and commands to http://127.0.0.1:${botPort}/slack/events (BOT_PORT to change):`);
    out(`    ${Object.entries({ ...botEnv, APPROVALS_CONFIG: 'examples/sandbox.yml' }).map(([name, value]) => `${name}=${value}`).join(' ')} npm start`);
  } else {
    out(`  Bot: node dist/main.js on http://127.0.0.1:${botPort}/slack/events, routes from examples/sandbox.yml`);
  }
  out(`  Decisions are signed with an ephemeral key, id "${SANDBOX_KEY_ID}"; its public key (for verifyDecision), also in ${publicKeyFile}:`);
  for (const line of publicKeyPem.trim().split('\n')) out(`    ${line}`);
  // One environment for everything an engine, a shell or an agent runs against the sandbox.
  const clientEnv = {
    REDIS_URL: redis.url,
    REQUEST_QUEUE: NAMES.requestQueue,
    RESUME_QUEUE: NAMES.resumeQueue,
    STATE_PREFIX: NAMES.statePrefix,
    POLICY_SNAPSHOT_KEY: NAMES.policySnapshotKey,
    DECISION_PUBLIC_KEY_FILE: publicKeyFile,
    DECISION_SIGNING_KEY_ID: SANDBOX_KEY_ID,
  };
  out('  From another shell, set this environment (the client, the command line, the MCP server and the example engine read it):');
  out(`    export ${Object.entries(clientEnv).map(([name, value]) => `${name}=${value}`).join(' ')}`);
  out('  then, for example:');
  out('    npx tsx examples/engine.ts                                   an engine using the client');
  out('    npx approval-gate request examples/prod-write.json --wait   the command line (built by the sandbox)');
  out('    npm run audit -- <run_id>                                    a run\'s audit trail');
  out('  Ctrl-C stops everything.');
}

async function shutdown(code: number): Promise<void> {
  if (stopping) return;
  stopping = true;
  out('Stopping the sandbox…');
  for (const cleanup of cleanups.splice(0).reverse()) {
    await cleanup().catch((err: unknown) => out(`  while stopping: ${err instanceof Error ? err.message : String(err)}`));
  }
  process.exit(code);
}

process.on('SIGINT', () => void shutdown(0));
process.on('SIGTERM', () => void shutdown(0));
main().catch((err: unknown) => {
  out(`The sandbox could not start: ${err instanceof Error ? err.message : String(err)}`);
  void shutdown(1);
});
