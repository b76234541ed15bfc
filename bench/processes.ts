/** Processes the benches start: the bot (or a baseline) on a free port, and what they cost. */
import { spawn, type ChildProcess } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { createInterface } from 'node:readline';
import { freePort } from '../sandbox/free-port.js';

/** A running app process and the URL of its Slack events endpoint. */
export interface AppProcess {
  child: ChildProcess;
  url: string;
}

/**
 * Starts `node <args>` with `env` (and PORT set to a free port) and resolves once a line of its
 * stdout satisfies `ready`; from then on its output is only drained, so logging costs nothing.
 * Rejects if the process exits first. The caller kills it.
 */
export async function spawnUntil(args: string[], env: Record<string, string>, ready: (line: string) => boolean): Promise<AppProcess> {
  const port = await freePort();
  const child = spawn(process.execPath, args, { env: { PATH: process.env.PATH ?? '', ...env, PORT: String(port) }, stdio: ['ignore', 'pipe', 'inherit'] });
  await new Promise<void>((resolve, reject) => {
    child.once('exit', (code) => reject(new Error(`${args.join(' ')} exited with ${code}`)));
    const lines = createInterface({ input: child.stdout! });
    lines.on('line', (line) => {
      if (!ready(line)) return;
      lines.close();
      child.stdout!.resume();
      resolve();
    });
  });
  return { child, url: `http://127.0.0.1:${port}/slack/events` };
}

// Linux reports process CPU in clock ticks of 1/100 s (USER_HZ, `getconf CLK_TCK`).
const MS_PER_TICK = 10;

/** The process's user + system CPU so far, in ms (/proc/<pid>/stat fields 14 and 15). */
export function cpuMs(child: ChildProcess): number {
  const fields = readFileSync(`/proc/${child.pid}/stat`, 'utf8').replace(/^.*\) /, '').split(' ');
  return (Number(fields[11]) + Number(fields[12])) * MS_PER_TICK;
}

/** The process's resident set now and its high-water mark, in bytes (/proc/<pid>/status). */
export function residentBytes(child: ChildProcess): { rss: number; peak: number } {
  const status = readFileSync(`/proc/${child.pid}/status`, 'utf8');
  const kib = (field: string) => Number(new RegExp(`^${field}:\\s+(\\d+) kB`, 'm').exec(status)?.[1] ?? NaN) * 1024;
  return { rss: kib('VmRSS'), peak: kib('VmHWM') };
}

/** Total commands a Redis has run (INFO commandstats, every command's calls). */
export async function commandCount(redis: { info(section: string): Promise<string> }): Promise<number> {
  const info = await redis.info('commandstats');
  return [...info.matchAll(/calls=(\d+)/g)].reduce((sum, m) => sum + Number(m[1]), 0);
}

/** `min / median / max` of the values, two decimals under 100. */
export function minMedianMax(values: number[]): string {
  const sorted = [...values].sort((a, b) => a - b);
  const f = (v: number) => (v >= 100 ? v.toFixed(0) : v.toFixed(2));
  return `${f(sorted[0]!)} / ${f(sorted[Math.floor(sorted.length / 2)]!)} / ${f(sorted.at(-1)!)}`;
}
