import type { RedisClient } from '../ops/redis-connection.js';
import type { Approval } from '../domain/approval.js';

/**
 * The audit trail, in two capped Redis streams. Changes of state (requested, posted, decided…) go
 * to `<STATE_PREFIX>:audit`, appended by the same Lua script that makes the change, so the trail
 * never disagrees with the state. Clicks and refusals, which anyone who can see a card can cause,
 * go to `<STATE_PREFIX>:audit:refusals`, capped on their own, and each user's refusals are recorded
 * only up to a limit per minute: a flood of clicks can neither push a decision's trail out of its
 * stream nor fill the other one. `trail()` merges both by time.
 */

export type AuditEvent =
  | 'requested'
  | 'superseded'
  | 'posted'
  | 'clicked'
  | 'refused'
  | 'throttled'
  | 'approval_counted'
  /** An approval counted earlier no longer stood when it was re-checked at completion (its voter and why in `detail`). */
  | 'vote_dropped'
  | 'decided'
  | 'stale'
  | 'expired'
  | 'cancelled';

/** What anyone who can see a card can cause, kept away from the changes of state. */
const CLICK_EVENTS: ReadonlySet<AuditEvent> = new Set(['clicked', 'refused', 'throttled']);

export interface AuditEntry {
  event: AuditEvent;
  /** ms since the epoch */
  at: number;
  approval_id: string;
  run_id: string;
  step_id: string;
  /** Who acted: a Slack user ID, the requester, or `bot`. */
  actor: string;
  policy_snapshot: string;
  job_hash: string;
  /** Event-specific facts: the decision, the refusal reason, the card's channel and ts… */
  detail?: Record<string, unknown>;
}

/** An audit entry for an approval, by an actor, now. */
export function auditEntry(approval: Approval, event: AuditEvent, actor: string, at: number, detail?: Record<string, unknown>): AuditEntry {
  const r = approval.request;
  return { event, at, approval_id: approval.id, run_id: r.run_id, step_id: r.step_id, actor, policy_snapshot: r.policy_snapshot, job_hash: r.job_hash, ...(detail ? { detail } : {}) };
}

/** The stream entry's field/value list, as XADD takes it (and as the Lua scripts receive it, JSON-encoded). */
export function auditFields(entry: AuditEntry): string[] {
  const { detail, ...flat } = entry;
  return [...Object.entries(flat).flatMap(([key, value]) => [key, String(value)]), 'detail', detail ? JSON.stringify(detail) : ''];
}

/** How many refusals of one user are recorded per window; beyond, they are counted in the metrics only. */
export interface RefusalLimit {
  max: number;
  windowMs: number;
}

/**
 * Ten a minute: far more than a person clicking on cards they may not decide ever needs to leave
 * a trace of, and per user across all approvals, so spreading clicks over many cards gains nothing.
 */
export const REFUSAL_LIMIT: RefusalLimit = { max: 10, windowMs: 60_000 };

/** Whether a refusal was recorded; when it was not, for how long more its user's refusals are not (ms). */
export type RefusalRecord = { recorded: true } | { recorded: false; ignoredForMs: number };

export interface Audit {
  /** The stream of changes of state, which the store's scripts append to. */
  key: string;
  maxLen: number;
  /** The stream of clicks and refusals: `<key>:refusals`. */
  refusalsKey: string;
  /**
   * Appends an entry to the stream its event belongs to. A `clicked` entry is left out while its
   * user is over the refusal limit (its refusal would not be recorded either).
   */
  append(entry: AuditEntry): Promise<void>;
  /**
   * Counts a `refused` entry against its user's limit (`entry.actor`) and appends it while within;
   * the first refusal over the limit appends a `throttled` entry instead, later ones nothing.
   */
  appendRefusal(entry: AuditEntry): Promise<RefusalRecord>;
  /**
   * Where a `clicked` entry goes and under which limit, for a script that appends it in the step
   * that records the click (the store's RECORD_CLICK): as {@link Audit.append} would.
   */
  clickedAppend(entry: AuditEntry): ClickedAppend;
  /** Every entry of a run still in either stream, oldest first. */
  trail(runId: string): Promise<AuditEntry[]>;
}

/** A `clicked` entry with its stream (`stream`, capped at `maxLen` entries) and its user's refusal counter (`counter`, at most `limit` a window). */
export interface ClickedAppend {
  entry: AuditEntry;
  stream: string;
  counter: string;
  maxLen: string;
  limit: string;
}

