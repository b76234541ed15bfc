import { randomBytes } from 'node:crypto';
import { McpServer } from '@modelcontextprotocol/sdk/server/mcp.js';
import type { CallToolResult } from '@modelcontextprotocol/sdk/types.js';
import { z } from 'zod';
import { approvalIdOf, LIMITS, MCP_REQUESTER_PREFIX, MCP_RUN_PREFIX, type Decision } from '../../domain/contract.js';
import type { ApprovalClient } from '../approval-client.js';
import { ApprovalCancelledError, ApprovalRequestError, DecisionMismatchError, DecisionTimeoutError, RedisUnavailableError } from '../errors.js';
import { readStatusWithin, RedisToolError, sendWithin, silentWhileWaiting } from './redis-tool-error.js';

/**
 * The gate as an MCP server for agents: `request_approval` (ask, and optionally wait) and
 * `get_approval` (where it stands). What the agent cannot choose is not in the tools' schemas: the
 * policy snapshot (the one in force is bound), the channel and the approvers (the routes decide),
 * and who asks (`requested_by` is `mcp:` and the client's declared name), and runs outside its own
 * namespace (every run id starts with `mcp-`), so an agent can neither supersede nor read the
 * approval of a workflow's step. A decision is answered only for exactly the request it was made for:
 * its job hash and policy snapshot, remembered by the session that asked, or given to get_approval by
 * an agent in a new session (request_approval returns them). Every Redis read and write behind a tool
 * call has a deadline (redis-tool-error.ts): on a Redis silent from the start of a call, the call
 * ends as a tool error that says what failed and what to do within 10 s, or 35 s while it waits for a
 * decision (30 s of silence, then the read still out).
 */

/** Longest wait in one tool call (s): under the 60 s that MCP clients commonly allow a tool call. */
export const MAX_WAIT_SEC = 50;
/** How many requests of this session are remembered (their job hash and policy snapshot) for get_approval; the oldest are forgotten first. */
const REMEMBERED_REQUESTS = 10_000;

const waitSec = z.number().int().min(0).max(MAX_WAIT_SEC).optional();
const hash = z.string().min(1).max(LIMITS.id);
const stepIds = {
  run_id: z.string().min(1).max(LIMITS.id).describe(`The run this approval belongs to; it must start with "${MCP_RUN_PREFIX}".`),
  step_id: z.string().min(1).max(LIMITS.id).describe('The step within the run.'),
};

/** What a request was bound to: a decision is the answer only when it was made for exactly this. */
type Binding = { job_hash: string; policy_snapshot: string };

/** What a tool call answers: the state, the decision once there is one, and (when known) the binding it is checked against. */
type Answer = (
  | { state: 'decided'; run_id: string; step_id: string; decision: Decision; may_proceed: boolean }
  | { state: 'pending'; run_id: string; step_id: string; next: string }
  | { state: 'cancelled'; run_id: string; step_id: string; reason: string }
  | { state: 'mismatch'; run_id: string; step_id: string; may_proceed: false; reason: string }
  | { state: 'unknown'; run_id: string; step_id: string }
) & Partial<Binding>;

