const UNIT_MS = { ms: 1, s: 1000, m: 60_000, h: 3_600_000 } as const;

/**
 * A duration as written on the command line (`90s`, `15m`, `2h`, `500ms`; a bare number is seconds),
 * in ms, or undefined when it is not one.
 */
export function parseDuration(text: string): number | undefined {
  const match = /^(\d+(?:\.\d+)?)(ms|s|m|h)?$/.exec(text.trim());
  if (!match) return undefined;
  const ms = Number(match[1]) * UNIT_MS[(match[2] ?? 's') as keyof typeof UNIT_MS];
  return ms > 0 && ms <= 2 ** 31 - 1 ? Math.round(ms) : undefined;
}
