import { spawn } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { createInterface } from 'node:readline';

/**
 * The bot of the sandbox, started as `npm start` starts it (`node dist/main.js`), with its JSON
 * log lines shown as short readable lines.
 */

export interface SandboxBot {
  exited: Promise<number | null>;
  /** SIGTERM, then waits for the bot to finish what is in flight. */
  stop(): Promise<void>;
}

const MAIN = fileURLToPath(new URL('../dist/main.js', import.meta.url));
const READY_TIMEOUT_MS = 30_000;
const LEVELS: Record<number, string> = { 10: 'trace', 20: 'debug', 30: 'info', 40: 'warn', 50: 'error', 60: 'fatal' };
// Fields worth a glance in a terminal; the rest stay in the bot's own JSON logs.
const SHOWN = ['run_id', 'step_id', 'decision', 'outcome', 'reason', 'user', 'channel', 'error', 'err', 'hint'];

export async function startSandboxBot(env: Record<string, string>, print: (line: string) => void): Promise<SandboxBot> {
  const child = spawn(process.execPath, [MAIN], { env: { PATH: process.env.PATH ?? '', ...env }, stdio: ['ignore', 'pipe', 'pipe'] });
  const exited = new Promise<number | null>((resolve) => child.once('close', (code) => resolve(code)));
  let stderr = '';
  child.stderr.on('data', (chunk) => (stderr += String(chunk)));
  const ready = new Promise<void>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`the bot did not start within ${READY_TIMEOUT_MS / 1000} s`)), READY_TIMEOUT_MS);
    void exited.then((code) => {
      clearTimeout(timer);
      reject(new Error(`the bot exited with code ${code} while starting${stderr ? `:\n${stderr.trim()}` : ''}`));
    });
    createInterface({ input: child.stdout }).on('line', (line) => {
      const entry = parseLine(line);
      print(formatLine(entry));
      if (entry.msg === 'approval gate started') {
        clearTimeout(timer);
        resolve();
      }
    });
  });
  const stop = async () => {
    if (child.exitCode === null && child.signalCode === null) child.kill('SIGTERM');
    await exited;
  };
  await ready.catch(async (err: unknown) => {
    await stop();
    throw err;
  });
  return { exited, stop };
}

function parseLine(line: string): { level?: number; msg?: string; [key: string]: unknown } {
  try {
    return JSON.parse(line) as { level?: number; msg?: string };
  } catch {
    return { msg: line };
  }
}

function formatLine(entry: { level?: number; msg?: string; [key: string]: unknown }): string {
  const fields = SHOWN.filter((key) => entry[key] !== undefined).map((key) => `${key}=${typeof entry[key] === 'string' ? entry[key] : JSON.stringify(entry[key])}`);
  return [LEVELS[entry.level ?? 30] ?? 'info', entry.msg ?? '', ...fields].join(' ');
}
