import { execFile } from 'node:child_process';
import { once } from 'node:events';
import { request } from 'node:http';
import { createServer, type AddressInfo } from 'node:net';
import { promisify } from 'node:util';
import { Redis } from 'ioredis';
import { describe, expect, inject, it } from 'vitest';
import { freePort } from '../../sandbox/free-port.js';
import { startBot } from '../helpers/bot-process.js';
import { startSandbox } from '../helpers/sandbox-process.js';
import { waitFor } from '../helpers/wait.js';

const run = promisify(execFile);

/** The status of a GET sent with another Host header (fetch does not let one set it). */
async function rawStatus(base: string, path: string, host: string): Promise<number> {
  const { port } = new URL(base);
  return new Promise((resolve, reject) => {
    const req = request({ host: '127.0.0.1', port, path, headers: { host } }, (res) => {
      res.resume();
      resolve(res.statusCode ?? 0);
    });
    req.on('error', reject);
    req.end();
  });
}

/** The page's first state event that satisfies `check`, read as a browser would read the stream. */
async function pageState(url: string, user: string, check: (fragments: { channels: Record<string, string> }) => boolean): Promise<{ channels: Record<string, string> }> {
  const response = await fetch(`${url}/events?user=${user}`);
  const reader = response.body!.pipeThrough(new TextDecoderStream()).getReader();
  let buffer = '';
  try {
    for (;;) {
      const { value, done } = await reader.read();
      if (done) throw new Error('the event stream ended');
      buffer += value;
      for (let end = buffer.indexOf('\n\n'); end !== -1; end = buffer.indexOf('\n\n')) {
        const event = buffer.slice(0, end);
        buffer = buffer.slice(end + 2);
        const data = /^data: (.*)$/m.exec(event)?.[1];
        if (data && check(JSON.parse(data))) return JSON.parse(data);
      }
    }
  } finally {
    await reader.cancel();
  }
}