export function createGateMcpServer(client: ApprovalClient, options: { version: string }): McpServer {
  const server = new McpServer({ name: 'approval-gate', version: options.version });

  const requester = () => {
    const name = server.server.getClientVersion()?.name?.trim() || 'unknown-client';
    return `${MCP_REQUESTER_PREFIX}${name}`.slice(0, LIMITS.name);
  };

  /** What this session's requests were bound to, by approval id: a decision must be for that job under that snapshot. */
  const sent = new Map<string, Binding>();
  const remember = (run_id: string, step_id: string, bound: Binding) => {
    const id = approvalIdOf({ run_id, step_id });
    sent.delete(id); // the latest request on the step is the one to check against
    sent.set(id, bound);
    if (sent.size > REMEMBERED_REQUESTS) sent.delete(sent.keys().next().value!);
  };

  /** Waits up to `seconds` for the decision of the request bound as given; pending (with how to ask again) when none came. */
  const answerAfter = async (run_id: string, step_id: string, seconds: number, bound: Binding | undefined, justRequested: boolean): Promise<Answer> => {
    if (!bound) return unbound(run_id, step_id);
    try {
      // Even without a wait, look briefly: a decision already on the resume queue is found at once.
      const decision = await client.awaitDecision({ run_id, step_id, ...bound }, { timeoutMs: Math.max(seconds * 1000, 250) });
      return { state: 'decided', run_id, step_id, decision, may_proceed: decision.decision === 'approved', ...bound };
    } catch (err) {
      if (err instanceof DecisionMismatchError) return { state: 'mismatch', run_id, step_id, may_proceed: false, reason: `${err.message}; do not proceed: ask again with new run_id and step_id`, ...bound };
      if (err instanceof ApprovalCancelledError) return { state: 'cancelled', run_id, step_id, reason: err.reason, ...bound };
      if (err instanceof RedisUnavailableError) throw silentWhileWaiting(err);
      if (!(err instanceof DecisionTimeoutError)) throw err;
      // A request just queued may not be in the bot's store yet: it is pending all the same.
      const status = await readStatusWithin(client, run_id, step_id);
      if (status.state === 'unknown' && !justRequested) return { state: 'unknown', run_id, step_id };
      if (status.state === 'cancelled') return { state: 'cancelled', run_id, step_id, reason: status.reason, ...bound };
      return { state: 'pending', run_id, step_id, next: pendingNext, ...bound };
    }
  };

  /** A step this session did not ask for and whose binding the agent did not give: its state, but never a decision as the answer. */
  const unbound = async (run_id: string, step_id: string): Promise<Answer> => {
    const status = await readStatusWithin(client, run_id, step_id);
    if (status.state === 'unknown') return { state: 'unknown', run_id, step_id };
    if (status.state === 'cancelled') return { state: 'cancelled', run_id, step_id, reason: status.reason };
    if (status.state === 'pending') return { state: 'pending', run_id, step_id, next: `${pendingNext}, with job_hash and policy_snapshot as request_approval returned them` };
    return {
      state: 'mismatch',
      run_id,
      step_id,
      may_proceed: false,
      reason: 'this session did not ask for this step and no job_hash and policy_snapshot were given, so the decision cannot be checked to be for your request: call get_approval with job_hash and policy_snapshot as request_approval returned them; do not proceed until it answers decided with may_proceed true',
    };
  };

  server.registerTool(
    'request_approval',
    {
      title: 'Ask a person in Slack to approve an action',
      description:
        'Pauses before a risky action (a production write, a schema change, network egress, access to secrets) and asks the approvers in Slack. ' +
        'Returns the decision, or state "pending" with how to ask again. Proceed only when may_proceed is true, with exactly the job you proposed, within the constraints. ' +
        `Leave run_id and step_id out for new ones; a run_id you give must start with "${MCP_RUN_PREFIX}".`,
      inputSchema: {
        what: z.string().min(1).max(2000).describe('What you want to do, in one or two sentences.'),
        why: z.string().min(1).max(6000).describe('Why it is needed now.'),
        job: z.unknown().describe('The exact action you will run if approved (JSON): the approval is bound to its hash.'),
        risk_tags: z.array(z.string().min(1).max(LIMITS.riskTag)).max(LIMITS.riskTags).describe('Kinds of risk, e.g. ["prod", "write"].'),
        constraints: z.record(z.string(), z.union([z.string(), z.number(), z.boolean()])).optional().describe('Limits you will keep, e.g. {"max_rows": 100}.'),
        run_id: stepIds.run_id.optional().describe(`Groups several approvals of one task; must start with "${MCP_RUN_PREFIX}"; one is made up when left out.`),
        step_id: stepIds.step_id.optional().describe('Names this step; one is made up when left out.'),
        wait_sec: waitSec.describe(`How long to wait for the decision in this call (0 to ${MAX_WAIT_SEC} s). @defaultValue 0`),
      },
    },
    async (args): Promise<CallToolResult> => {
      const run_id = args.run_id ?? `${MCP_RUN_PREFIX}${randomBytes(6).toString('hex')}`;
      const step_id = args.step_id ?? `step-${randomBytes(4).toString('hex')}`;
      if (!run_id.startsWith(MCP_RUN_PREFIX)) return outsideNamespace(run_id);
      let bound: Binding;
      try {
        const handle = await sendWithin(client, {
          run_id,
          step_id,
          requested_by: requester(),
          workflow: 'mcp agent',
          reason: `${args.what}\n\nWhy: ${args.why}`,
          job: args.job,
          risk_tags: args.risk_tags,
          ...(args.constraints ? { constraints: args.constraints } : {}),
        });
        bound = { job_hash: handle.job_hash, policy_snapshot: handle.policy_snapshot };
        remember(run_id, step_id, bound);
      } catch (err) {
        if (err instanceof ApprovalRequestError) return { isError: true, content: [{ type: 'text', text: `not sent: ${err.problems.join('; ')}` }] };
        return redisFailure(err);
      }
      return answerAfter(run_id, step_id, args.wait_sec ?? 0, bound, true).then(toResult, redisFailure);
    },
  );

  server.registerTool(
    'get_approval',
    {
      title: 'Where an approval stands',
      description:
        'The state of an approval asked for with request_approval ("pending", "decided" with the decision, "cancelled", "mismatch" or "unknown"), waiting up to wait_sec for a decision. ' +
        'From a new session, pass job_hash and policy_snapshot as request_approval returned them: a decision is answered only for exactly that request.',
      inputSchema: {
        ...stepIds,
        job_hash: hash.optional().describe('The job_hash request_approval returned; needed when this session did not make the request.'),
        policy_snapshot: hash.optional().describe('The policy_snapshot request_approval returned; needed with job_hash.'),
        wait_sec: waitSec.describe(`How long to wait for a decision in this call (0 to ${MAX_WAIT_SEC} s). @defaultValue 0`),
      },
    },
    async (args): Promise<CallToolResult> => {
      if (!args.run_id.startsWith(MCP_RUN_PREFIX)) return outsideNamespace(args.run_id);
      if ((args.job_hash === undefined) !== (args.policy_snapshot === undefined)) {
        return { isError: true, content: [{ type: 'text', text: 'give job_hash and policy_snapshot together, as request_approval returned them, or neither' }] };
      }
      // What the agent says it asked for wins over what this session remembers: it may be a newer request on the step.
      const given = args.job_hash !== undefined && args.policy_snapshot !== undefined ? { job_hash: args.job_hash, policy_snapshot: args.policy_snapshot } : undefined;
      return answerAfter(args.run_id, args.step_id, args.wait_sec ?? 0, given ?? sent.get(approvalIdOf(args)), false).then(toResult, redisFailure);
    },
  );

  return server;
}

const pendingNext = `a person has not decided yet: call get_approval with this run_id and step_id (wait_sec up to ${MAX_WAIT_SEC})`;

/** The refusal of a run id outside the MCP namespace: workflows' approvals are not the agent's to ask for or read. */
function outsideNamespace(run_id: string): CallToolResult {
  return { isError: true, content: [{ type: 'text', text: `run_id "${run_id}" does not start with "${MCP_RUN_PREFIX}": an agent asks for and reads only approvals of its own runs; leave run_id out to get a new one` }] };
}

/** A Redis that failed or did not answer behind the call, as a tool error saying what to do; any other error is thrown on (the SDK reports it). */
function redisFailure(err: unknown): CallToolResult {
  if (!(err instanceof RedisToolError)) throw err;
  return { isError: true, content: [{ type: 'text', text: err.message }] };
}

function toResult(answer: Answer): CallToolResult {
  return { content: [{ type: 'text', text: JSON.stringify(answer) }], structuredContent: { ...answer } };
}
