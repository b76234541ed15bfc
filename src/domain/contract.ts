import { createHash } from 'node:crypto';
import canonicalize from 'canonicalize';
import { z } from 'zod';
import { findJsonProblem, RESERVED_KEYS, reservedKeyMessage } from './json-bounds.js';

/**
 * The public contract with workflow engines: what they put on the request queue.
 * Engines in any language rely on these names and rules exactly; the README documents them.
 */

/** The BullMQ job name of an approval request on `REQUEST_QUEUE`. */
export const REQUEST_JOB_NAME = 'request';

/**
 * Bounds on every field, so that one approval stays small in Redis and no request costs the bot
 * more than a bounded amount of work; the card renderer cuts further to Slack's limits. Lengths are
 * in characters (UTF-16 code units, as JavaScript counts them) unless the name says bytes.
 */
export const LIMITS = {
  id: 200,
  name: 200,
  reason: 10_000,
  riskTags: 32,
  riskTag: 64,
  constraints: 50,
  constraintKey: 100,
  constraintValue: 1_000,
  /** A constraint number's magnitude: integers beyond it lose precision in engines that read JSON numbers as doubles. */
  constraintNumber: Number.MAX_SAFE_INTEGER,
  /** Slack IDs (channels, users) are 9 to 11 characters today; this leaves room for longer ones. */
  slackId: 64,
  /** 365 days, in seconds: far beyond any route's useful expiry, and far inside what a Date can hold. */
  expiresInSec: 365 * 24 * 3600,
  jobCanonicalBytes: 64 * 1024,
  /** Levels of arrays and objects in `job`, `job` itself being level 1. */
  jobDepth: 64,
  /**
   * The job's data as JSON text, checked before it is parsed. A valid request is at most about
   * 592 KiB even written with every non-ASCII character escaped as \uXXXX (as Python's json.dumps
   * does): the job at 3× its 64 KiB canonical limit (an astral character is 4 bytes canonical, 12
   * escaped), 6 bytes per character of every other text at its maximum, plus names and punctuation.
   * Rounded up, with room for a few fields outside the contract.
   */
  rawRequestBytes: 640 * 1024,
} as const;

const HASH = /^(sha256:)?[0-9a-fA-F]{8,128}$/;
const CHANNEL_ID = new RegExp(`^[CGD][A-Z0-9]{2,${LIMITS.slackId - 1}}$`);
const USER_ID = new RegExp(`^[UW][A-Z0-9]{2,${LIMITS.slackId - 1}}$`);
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

const CONSTRAINT_VALUE = `must be a string (at most ${LIMITS.constraintValue} characters), a number from -(2^53 - 1) to 2^53 - 1, or a boolean`;
const ConstraintValue = z.union(
  [z.string().max(LIMITS.constraintValue), z.number().min(-LIMITS.constraintNumber, CONSTRAINT_VALUE).max(LIMITS.constraintNumber, CONSTRAINT_VALUE), z.boolean()],
  { error: CONSTRAINT_VALUE },
);

// Reserved keys are refused on the object as sent: zod's record parsing would drop `__proto__` unseen.
const Constraints = z.preprocess(
  (value, ctx) => {
    if (value === null || typeof value !== 'object') return value;
    for (const key of Object.keys(value)) {
      if (RESERVED_KEYS.has(key)) ctx.addIssue({ code: 'custom', path: [key], message: reservedKeyMessage(key), input: value });
    }
    return value;
  },
  z
    .record(z.string().min(1).max(LIMITS.constraintKey), ConstraintValue)
    .refine((c) => Object.keys(c).length <= LIMITS.constraints, `must have at most ${LIMITS.constraints} keys`),
);

/**
 * Run ids starting with this belong to the MCP server's agents (client/mcp): the approval id is the
 * run and step, so a request on a run id of the other kind would supersede the other's card.
 */
export const MCP_RUN_PREFIX = 'mcp-';
/** The `requested_by` of every request the MCP server sends: `mcp:` and the MCP client's name. */
export const MCP_REQUESTER_PREFIX = 'mcp:';

/**
 * Why a request is on the wrong side of the line between agents and workflows, or undefined: a run id
 * in the MCP namespace is only for a request from the MCP server (`requested_by` `mcp:…`), and a
 * request from it only for a run id in that namespace. This keeps a workflow's request off an
 * agent's card (and the MCP server keeps agents off workflows' runs); it cannot tell who wrote a job
 * on the request queue, which only Redis ACLs can (SECURITY.md). Cancel jobs are not checked: they
 * carry no `requested_by`, and a cancel closes an approval without deciding it (README, SECURITY.md).
 */
