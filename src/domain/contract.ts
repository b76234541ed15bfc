import { createHash } from 'node:crypto';
import canonicalize from 'canonicalize';
import { z } from 'zod';

/**
 * The public contract with workflow engines: what they put on the request queue.
 * Engines in any language rely on these names and rules exactly; the README documents them.
 */

/** The BullMQ job name of an approval request on `REQUEST_QUEUE`. */
export const REQUEST_JOB_NAME = 'request';

/** Bounds that keep one approval small in Redis; the card renderer cuts further to Slack's limits. */
export const LIMITS = {
  id: 200,
  name: 200,
  reason: 10_000,
  riskTags: 32,
  riskTag: 64,
  constraints: 50,
  constraintKey: 100,
  constraintValue: 1_000,
  jobCanonicalBytes: 64 * 1024,
} as const;

const HASH = /^(sha256:)?[0-9a-fA-F]{8,128}$/;
const CHANNEL_ID = /^[CGD][A-Z0-9]{2,}$/;
const THREAD_TS = /^\d{1,12}\.\d{1,8}$/;

const text = (max: number) =>
  z
    .string({ error: (issue) => (issue.input === undefined ? 'required' : 'must be a string') })
    .trim()
    .min(1, 'must not be empty')
    .max(max, `must be at most ${max} characters`);

const hash = z
  .string({ error: (issue) => (issue.input === undefined ? 'required' : 'must be a string') })
  .regex(HASH, 'must be a hex string of 8 to 128 characters, optionally prefixed with "sha256:"');

const ConstraintValue = z.union([z.string().max(LIMITS.constraintValue), z.number().finite(), z.boolean()], {
  error: `must be a string (at most ${LIMITS.constraintValue} characters), a finite number or a boolean`,
});

/** An approval request as the engine sends it. */
export const RequestSchema = z
  .object({
    run_id: text(LIMITS.id),
    step_id: text(LIMITS.id),
    workflow: text(LIMITS.name).optional(),
    requested_by: text(LIMITS.name),
    reason: text(LIMITS.reason),
    policy_snapshot: hash,
    policy_rule: text(LIMITS.name).optional(),
    job_hash: hash,
    job: z.unknown().optional(),
    risk_tags: z
      .array(text(LIMITS.riskTag), { error: (issue) => (issue.input === undefined ? 'required' : 'must be an array of strings') })
      .max(LIMITS.riskTags, `must have at most ${LIMITS.riskTags} tags`),
    constraints: z
      .record(z.string().min(1).max(LIMITS.constraintKey), ConstraintValue)
      .refine((c) => Object.keys(c).length <= LIMITS.constraints, `must have at most ${LIMITS.constraints} keys`)
      .optional(),
    channel: z.string().regex(CHANNEL_ID, 'must be a Slack channel ID such as C0123ABCD').optional(),
    thread_ts: z.string().regex(THREAD_TS, 'must be a Slack message ts such as 1712345678.000100').optional(),
    initiated_by: z.string().regex(/^[UW][A-Z0-9]{2,}$/, 'must be the Slack user ID (U…) of the person who started the run').optional(),
    expires_in_sec: z.number().int().positive('must be a positive whole number of seconds').optional(),
  })
  .superRefine((request, ctx) => {
    if (request.job === undefined) return;
    const canonical = canonicalize(request.job);
    if (canonical === undefined) {
      ctx.addIssue({ code: 'custom', path: ['job'], message: 'must be JSON (RFC 8785 canonicalization failed)' });
      return;
    }
    if (Buffer.byteLength(canonical) > LIMITS.jobCanonicalBytes) {
      ctx.addIssue({ code: 'custom', path: ['job'], message: `must be at most ${LIMITS.jobCanonicalBytes} bytes as canonical JSON` });
      return;
    }
    const expected = sha256Hex(canonical);
    if (normalizeHash(request.job_hash) !== expected) {
      ctx.addIssue({
        code: 'custom',
        path: ['job_hash'],
        message: `does not match job: SHA-256 of its RFC 8785 canonical JSON is ${expected}`,
      });
    }
  });

export type ApprovalRequest = z.infer<typeof RequestSchema>;

export type ParsedRequest = { ok: true; request: ApprovalRequest } | { ok: false; problems: string[] };

/** Checks job data against the contract; `problems` name each bad field, e.g. `reason: required`. */
export function parseRequest(data: unknown): ParsedRequest {
  const parsed = RequestSchema.safeParse(data);
  if (parsed.success) return { ok: true, request: parsed.data };
  if (data === null || typeof data !== 'object' || Array.isArray(data)) {
    return { ok: false, problems: ['request: must be a JSON object'] };
  }
  return {
    ok: false,
    problems: parsed.error.issues.map((issue) => `${issue.path.join('.') || 'request'}: ${issue.message}`),
  };
}

