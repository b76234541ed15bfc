#!/usr/bin/env node
import { realpathSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { parseArgs, type ParseArgsConfig } from 'node:util';
import { ConfigError, loadCliConfig, type CliConfig } from '../../ops/config.js';
import { auditCommand, cancelCommand, keygenCommand, statusCommand } from './commands.js';
import { EXIT } from './exit-codes.js';
import { parseDuration } from './parse-duration.js';
import { serveMcp } from '../mcp/serve-mcp.js';
import { requestCommand, type CliIo } from './request-command.js';

/**
 * `approval-gate`: the gate from a shell, a CI step or an agent's hook. Reads the bot's environment
 * names (REDIS_URL, REQUEST_QUEUE, RESUME_QUEUE, QUEUE_PREFIX, POLICY_SNAPSHOT_KEY, STATE_PREFIX) and
 * DECISION_PUBLIC_KEY_FILE. Exit codes: see exit-codes.ts and the README.
 */

const USAGE = `usage:
  approval-gate request FILE.json… [--wait] [--timeout 15m]   queue requests; --wait prints each decision (JSON) and exits with its code
  approval-gate status RUN STEP                                 where an approval stands (JSON)
  approval-gate cancel RUN STEP --reason TEXT                   cancel an approval
  approval-gate audit RUN [--json]                              a run's audit trail
  approval-gate keygen [--out decision-signing-key.pem]         make a decision signing key and its public key
  approval-gate mcp                                             serve the Model Context Protocol over stdio (for agents)
exit codes: 0 approved (or done), 1 error, 2 invalid input, 3 Redis unreachable, 10 denied, 11 expired,
  12 stale, 13 cancelled, 14 timeout / still pending, 15 decision not signed by the gate's key, 16 unknown approval,
  17 a decision made for another request (job, policy snapshot or step): nobody approved this one`;

/** Runs one command line (without `node` and the script) and resolves with its exit code. */
export async function runCli(argv: string[], io: CliIo = STDIO): Promise<number> {
  const [command, ...rest] = argv;
  const usage = (problem: string) => (io.err(`${problem}\n${USAGE}`), EXIT.invalid);
  if (command === '--help' || command === '-h' || command === 'help') {
    io.out(USAGE);
    return 0;
  }
  let parsed: ReturnType<typeof parse>;
  const parse = (options: ParseArgsConfig['options']) => parseArgs({ args: rest, options: options ?? {}, allowPositionals: true, strict: true });
  try {
    parsed = parse(
      command === 'request'
        ? { wait: { type: 'boolean' }, timeout: { type: 'string' } }
        : command === 'cancel'
          ? { reason: { type: 'string' } }
          : command === 'audit'
            ? { json: { type: 'boolean' } }
            : command === 'keygen'
              ? { out: { type: 'string' } }
              : {},
    );
  } catch (err) {
    return usage((err as Error).message);
  }
  const { values, positionals } = parsed as { values: Record<string, string | boolean | undefined>; positionals: string[] };
  if (command === 'keygen') return positionals.length === 0 ? keygenCommand(String(values.out ?? 'decision-signing-key.pem'), io) : usage('keygen takes no arguments');
  let config: CliConfig;
  try {
    config = loadCliConfig();
  } catch (err) {
    if (!(err instanceof ConfigError)) throw err;
    io.err(err.message);
    return EXIT.invalid;
  }
  switch (command) {
    case 'request': {
      if (positionals.length === 0) return usage('request needs at least one FILE.json (see examples/)');
      const timeoutMs = values.timeout === undefined ? undefined : parseDuration(String(values.timeout));
      if (values.timeout !== undefined && timeoutMs === undefined) return usage(`--timeout must be a duration such as 90s, 15m or 2h, not "${String(values.timeout)}"`);
      return requestCommand(positionals, { wait: values.wait === true, timeoutMs }, config, io);
    }
    case 'status':
      return positionals.length === 2 ? statusCommand(positionals[0]!, positionals[1]!, config, io) : usage('status needs RUN and STEP');
    case 'cancel':
      if (positionals.length !== 2 || typeof values.reason !== 'string') return usage('cancel needs RUN, STEP and --reason');
      return cancelCommand(positionals[0]!, positionals[1]!, values.reason, config, io);
    case 'audit':
      return positionals.length === 1 ? auditCommand(positionals[0]!, values.json === true, config, io) : usage('audit needs RUN');
    case 'mcp':
      return positionals.length === 0 ? serveMcp(config, io) : usage('mcp takes no arguments');
    default:
      return usage(command ? `unknown command "${command}"` : 'a command is needed');
  }
}

/** Results on stdout, everything else on stderr. */
export const STDIO: CliIo = { out: (line) => process.stdout.write(`${line}\n`), err: (line) => process.stderr.write(`${line}\n`) };

/** Runs a command line as a program: sets the exit code, and reports an unexpected error in one line. */
export function runAsProgram(argv: string[]): void {
  const io = STDIO;
  runCli(argv, io).then(
    (code) => {
      process.exitCode = code;
      // Everything is closed by now; should a connection linger, it must not keep a CI step waiting.
      setTimeout(() => process.exit(code), 2000).unref();
    },
    (err: unknown) => {
      io.err(`approval-gate: ${err instanceof Error ? err.message : String(err)}`);
      process.exitCode = EXIT.error;
    },
  );
}

// Run when started as a program (the bin, `node dist/client/cli/main.js`, tsx), not when imported.
if (process.argv[1] && realpathSync(process.argv[1]) === fileURLToPath(import.meta.url)) runAsProgram(process.argv.slice(2));
