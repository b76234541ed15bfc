import { spawn, type ChildProcess } from 'node:child_process';
import { createInterface } from 'node:readline';
import { TEST_KEY_ID, TEST_SIGNING_KEY_PEM } from './signing-key.js';

export interface LogLine {
  level: number;
  msg: string;
  [key: string]: unknown;
}

export interface BotProcess {
  logs: LogLine[];
  /** Resolves with the first log line (already seen or to come) that matches. */
  waitForLog(match: (line: LogLine) => boolean, timeoutMs?: number): Promise<LogLine>;
  /** Ends the process with SIGKILL, as a crash would. */
  kill(): Promise<void>;
  /** Ends the process with SIGTERM and waits for its exit code. */
  stop(): Promise<number | null>;
  exited: Promise<number | null>;
  stderr(): string;
}

/**
 * Starts the built bot the way `npm start` does (`node dist/main.js`), with `env` as its environment,
 * signing decisions with the tests' key unless `env` names a key (an empty one: none).
 */
export function startBot(env: Record<string, string>): BotProcess {
  const key = 'DECISION_SIGNING_KEY' in env || 'DECISION_SIGNING_KEY_FILE' in env ? {} : { DECISION_SIGNING_KEY: TEST_SIGNING_KEY_PEM, DECISION_SIGNING_KEY_ID: TEST_KEY_ID };
  const child: ChildProcess = spawn(process.execPath, ['dist/main.js'], {
    env: { PATH: process.env.PATH ?? '', ...key, ...env },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  const logs: LogLine[] = [];
  const waiters = new Set<() => void>();
  let stderr = '';
  child.stderr!.on('data', (chunk) => (stderr += String(chunk)));
  createInterface({ input: child.stdout! }).on('line', (line) => {
    try {
      logs.push(JSON.parse(line) as LogLine);
    } catch {
      logs.push({ level: 30, msg: line });
    }
    for (const wake of waiters) wake();
  });
  // 'close', not 'exit': by then every line the process wrote has been read.
  const exited = new Promise<number | null>((resolve) => child.once('close', (code) => resolve(code)));

  return {
    logs,
    exited,
    stderr: () => stderr,
    waitForLog(match, timeoutMs = 20_000) {
      return new Promise((resolve, reject) => {
        const check = () => {
          const line = logs.find(match);
          if (!line) return;
          cleanup();
          resolve(line);
        };
        const timer = setTimeout(() => {
          cleanup();
          reject(new Error(`no matching log line within ${timeoutMs} ms; last lines:\n${logs.slice(-10).map((l) => JSON.stringify(l)).join('\n')}\n${stderr}`));
        }, timeoutMs);
        const cleanup = () => {
          clearTimeout(timer);
          waiters.delete(check);
        };
        waiters.add(check);
        check();
      });
    },
    async kill() {
      if (child.exitCode !== null || child.signalCode !== null) return;
      child.kill('SIGKILL');
      await exited;
    },
    async stop() {
      if (child.exitCode !== null || child.signalCode !== null) return child.exitCode;
      child.kill('SIGTERM');
      return exited;
    },
  };
}