/** The hex digits of a hash, lower-case, without the optional `sha256:` prefix. */
export function normalizeHash(value: string): string {
  return value.toLowerCase().replace(/^sha256:/, '');
}

/** The short form shown on cards: the first 12 hex digits. */
export function shortHash(value: string): string {
  return normalizeHash(value).slice(0, 12);
}

export function sha256Hex(text: string): string {
  return createHash('sha256').update(text).digest('hex');
}

/**
 * The approval's id, derived from (run_id, step_id). Fixed length, hex only, so it is safe
 * as a Redis key part and as a BullMQ job id (which may not contain ':').
 */
export function approvalIdOf(request: Pick<ApprovalRequest, 'run_id' | 'step_id'>): string {
  return `ap${sha256Hex(JSON.stringify([request.run_id, request.step_id])).slice(0, 32)}`;
}

/** A job named `cancel` on the request queue: the engine no longer needs the approval. */
export const CANCEL_JOB_NAME = 'cancel';
export const CancelSchema = z.object({ run_id: text(LIMITS.id), step_id: text(LIMITS.id), reason: text(2000) });
export type CancelRequest = z.infer<typeof CancelSchema>;

/** A job named `policy` on the request queue: the policy snapshot now in force. */
export const POLICY_JOB_NAME = 'policy';
export const PolicySchema = z.object({ policy_snapshot: hash });
export type PolicyChange = z.infer<typeof PolicySchema>;

/** Checks a cancel or policy job against its schema; `problems` name each bad field. */
export function parseJob<T>(schema: z.ZodType<T>, data: unknown): { ok: true; value: T } | { ok: false; problems: string[] } {
  const parsed = schema.safeParse(data);
  if (parsed.success) return { ok: true, value: parsed.data };
  return { ok: false, problems: parsed.error.issues.map((issue) => `${issue.path.join('.') || 'data'}: ${issue.message}`) };
}

/** The BullMQ job name of a decision on `RESUME_QUEUE`. */
export const DECISION_JOB_NAME = 'decision';

/** One reviewer's approval, counted towards the approvals a route requires. */
export const VoteSchema = z.strictObject({
  id: z.string().meta({ description: 'Slack user ID of the approver.' }),
  name: z.string().meta({ description: 'Their Slack display name, from users.info.' }),
  at: z.iso.datetime().meta({ description: 'When they approved (ISO 8601).' }),
  comment: z.string().optional().meta({ description: 'Given with "Approve with comment…".' }),
});
export type Vote = z.infer<typeof VoteSchema>;

/**
 * What the engine receives on the resume queue: the outcome, who decided and when, and exactly
 * what was decided on (snapshot, job hash, constraints), so it can check on resume that it runs
 * what was approved. The bot writes exactly these fields (the schema is strict).
 */
export const DecisionSchema = z.strictObject({
  run_id: z.string(),
  step_id: z.string(),
  decision: z.enum(['approved', 'denied', 'stale', 'expired']).meta({
    description: '`approved` and `denied` are a reviewer\'s; `stale`: the policy changed before anyone could decide; `expired`: nobody decided in time.',
  }),
  decided_by: z
    .strictObject({
      id: z.string(),
      name: z.string(),
      team_id: z.string().optional(),
      email: z.string().optional(),
    })
    .meta({
      description:
        '`id` as Slack\'s signed request says (`policy` or `expiry` when no person decided); `team_id`, `name` (a display name) and, when the app has the `users:read.email` scope, `email` from Slack\'s users.info.',
    }),
  decided_at: z.iso.datetime().meta({ description: 'ISO 8601.' }),
  policy_snapshot: z.string().meta({ description: 'As the request sent it.' }),
  job_hash: z.string().meta({ description: 'As the request sent it.' }),
  constraints: z.record(z.string(), z.union([z.string(), z.number(), z.boolean()])).meta({ description: 'As the request sent them; {} when there were none.' }),
  comment: z.string().optional().meta({ description: 'Given with "Approve with comment…" or "Deny with reason…".' }),
  approvals: z.array(VoteSchema).optional().meta({ description: 'For `approved`: every approval that counted, in order (more than one when the route needs N of M).' }),
  policy_snapshot_in_force: z.string().optional().meta({ description: 'For `stale`: the snapshot in force when the click (or the policy job) came.' }),
});
export type Decision = z.infer<typeof DecisionSchema>;

/** The id of an approval's decision job: one per approval, so a repeated push is a no-op. */
export function decisionJobId(approvalId: string): string {
  return `decision-${approvalId}`;
}
