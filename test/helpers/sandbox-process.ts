import { spawn } from 'node:child_process';
import { waitFor } from './wait.js';

export interface SandboxProcess {
  url: string;
  /** The Redis URL the sandbox printed. */
  redisUrl: string;
  output(): string;
  /** Sends the signal (Ctrl-C is SIGINT) and waits for the exit code. */
  stop(signal?: NodeJS.Signals): Promise<number | null>;
  exited: Promise<number | null>;
}

/** Starts the sandbox as `npm run sandbox` does (`node --import tsx sandbox/start.ts`, the bot built) and waits until it prints its URL. */
export async function startSandbox(env: Record<string, string>, args: string[] = []): Promise<SandboxProcess> {
  const child = spawn(process.execPath, ['--import', 'tsx', 'sandbox/start.ts', ...args], { env: { PATH: process.env.PATH ?? '', ...env }, stdio: ['ignore', 'pipe', 'pipe'] });
  let output = '';
  child.stdout.on('data', (chunk) => (output += String(chunk)));
  child.stderr.on('data', (chunk) => (output += String(chunk)));
  const exited = new Promise<number | null>((resolve) => child.once('close', (code) => resolve(code)));
  let ended = false;
  void exited.then(() => (ended = true));
  const stop = async (signal: NodeJS.Signals = 'SIGINT') => {
    if (!ended) child.kill(signal);
    return exited;
  };
  try {
    const url = await waitFor('the sandbox to print its URL', () => {
      if (ended) throw new Error(`the sandbox exited before it was ready:\n${output}`);
      // The banner comes in several writes: wait for its environment line too.
      return /REDIS_URL=\S+ /.test(output) ? /Sandbox ready: (\S+)/.exec(output)?.[1] : undefined;
    }, 40_000);
    const redisUrl = /REDIS_URL=(\S+)/.exec(output)![1]!;
    return { url, redisUrl, output: () => output, stop, exited };
  } catch (err) {
    await stop('SIGKILL');
    throw err;
  }
}
