import { readFileSync } from 'node:fs';
import type { CliConfig } from '../../ops/config.js';
import { describeRedisTarget } from '../../ops/redis-connection.js';
import { redactRedisUrl } from '../../ops/redis-settings.js';
import { noSnapshotProblem, prepareRequest, type ApprovalHandle } from '../approval-client.js';
import { clientFromConfig, SEND_DEADLINE_MS } from './client-from-config.js';
import { ApprovalCancelledError, ApprovalRequestError, DecisionMismatchError, DecisionTimeoutError, UntrustedDecisionError } from '../errors.js';
import { withTimeout } from '../../ops/with-timeout.js';
import { connectRedis } from './connect-redis.js';
import { EXIT, exitCodeOf } from './exit-codes.js';

/** Where the command line writes: results on `out` (stdout), everything else on `err` (stderr). */
export interface CliIo {
  out(line: string): void;
  err(line: string): void;
}

type Read = { file: string; data: Record<string, unknown> } | { file: string; problem: string };

/**
 * `approval-gate request FILE… [--wait] [--timeout 15m]`: reads and checks every file first (each
 * bad one named with its problem; the others still go), queues the good ones, and with `wait` prints
 * each decision as a JSON line. One bad file does not stop the others.
 * @returns the exit code: 0 when every file was queued (and, with `wait`, approved); otherwise the
 * code of the first file, in the order given, that was not (see EXIT).
 */
export async function requestCommand(files: string[], options: { wait: boolean; timeoutMs: number | undefined }, config: CliConfig, io: CliIo): Promise<number> {
  const codes = new Map<string, number>();
  const read = files.map(readRequest);
  for (const bad of read.filter((r) => 'problem' in r)) {
    io.err(`${bad.file}: ${bad.problem}`);
    codes.set(bad.file, EXIT.invalid);
  }
  const good = read.filter((r): r is Extract<Read, { data: unknown }> => 'data' in r);
  if (good.length > 0) {
    try {
      // A first connection that fails at once says "Redis cannot be reached" in one line; the client's
      // own reconnects, so a wait of many minutes outlives a Redis restart.
      (await connectRedis(config.redis)).disconnect();
    } catch (err) {
      io.err(`${(err as Error).message}; nothing was sent`);
      return EXIT.redis;
    }
    const client = clientFromConfig(config);
    try {
      const queued: { file: string; handle: ApprovalHandle }[] = [];
      for (const { file, data } of good) {
        const handle = await send(file, data);
        if (handle) queued.push({ file, handle });
      }
      if (options.wait && queued.length > 0) {
        if (!config.publicKeys) io.err('note: decision signatures are not checked: set DECISION_PUBLIC_KEY_FILE to the gate\'s public key');
        await Promise.all(queued.map(({ file, handle }) => wait(file, handle)));
      }
    } finally {
      await client.close();
    }

    async function send(file: string, data: Record<string, unknown>): Promise<ApprovalHandle | undefined> {
      try {
        const handle = await withTimeout(
          client.requestApproval(data as Parameters<typeof client.requestApproval>[0]),
          SEND_DEADLINE_MS,
          `Redis did not answer within ${SEND_DEADLINE_MS / 1000} s, so the request may or may not be queued: once Redis answers, "approval-gate status RUN STEP" says whether the bot has it`,
        );
        (options.wait ? io.err : io.out)(`${file}: queued as job ${handle.job_id} on ${config.queues.request} (run ${handle.run_id}, step ${handle.step_id})`);
        codes.set(file, EXIT.ok);
        return handle;
      } catch (err) {
        if (err instanceof ApprovalRequestError) {
          io.err(`${file}: not sent, the bot would reject it:\n  ${err.problems.join('\n  ')}`);
          codes.set(file, EXIT.invalid);
        } else {
          io.err(`${file}: could not be queued on ${describeRedisTarget(config.redis, redactRedisUrl)}: ${(err as Error).message}`);
          codes.set(file, EXIT.redis);
        }
        return undefined;
      }
    }

    async function wait(file: string, handle: ApprovalHandle): Promise<void> {
      try {
        const decision = await handle.decision(options.timeoutMs === undefined ? {} : { timeoutMs: options.timeoutMs });
        io.out(JSON.stringify(decision));
        codes.set(file, exitCodeOf(decision.decision));
      } catch (err) {
        io.err(`${file}: ${(err as Error).message}`);
        codes.set(file, waitFailureCode(err));
      }
    }
  }
  return files.map((file) => codes.get(file) ?? EXIT.ok).find((code) => code !== EXIT.ok) ?? EXIT.ok;
}

/** The exit code of a wait that ended without a decision for this request. */
function waitFailureCode(err: unknown): number {
  if (err instanceof DecisionTimeoutError) return EXIT.pending;
  if (err instanceof ApprovalCancelledError) return EXIT.cancelled;
  if (err instanceof UntrustedDecisionError) return EXIT.untrusted;
  if (err instanceof DecisionMismatchError) return EXIT.mismatch;
  // RedisUnavailableError (a silent Redis), or a read that failed outright.
  return EXIT.redis;
}

/** Reads, parses and checks one file as far as can be done without Redis; never throws. */
function readRequest(file: string): Read {
  let text: string;
  try {
    text = readFileSync(file, 'utf8');
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    return { file, problem: code === 'ENOENT' ? 'no such file' : `cannot read it (${code ?? String(err)})` };
  }
  let data: unknown;
  try {
    data = JSON.parse(text);
  } catch (err) {
    return { file, problem: `not JSON: ${jsonProblem(text, err as Error)}` };
  }
  if (data === null || typeof data !== 'object' || Array.isArray(data)) return { file, problem: 'not sent, the bot would reject it:\n  request: must be a JSON object' };
  try {
    prepareRequest(data as Record<string, unknown>, undefined, '');
  } catch (err) {
    // A missing snapshot is filled in from Redis later; every other problem is the file's.
    const problems = (err as ApprovalRequestError).problems.filter((p) => p !== noSnapshotProblem(''));
    if (problems.length > 0) return { file, problem: `not sent, the bot would reject it:\n  ${problems.join('\n  ')}` };
  }
  return { file, data: data as Record<string, unknown> };
}

/** JSON.parse's message with the line and column of its `position`, which is easier to find in an editor. */
function jsonProblem(text: string, err: Error): string {
  const position = /at position (\d+)/.exec(err.message);
  if (!position) return err.message;
  const before = text.slice(0, Number(position[1]));
  const line = before.split('\n').length;
  const column = before.length - before.lastIndexOf('\n');
  return `${err.message.replace(/ at position \d+.*$/, '')} at line ${line}, column ${column}`;
}
