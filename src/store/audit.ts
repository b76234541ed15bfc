import type { Redis } from 'ioredis';
import type { Approval } from '../domain/approval.js';

/**
 * The audit trail: one Redis stream of everything that happened to every approval, capped at a
 * configurable length. Changes of state (requested, posted, decided…) are appended by the same Lua
 * script that makes the change, so the trail never disagrees with the state; refusals, which change
 * nothing, are appended from here.
 */

/** `vote_dropped`: an approval counted earlier no longer stood when it was re-checked at completion (its voter and why in `detail`). */
export type AuditEvent = 'requested' | 'superseded' | 'posted' | 'clicked' | 'refused' | 'approval_counted' | 'vote_dropped' | 'decided' | 'stale' | 'expired' | 'cancelled';

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

export interface Audit {
  key: string;
  maxLen: number;
  append(entry: AuditEntry): Promise<void>;
  /** Every entry of a run still in the stream, oldest first. */
  trail(runId: string): Promise<AuditEntry[]>;
}

const SCAN_PAGE = 1000;

export function createAudit(redis: Redis, options: { key: string; maxLen: number }): Audit {
  return {
    ...options,
    async append(entry) {
      await redis.xadd(options.key, 'MAXLEN', '~', String(options.maxLen), '*', ...auditFields(entry));
    },
    async trail(runId) {
      const found: AuditEntry[] = [];
      let start = '-';
      for (;;) {
        const page = await redis.xrange(options.key, start, '+', 'COUNT', SCAN_PAGE);
        for (const [, fields] of page) {
          const entry = toEntry(fields);
          if (entry.run_id === runId) found.push(entry);
        }
        if (page.length < SCAN_PAGE) return found;
        start = `(${page.at(-1)![0]}`;
      }
    },
  };
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

/** A run's trail as a plain-text table, oldest first. */
export function formatTrail(entries: AuditEntry[]): string {
  const rows = entries.map((e) => [
    new Date(e.at).toISOString().replace('T', ' ').replace('Z', ''),
    e.step_id,
    e.event,
    e.actor,
    e.detail ? Object.entries(e.detail).map(([k, v]) => `${k}=${typeof v === 'string' ? v : JSON.stringify(v)}`).join(' ') : '',
  ]);
  const header = ['time (UTC)', 'step', 'event', 'actor', 'detail'];
  const widths = header.map((h, i) => Math.max(h.length, ...rows.map((r) => r[i]!.length)));
  const line = (cells: string[]) => cells.map((c, i) => (i === cells.length - 1 ? c : c.padEnd(widths[i]!))).join('  ').trimEnd();
  return [line(header), line(widths.map((w) => '-'.repeat(w))), ...rows.map(line)].join('\n');
}
