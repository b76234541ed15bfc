import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { setTimeout as delay } from 'node:timers/promises';
import { Redis } from 'ioredis';
import { freePort } from './free-port.js';

export interface RedisServer {
  url: string;
  port: number;
  /** Kills the server at once (SIGKILL), as a crash would. */
  kill(): Promise<void>;
  /** Stops the process (SIGSTOP) with its connections open: a server that hangs. `resume()` undoes it. */
  pause(): void;
  /** Lets a paused server run again (SIGCONT). */
  resume(): void;
  /** Starts it again on the same port and directory (with AOF, data survives). */
  restart(): Promise<void>;
  /** Stops it and removes its directory. */
  stop(): Promise<void>;
}

/**
 * A private redis-server from PATH on a free loopback port, in a temporary directory, for tests,
 * benchmarks and the sandbox: it never touches a server or data that someone else started.
 * `args` are passed on to redis-server after the defaults (e.g. `--replicaof 127.0.0.1 6380`).
 */
export async function startRedisServer(options: { appendonly?: boolean; debugCommand?: boolean; args?: string[] } = {}): Promise<RedisServer> {
  const port = await freePort();
  const dir = mkdtempSync(join(tmpdir(), 'approval-gate-redis-'));
  const args = ['--port', String(port), '--bind', '127.0.0.1', '--dir', dir, '--save', '', '--maxmemory-policy', 'noeviction', '--appendonly', options.appendonly ? 'yes' : 'no'];
  // DEBUG SLEEP makes Redis unresponsive with connections open: how tests show a slow Redis.
  if (options.debugCommand) args.push('--enable-debug-command', 'yes');
  args.push(...(options.args ?? []));
  let child: ChildProcess | undefined;
  const launch = async () => {
    const started = spawn('redis-server', args, { stdio: 'ignore' });
    child = started;
    const failed = new Promise<never>((_, reject) => {
      started.once('error', (err) => reject(new Error(`could not start redis-server from PATH (install it, e.g. apt-get install redis-server): ${err.message}`)));
      started.once('exit', (code) => reject(new Error(`redis-server exited with code ${code} before it was ready`)));
    });
    await Promise.race([waitUntilReady(port, () => started.exitCode === null && started.signalCode === null), failed]);
  };
  const kill = async () => {
    const running = child;
    if (!running || running.exitCode !== null || running.signalCode !== null) return;
    const exited = new Promise((resolve) => running.once('exit', resolve));
    running.kill('SIGKILL');
    await exited;
  };
  try {
    await launch();
  } catch (err) {
    rmSync(dir, { recursive: true, force: true });
    throw err;
  }
  return {
    url: `redis://127.0.0.1:${port}`,
    port,
    kill,
    pause: () => void child?.kill('SIGSTOP'),
    resume: () => void child?.kill('SIGCONT'),
    restart: launch,
    stop: async () => {
      await kill();
      rmSync(dir, { recursive: true, force: true });
    },
  };
}

async function waitUntilReady(port: number, isAlive: () => boolean): Promise<void> {
  const deadline = Date.now() + 10_000;
  while (Date.now() < deadline && isAlive()) {
    const probe = new Redis({ port, host: '127.0.0.1', lazyConnect: true, maxRetriesPerRequest: 0, retryStrategy: () => null });
    probe.on('error', () => undefined); // connection refused until the server is up
    try {
      await probe.connect();
      if ((await probe.ping()) === 'PONG') return;
    } catch {
      // not up yet
    } finally {
      probe.disconnect();
    }
    await delay(50);
  }
  throw new Error(`redis-server did not answer on port ${port} within 10 s`);
}
