import { withTimeout } from '../../ops/with-timeout.js';
import type { ApprovalStatus } from '../../store/approval-status.js';
import type { ApprovalClient, ApprovalHandle, ApprovalRequestInput } from '../approval-client.js';
import { READ_DEADLINE_MS, SEND_DEADLINE_MS } from '../cli/client-from-config.js';
import { ApprovalRequestError, type RedisUnavailableError } from '../errors.js';

/**
 * Every Redis read or write behind an MCP tool call has a deadline: the client's connection waits out
 * reconnects (maxRetriesPerRequest: null), so a Redis that accepts connections but does not answer
 * would hold a tool call until the agent's client gives up (commonly 60 s), with nothing said.
 */

// What an agent is told to do when Redis does not answer; it must not run the step meanwhile.
const WHAT_TO_DO = 'check that Redis (REDIS_URL) is up and answering, then call get_approval again; do not proceed meanwhile';

/** A Redis read or write behind a tool call that failed or did not answer in time; the message says what failed and what to do, for the agent. */
export class RedisToolError extends Error {
  override name = 'RedisToolError';
}

/**
 * The approval's state, read within {@link READ_DEADLINE_MS} (ms).
 * @throws RedisToolError when Redis fails the read or does not answer it in time (nothing was changed).
 */
export async function readStatusWithin(client: ApprovalClient, run_id: string, step_id: string): Promise<ApprovalStatus> {
  try {
    return await withTimeout(client.status(run_id, step_id), READ_DEADLINE_MS, `Redis did not answer the read of the approval's state within ${READ_DEADLINE_MS / 1000} s`);
  } catch (err) {
    throw new RedisToolError(`${(err as Error).message} (run_id "${run_id}", step_id "${step_id}"); nothing was decided or cancelled by this call: ${WHAT_TO_DO}`, { cause: err });
  }
}

/**
 * Queues the request within {@link SEND_DEADLINE_MS} (ms). Past it, or on a Redis error, the request
 * may or may not be queued: the agent is told how to find out, and that sending the same request again
 * makes no second card (the bot answers a duplicate with the card it has).
 * @throws ApprovalRequestError for a request the bot would refuse (nothing was sent); RedisToolError otherwise.
 */
export async function sendWithin(client: ApprovalClient, input: ApprovalRequestInput & { run_id: string; step_id: string }): Promise<ApprovalHandle> {
  try {
    return await withTimeout(client.requestApproval(input), SEND_DEADLINE_MS, `Redis did not answer the queuing of the request within ${SEND_DEADLINE_MS / 1000} s`);
  } catch (err) {
    if (err instanceof ApprovalRequestError) throw err;
    throw new RedisToolError(
      `${(err as Error).message}: the request for run_id "${input.run_id}", step_id "${input.step_id}" may or may not be queued; ` +
        'check that Redis (REDIS_URL) is up and answering, then call get_approval with this run_id and step_id to see whether the bot has it, ' +
        'or request_approval again with the same run_id, step_id and job (the same request queued twice makes one card); do not proceed meanwhile',
      { cause: err },
    );
  }
}

/** The agent's version of a wait that gave up on a silent Redis (the error's own message names the command line's commands). */
export function silentWhileWaiting(err: RedisUnavailableError): RedisToolError {
  return new RedisToolError(`Redis has not answered for ${Math.round(err.silentMs / 1000)} s while waiting for the decision of run ${err.run_id}, step ${err.step_id}; nothing was cancelled: ${WHAT_TO_DO}`, { cause: err });
}