export function namespaceProblem(request: { run_id: string; requested_by: string }): string | undefined {
  const agentRun = request.run_id.startsWith(MCP_RUN_PREFIX);
  const fromAgent = request.requested_by.startsWith(MCP_REQUESTER_PREFIX);
  if (agentRun && !fromAgent) return `run_id: must not start with "${MCP_RUN_PREFIX}" (that namespace belongs to agents using the MCP server, whose requests say requested_by "${MCP_REQUESTER_PREFIX}…"): give the workflow's run another id`;
  if (fromAgent && !agentRun) return `requested_by: must not start with "${MCP_REQUESTER_PREFIX}" on a run_id outside "${MCP_RUN_PREFIX}" (only the MCP server's agents say "${MCP_REQUESTER_PREFIX}…", and only on their own runs)`;
  return undefined;
}

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
    constraints: Constraints.optional(),
    channel: z.string().regex(CHANNEL_ID, 'must be a Slack channel ID such as C0123ABCD').optional(),
    thread_ts: z.string().regex(THREAD_TS, 'must be a Slack message ts such as 1712345678.000100').optional(),
    initiated_by: z.string().regex(USER_ID, 'must be the Slack user ID (U…) of the person who started the run').optional(),
    expires_in_sec: z
      .number()
      .int('must be a positive whole number of seconds')
      .positive('must be a positive whole number of seconds')
      .max(LIMITS.expiresInSec, `must be at most ${LIMITS.expiresInSec} seconds (365 days)`)
      .optional(),
  })
  .superRefine((request, ctx) => {
    const outside = namespaceProblem(request);
    if (outside) ctx.addIssue({ code: 'custom', path: [], message: outside });
    if (request.job === undefined) return;
    // Bounded and checked first: canonicalize recurses, and throws on what RFC 8785 cannot write.
    const problem = findJsonProblem(request.job, 'job', { maxDepth: LIMITS.jobDepth, maxBytes: LIMITS.jobCanonicalBytes });
    if (problem) {
      ctx.addIssue({ code: 'custom', path: [], message: problem });
      return;
    }
    const canonical = canonicalize(request.job)!;
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

/**
 * Checks job data against the contract; `problems` name each bad field, e.g. `reason: required`.
 * Never throws: whatever JSON an engine sends gets an answer.
 */
export function parseRequest(data: unknown): ParsedRequest {
  const parsed = RequestSchema.safeParse(data);
  if (parsed.success) return { ok: true, request: parsed.data };
  if (data === null || typeof data !== 'object' || Array.isArray(data)) {
    return { ok: false, problems: ['request: must be a JSON object'] };
  }
  return {
    ok: false,
    problems: parsed.error.issues.map((issue) => (issue.path.length === 0 && issue.code === 'custom' ? issue.message : `${issue.path.join('.') || 'request'}: ${issue.message}`)),
  };
}

/**
 * Why a request's data is refused before it is parsed, or undefined: its size as JSON text, in
 * UTF-8 bytes, against {@link LIMITS}.rawRequestBytes. Costs nothing for a huge text (its length
 * alone is over the limit) and at most one pass over a text within it.
 */
export function rawSizeProblem(text: string): string | undefined {
  // A UTF-16 code unit is at least one UTF-8 byte: a text this long is over the limit unmeasured.
  const bytes = text.length > LIMITS.rawRequestBytes ? text.length : Buffer.byteLength(text);
  if (bytes <= LIMITS.rawRequestBytes) return undefined;
  const size = text.length > LIMITS.rawRequestBytes ? `at least ${bytes}` : String(bytes);
  return `request: ${size} bytes of JSON, more than the limit of ${LIMITS.rawRequestBytes} bytes (640 KiB), so it was not read: send the job's hash and keep the job small (at most ${LIMITS.jobCanonicalBytes} bytes as canonical JSON)`;
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

/** The signature algorithm of decisions: Ed25519 (RFC 8032), the only one. */
export const DECISION_SIGNATURE_ALG = 'Ed25519';

/**
 * The gate's signature over a decision: Ed25519 over the RFC 8785 canonical JSON of the decision
 * without its `signature` field, as UTF-8 bytes. `sig` is the 64-byte signature in base64url (no
 * padding); `key_id` names the public key to check it with (DECISION_SIGNING_KEY_ID).
 */
export const DecisionSignatureSchema = z.strictObject({
  alg: z.literal(DECISION_SIGNATURE_ALG),
  key_id: z.string().meta({ description: 'Which of the gate\'s public keys checks `sig` (DECISION_SIGNING_KEY_ID): several may be trusted at once while keys rotate.' }),
  sig: z.string().meta({ description: 'Ed25519 signature (64 bytes, base64url without padding) over the UTF-8 bytes of the RFC 8785 canonical JSON of the decision without `signature`.' }),
});
export type DecisionSignature = z.infer<typeof DecisionSignatureSchema>;

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
  signature: DecisionSignatureSchema.optional().meta({
    description:
      'The gate\'s signature, on every decision the bot pushes (the decision as recorded in Redis has none: it is signed as it is pushed). A decision without one, or with one that does not check out, was not made by the gate: do not act on it.',
  }),
});
export type Decision = z.infer<typeof DecisionSchema>;

/** The id of an approval's decision job: one per approval, so a repeated push is a no-op. */
export function decisionJobId(approvalId: string): string {
  return `decision-${approvalId}`;
}