const APPEND_CLICK = `--[[
  Appends a click or a refusal to the stream of clicks, unless its user is over the refusal limit.
  Input:  KEYS[1] the stream of clicks and refusals, KEYS[2] the user's refusal counter
          ARGV[1] the stream's max length, ARGV[2] refusals recorded per window, ARGV[3] window (ms),
          ARGV[4] '1' for a refusal (counted), '0' for a click (not counted),
          ARGV[5] the entry, ARGV[6] the 'throttled' entry ('' for a click) (JSON field/value lists)
  Output: {1 when the entry was appended else 0, ms left in the user's window (negative: none)}
          A refusal is counted, then appended while the count is within the limit; the first over it
          appends the 'throttled' entry instead. A click is appended while its refusal would be.
]]
local count
if ARGV[4] == '1' then
  count = redis.call('INCR', KEYS[2])
  if redis.call('PTTL', KEYS[2]) < 0 then redis.call('PEXPIRE', KEYS[2], ARGV[3]) end
else
  count = tonumber(redis.call('GET', KEYS[2]) or '0') + 1
end
local limit = tonumber(ARGV[2])
local appended = 0
if count <= limit then
  redis.call('XADD', KEYS[1], 'MAXLEN', '~', ARGV[1], '*', unpack(cjson.decode(ARGV[5])))
  appended = 1
elseif count == limit + 1 and ARGV[4] == '1' then
  redis.call('XADD', KEYS[1], 'MAXLEN', '~', ARGV[1], '*', unpack(cjson.decode(ARGV[6])))
end
return {appended, redis.call('PTTL', KEYS[2])}
`;

const APPEND_CLICK_COMMAND = 'approvalsAPPEND_CLICK';
const SCAN_PAGE = 1000;

/**
 * The audit over one connection.
 * @param options.key the stream of changes of state; clicks and refusals go to `<key>:refusals`,
 *   and each user's refusal count to `<key>:refusal-rate:<user id>`
 * @param options.refusalsMaxLen cap of `<key>:refusals` (entries, trimmed approximately); defaults to `maxLen`
 */
export function createAudit(redis: RedisClient, options: { key: string; maxLen: number; refusalsMaxLen?: number; refusalLimit?: RefusalLimit }): Audit {
  const refusalsKey = `${options.key}:refusals`;
  const refusalsMaxLen = String(options.refusalsMaxLen ?? options.maxLen);
  const limit = options.refusalLimit ?? REFUSAL_LIMIT;
  if (!(APPEND_CLICK_COMMAND in redis)) redis.defineCommand(APPEND_CLICK_COMMAND, { numberOfKeys: 2, lua: APPEND_CLICK });
  const counterOf = (actor: string) => `${options.key}:refusal-rate:${actor}`;
  const appendClick = (entry: AuditEntry, throttled: AuditEntry | undefined) =>
    (redis as unknown as Record<string, (...args: string[]) => Promise<[number, number]>>)[APPEND_CLICK_COMMAND]!(
      refusalsKey,
      counterOf(entry.actor),
      refusalsMaxLen,
      String(limit.max),
      String(limit.windowMs),
      throttled ? '1' : '0',
      JSON.stringify(auditFields(entry)),
      throttled ? JSON.stringify(auditFields(throttled)) : '',
    );
  return {
    key: options.key,
    maxLen: options.maxLen,
    refusalsKey,
    async append(entry) {
      if (entry.event === 'clicked') {
        await appendClick(entry, undefined);
        return;
      }
      const [key, maxLen] = CLICK_EVENTS.has(entry.event) ? [refusalsKey, refusalsMaxLen] : [options.key, String(options.maxLen)];
      await redis.xadd(key, 'MAXLEN', '~', maxLen, '*', ...auditFields(entry));
    },
    async appendRefusal(entry) {
      const throttled: AuditEntry = { ...entry, event: 'throttled', detail: { ...entry.detail, limit: limit.max, window_sec: limit.windowMs / 1000 } };
      const [appended, msLeft] = await appendClick(entry, throttled);
      return appended === 1 ? { recorded: true } : { recorded: false, ignoredForMs: Math.max(msLeft, 0) };
    },
    clickedAppend: (entry) => ({ entry, stream: refusalsKey, counter: counterOf(entry.actor), maxLen: refusalsMaxLen, limit: String(limit.max) }),
    async trail(runId) {
      const [changes, clicks] = await Promise.all([readRun(redis, options.key, runId), readRun(redis, refusalsKey, runId)]);
      return mergeByTime(clicks, changes);
    },
  };
}

