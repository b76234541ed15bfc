import { LogLevel, type Logger as SlackLogger } from '@slack/logger';
import { pino, type DestinationStream, type Logger } from 'pino';

export type { Logger };

/** Tokens, secrets, private keys and auth headers never reach a log line, wherever they sit in an object. */
const REDACT_PATHS = [
  'token',
  '*.token',
  'botToken',
  '*.botToken',
  'appToken',
  '*.appToken',
  'signingSecret',
  '*.signingSecret',
  'authorization',
  '*.authorization',
  'headers.authorization',
  '*.headers.authorization',
  'headers["x-slack-signature"]',
  // The decision signing key, as a KeyObject in the config or as PEM text in an environment.
  'privateKey',
  '*.privateKey',
  '*.*.privateKey',
  'DECISION_SIGNING_KEY',
  '*.DECISION_SIGNING_KEY',
];

/**
 * The process logger: pino JSON lines on stdout (or `destination`, for tests). Writes are
 * synchronous, so the last lines before an exit (a fatal start-up error, "stopped") are never lost.
 */
export function createLogger(level: string, destination: DestinationStream = pino.destination({ dest: 1, sync: true })): Logger {
  return pino(
    {
      level,
      base: { service: 'approval-gate' },
      redact: { paths: REDACT_PATHS, censor: '[redacted]' },
      timestamp: pino.stdTimeFunctions.isoTime,
    },
    destination,
  );
}

const TO_PINO: Record<LogLevel, string> = {
  [LogLevel.ERROR]: 'error',
  [LogLevel.WARN]: 'warn',
  [LogLevel.INFO]: 'info',
  [LogLevel.DEBUG]: 'debug',
};

/** Bolt and @slack/web-api log through @slack/logger's interface: this adapts it to pino. */
export function toSlackLogger(log: Logger, name: string): SlackLogger {
  let child = log.child({ component: name });
  const write = (level: 'debug' | 'info' | 'warn' | 'error') => (...msg: unknown[]) =>
    child[level]({ detail: msg.length > 1 ? msg.slice(1) : undefined }, String(msg[0]));
  return {
    debug: write('debug'),
    info: write('info'),
    warn: write('warn'),
    error: write('error'),
    setLevel: (level: LogLevel) => {
      child.level = TO_PINO[level] ?? 'info';
    },
    getLevel: () => (Object.entries(TO_PINO).find(([, value]) => value === child.level)?.[0] as LogLevel | undefined) ?? LogLevel.INFO,
    setName: (newName: string) => {
      child = log.child({ component: newName });
    },
  };
}