describe('npm run sandbox', () => {
  it('on a Redis it did not start, touches only its own keys and removes them on Ctrl-C; requests come from the shell too', async () => {
    const redisUrl = inject('redisUrl');
    const redis = new Redis(redisUrl);
    await redis.set('someone-else:key', 'kept');
    await redis.set('sandbox:left-by-a-crashed-sandbox', 'x');
    const sandbox = await startSandbox({ SANDBOX_PORT: String(await freePort()), REDIS_URL: redisUrl });
    try {
      expect(sandbox.redisUrl).toBe(redisUrl);
      expect(await redis.exists('sandbox:left-by-a-crashed-sandbox')).toBe(0);

      // The command the sandbox prints, run from another shell.
      const { stdout } = await run(process.execPath, ['node_modules/tsx/dist/cli.mjs', 'scripts/request.ts', 'examples/prod-write.json'], {
        env: { PATH: process.env.PATH ?? '', REDIS_URL: sandbox.redisUrl, REQUEST_QUEUE: 'sandbox-requests' },
      });
      expect(stdout).toContain('examples/prod-write.json: queued');
      const state = await pageState(sandbox.url, 'U0ALICE', (f) => f.channels.C0PRODAPPROVALS?.includes('run_8f9a') === true);
      expect(state.channels.C0PRODAPPROVALS).toContain('Refund two orders charged twice during INC-42');

      // The environment it prints finds the sandbox's runs (its keys are sandbox:*) and trusts its key.
      const exported = /^ {4}export (.*)$/m.exec(sandbox.output())?.[1];
      expect(exported).toBeDefined();
      const auditEnv = Object.fromEntries(exported!.split(' ').map((pair) => pair.split('=') as [string, string]));
      expect(auditEnv).toMatchObject({ STATE_PREFIX: 'sandbox', RESUME_QUEUE: expect.any(String), POLICY_SNAPSHOT_KEY: expect.any(String), DECISION_SIGNING_KEY_ID: 'sandbox' });
      const trail = await run(process.execPath, ['node_modules/tsx/dist/cli.mjs', 'scripts/audit.ts', 'run_8f9a'], { env: { PATH: process.env.PATH ?? '', ...auditEnv } });
      expect(trail.stdout).toMatch(/requested[\s\S]*posted/);

      // Only its own page may act: not another origin, not a rebound host name, not a form post.
      const act = (headers: Record<string, string>) => fetch(`${sandbox.url}/ui/policy`, { method: 'POST', headers, body: '{}' }).then((r) => r.status);
      expect(await act({ 'content-type': 'application/json', origin: 'https://evil.example' })).toBe(403);
      expect(await act({ 'content-type': 'text/plain' })).toBe(403);
      expect(await rawStatus(sandbox.url, '/events?user=U0ALICE', 'evil.example:3000')).toBe(403);
      expect(await redis.keys('sandbox:*')).not.toEqual([]);
    } finally {
      expect(await sandbox.stop('SIGINT')).toBe(0);
    }
    expect(sandbox.output()).toContain('Stopping the sandbox');
    expect(await redis.keys('sandbox:*')).toEqual([]);
    expect(await redis.keys('bull:sandbox-*')).toEqual([]);
    expect(await redis.get('someone-else:key')).toBe('kept');
    redis.disconnect();
  });

  it('npm run emulator runs all but the bot and prints the line that starts yours against it', async () => {
    const botPort = await freePort();
    const sandbox = await startSandbox({ SANDBOX_PORT: String(await freePort()), REDIS_URL: inject('redisUrl'), BOT_PORT: String(botPort) }, ['--own-bot']);
    try {
      const line = /^ {4}(REDIS_URL=.*) npm start$/m.exec(sandbox.output())?.[1];
      expect(line).toBeDefined();
      const env = Object.fromEntries(line!.split(' ').map((pair) => [pair.slice(0, pair.indexOf('=')), pair.slice(pair.indexOf('=') + 1)]));
      expect(env).toMatchObject({ PORT: String(botPort), APPROVALS_CONFIG: 'examples/sandbox.yml', SLACK_BOT_TOKEN: expect.stringMatching(/^xoxb-/) });
      const bot = startBot(env);
      try {
        await bot.waitForLog((l) => l.msg === 'approval gate started', 30_000);
        const asked = await fetch(`${sandbox.url}/ui/request`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ sample: 'network' }) });
        const { run_id: runId } = (await asked.json()) as { run_id: string };
        await pageState(sandbox.url, 'U0ALICE', (f) => Object.values(f.channels).some((html) => html.includes(runId)));
      } finally {
        await bot.stop();
      }
    } finally {
      expect(await sandbox.stop('SIGINT')).toBe(0);
    }
  });

  it('starts a private redis-server when REDIS_URL does not answer, and stops it on exit', async () => {
    const closedPort = await freePort();
    const sandbox = await startSandbox({ SANDBOX_PORT: String(await freePort()), REDIS_URL: `redis://127.0.0.1:${closedPort}` });
    expect(sandbox.output()).toContain(`REDIS_URL (redis://127.0.0.1:${closedPort}) did not answer, so a private redis-server`);
    const privateRedis = new Redis(sandbox.redisUrl, { lazyConnect: true, retryStrategy: () => null, maxRetriesPerRequest: 0 });
    privateRedis.on('error', () => undefined);
    await privateRedis.connect();
    expect(await privateRedis.get('sandbox:policy-snapshot')).toMatch(/^sha256:7f3d1a2b/);
    expect(await sandbox.stop('SIGINT')).toBe(0);
    await waitFor('the private redis-server to be gone', () => privateRedis.status === 'end');
  });

  it('says in one line how to get Redis when there is none', async () => {
    await expect(startSandbox({ SANDBOX_PORT: String(await freePort()), PATH: '/nonexistent' })).rejects.toThrow(
      /The sandbox could not start: the sandbox needs Redis: .* Set REDIS_URL to a Redis that answers, or install redis-server/,
    );
  });

  it('says which port is taken when the page cannot listen', async () => {
    const taken = createServer().listen(0, '127.0.0.1');
    await once(taken, 'listening');
    const busy = (taken.address() as AddressInfo).port;
    try {
      await expect(startSandbox({ SANDBOX_PORT: String(busy) })).rejects.toThrow(`port ${busy} is in use: stop what uses it or set SANDBOX_PORT to another port`);
    } finally {
      taken.close();
    }
  });
});