/** Every entry of a run in one stream, in the stream's order. */
async function readRun(redis: RedisClient, key: string, runId: string): Promise<AuditEntry[]> {
  const found: AuditEntry[] = [];
  let start = '-';
  for (;;) {
    const page = await redis.xrange(key, start, '+', 'COUNT', SCAN_PAGE);
    for (const [, fields] of page) {
      const entry = toEntry(fields);
      if (entry.run_id === runId) found.push(entry);
    }
    if (page.length < SCAN_PAGE) return found;
    start = `(${page.at(-1)![0]}`;
  }
}

/**
 * Two streams' entries as one list by time, each stream's own order kept (clocks of several bot
 * processes may disagree a little); at the same ms, `first`'s entry comes first: a click before
 * the decision it made.
 */
function mergeByTime(first: AuditEntry[], second: AuditEntry[]): AuditEntry[] {
  const merged: AuditEntry[] = [];
  let i = 0;
  let j = 0;
  while (i < first.length || j < second.length) {
    if (j >= second.length || (i < first.length && first[i]!.at <= second[j]!.at)) merged.push(first[i++]!);
    else merged.push(second[j++]!);
  }
  return merged;
}

function toEntry(fields: string[]): AuditEntry {
  const map = new Map<string, string>();
  for (let i = 0; i < fields.length; i += 2) map.set(fields[i]!, fields[i + 1]!);
  const detail = map.get('detail');
  return {
    event: map.get('event') as AuditEvent,
    at: Number(map.get('at')),
    approval_id: map.get('approval_id') ?? '',
    run_id: map.get('run_id') ?? '',
    step_id: map.get('step_id') ?? '',
    actor: map.get('actor') ?? '',
    policy_snapshot: map.get('policy_snapshot') ?? '',
    job_hash: map.get('job_hash') ?? '',
    ...(detail ? { detail: JSON.parse(detail) as Record<string, unknown> } : {}),
  };
}

/** A run's trail as a plain-text table, oldest first, one row per entry: control characters in any cell are escaped (see {@link escapeControls}). */
export function formatTrail(entries: AuditEntry[]): string {
  const rows = entries.map((e) =>
    [
      new Date(e.at).toISOString().replace('T', ' ').replace('Z', ''),
      e.step_id,
      e.event,
      e.actor,
      e.detail ? Object.entries(e.detail).map(([k, v]) => `${k}=${typeof v === 'string' ? v : JSON.stringify(v)}`).join(' ') : '',
    ].map(escapeControls),
  );
  const header = ['time (UTC)', 'step', 'event', 'actor', 'detail'];
  const widths = header.map((h, i) => Math.max(h.length, ...rows.map((r) => r[i]!.length)));
  const line = (cells: string[]) => cells.map((c, i) => (i === cells.length - 1 ? c : c.padEnd(widths[i]!))).join('  ').trimEnd();
  return [line(header), line(widths.map((w) => '-'.repeat(w))), ...rows.map(line)].join('\n');
}

// C0 and C1 controls and DEL (newlines, carriage returns, ANSI escapes…), the zero-width characters
// and byte order mark (which hide text), the line and paragraph separators, and the bidirectional
// controls (which reorder what a terminal shows).
// eslint-disable-next-line no-control-regex -- matching control characters is this pattern's purpose
const CONTROLS = /[\u0000-\u001f\u007f-\u009f\u061c\u200b-\u200f\u2028-\u202e\u2066-\u2069\ufeff]/g;
const NAMED: Record<string, string> = { '\n': '\\n', '\r': '\\r', '\t': '\\t' };

/**
 * Text as one line a terminal shows as it is: every control character (see CONTROLS) written as
 * an escape (`\n`, `\r`, `\t`, `\x1b`, `\u202e`…), so that requester-supplied text cannot
 * start a row of its own, move the cursor, recolour or hide text, or reorder what is shown.
 */
export function escapeControls(text: string): string {
  return text.replace(CONTROLS, (c) => {
    const code = c.charCodeAt(0);
    return NAMED[c] ?? (code < 0x100 ? `\\x${code.toString(16).padStart(2, '0')}` : `\\u${code.toString(16).padStart(4, '0')}`);
  });
}
