import type { AnyMiddlewareArgs, BufferedIncomingMessage, Context, Middleware, ReceiverProcessEventErrorHandlerArgs, SlackAction } from '@slack/bolt';
import { HTTPModuleFunctions, defaultProcessEventErrorHandler as defaultSocketModeErrorHandler, type SocketModeReceiverProcessEventErrorHandlerArgs } from '@slack/bolt';
import { ACTION_APPROVE, ACTION_DENY, ACTION_MORE } from '../views/cards.js';
import { UNCHECKED_IN_MODAL, UNCHECKED_REPLY } from '../views/replies.js';
import type { Logger } from '../ops/logger.js';
import type { Metrics } from '../ops/metrics.js';
import { withTimeout } from '../ops/with-timeout.js';
import type { RequestMemory } from '../store/request-memory.js';
import { createResponder } from './respond.js';

/**
 * Requests Slack did not send are refused before any listener runs. Bolt checks the signature and
 * refuses a timestamp more than 5 minutes old; this guard also refuses one more than 5 minutes
 * ahead, refuses a signature header that is not exactly `v0=` and 64 lowercase hex digits (Bolt splits
 * the header on `=` and ignores anything after the hash, so `v0=<hash>=x` would pass it as the same
 * signature), and remembers every request it lets through (by the signature's hash over HTTP, which
 * only the signed timestamp and body determine; by its envelope id over Socket Mode) in Redis, so the
 * same request delivered again, to any replica, under any header, is refused.
 * Approve/Deny clicks are remembered by the click listener, in the same step as their inbox entry.
 *
 * A refused request gets HTTP 401 (over Socket Mode it is acknowledged and dropped); it is logged
 * and counted (`approval_gate_refusals_total{reason}`), and nothing reaches the reviewer.
 */

/** How far a request's timestamp may be from now (s), either way (https://api.slack.com/authentication/verifying-requests-from-slack). */
export const REPLAY_WINDOW_SEC = 300;
/**
 * How long (ms from its arrival) a request may wait for Redis before it is acknowledged: Slack
 * wants the acknowledgement within 3 s of sending, network included
 * (https://api.slack.com/interactivity/handling#acknowledgment_response).
 */
export const ACK_BUDGET_MS = 1500;

/** The only form of `x-slack-signature` Slack sends: version `v0` and a hex HMAC-SHA256 (https://api.slack.com/authentication/verifying-requests-from-slack). */
const SIGNATURE_FORM = /^v0=([0-9a-f]{64})$/;

export type RefusalReason = 'replayed' | 'future_timestamp' | 'stale_timestamp' | 'malformed_signature' | 'unidentified';

/** A request refused before processing; the receivers answer it (see {@link answerRefusedOverHttp}). */
export class RequestRefusedError extends Error {
  override name = 'RequestRefusedError';
  /** Bolt hands errors that carry a code to the error handlers as they are. */
  readonly code = 'approval_gate_request_refused';
  constructor(readonly reason: RefusalReason) {
    super(`request refused: ${reason}`);
  }
}

/** What the receiver tells about a request: over HTTP its signed timestamp (s) and signature, over Socket Mode its envelope id. */
export interface SlackRequest {
  timestampSec?: number;
  signature?: string;
  envelopeId?: string;
}

/** What the guard tells the listeners: the request's key in the memory, and when it arrived (ms). */
export interface Arrival {
  requestKey: string;
  receivedAt: number;
}

/** For HTTPReceiver's `customPropertiesExtractor`: the headers the guard needs, as the context's `slackRequest`. */
export function httpRequestProperties(req: BufferedIncomingMessage): { slackRequest: SlackRequest } {
  const timestamp = req.headers['x-slack-request-timestamp'];
  const signature = req.headers['x-slack-signature'];
  return {
    slackRequest: {
      ...(typeof timestamp === 'string' ? { timestampSec: Number(timestamp) } : {}),
      ...(typeof signature === 'string' ? { signature } : {}),
    },
  };
}

/** For SocketModeReceiver's `customPropertiesExtractor`: the envelope id, as the context's `slackRequest`. */
export function socketRequestProperties(event: { envelope_id?: unknown }): { slackRequest: SlackRequest } {
  return { slackRequest: typeof event.envelope_id === 'string' ? { envelopeId: event.envelope_id } : {} };
}

/**
 * The guard's findings for a listener.
 * @throws when the guard did not run: it must be registered with `app.use` before any listener.
 */
export function arrivalOf(context: Context): Arrival {
  const arrival = context.arrival as Arrival | undefined;
  if (!arrival) throw new Error('the request guard did not run: register createRequestGuard with app.use before the listeners');
  return arrival;
}

/** What is left of the acknowledgement budget (ms) for a request that arrived at `receivedAt`. */
export function ackBudgetLeft(receivedAt: number, now = Date.now()): number {
  return Math.max(0, receivedAt + ACK_BUDGET_MS - now);
}

export interface GuardDeps {
  memory: RequestMemory;
  metrics: Metrics;
  log: Logger;
  now?: () => number;
}

/** The global middleware: refuses what Slack did not send, remembers the rest, and hands listeners the {@link Arrival}. */
export function createRequestGuard(deps: GuardDeps): Middleware<AnyMiddlewareArgs> {
  return async (args) => {
    const { body, context, next } = args;
    const receivedAt = deps.now?.() ?? Date.now();
    const action = actionOf(body);
    const request = (context.slackRequest as SlackRequest | undefined) ?? {};
    if (request.timestampSec !== undefined) {
      const skewSec = request.timestampSec - receivedAt / 1000;
      if (skewSec > REPLAY_WINDOW_SEC) refuseRequest(deps, 'future_timestamp', action);
      if (skewSec < -REPLAY_WINDOW_SEC) refuseRequest(deps, 'stale_timestamp', action);
    }
    const requestKey = requestKeyOf(request) ?? refuseRequest(deps, request.signature === undefined ? 'unidentified' : 'malformed_signature', action);
    context.arrival = { requestKey, receivedAt } satisfies Arrival;
    // An Approve/Deny click is remembered with its inbox entry, in one step (see buttons.ts).
    if (action === 'approve' || action === 'deny') return next();
    const first = await withTimeout(deps.memory.remember(requestKey), ackBudgetLeft(receivedAt), 'Redis did not answer').catch((err: unknown) => {
      deps.log.error({ action, err: String(err) }, 'request not checked against those seen: nothing done');
      return undefined;
    });
    if (first === false) refuseRequest(deps, 'replayed', action);
    if (first === undefined) {
      deps.metrics.refusals.inc({ reason: 'unavailable', action });
      return answerUnchecked(args, deps.log);
    }
    await next();
  };
}

/**
 * The request's key in the memory: `sig:<64 hex>` over HTTP, `env:<envelope id>` over Socket Mode;
 * undefined for a request without either, or with a signature header in any other form than Slack's.
 */
export function requestKeyOf(request: SlackRequest): string | undefined {
  if (request.signature !== undefined) {
    const hash = SIGNATURE_FORM.exec(request.signature)?.[1];
    return hash ? `sig:${hash}` : undefined;
  }
  return request.envelopeId ? `env:${request.envelopeId}` : undefined;
}

/**
 * Logs and counts a refused request, then throws it to the receiver, which answers it.
 * @throws RequestRefusedError always.
 */
export function refuseRequest(deps: Pick<GuardDeps, 'metrics' | 'log'>, reason: RefusalReason, action: string): never {
  deps.metrics.refusals.inc({ reason, action });
  deps.log.warn({ outcome: 'refused', reason, action }, 'request refused');
  throw new RequestRefusedError(reason);
}

/** The error handler of Bolt's HTTPReceiver: a refused request gets HTTP 401, as Bolt answers a bad signature. */
export async function answerRefusedOverHttp(args: ReceiverProcessEventErrorHandlerArgs): Promise<boolean> {
  if (!(args.error instanceof RequestRefusedError)) return HTTPModuleFunctions.defaultProcessEventErrorHandler(args);
  if (!args.response.headersSent) {
    args.response.writeHead(401);
    args.response.end();
  }
  return true;
}

/** The error handler of Bolt's SocketModeReceiver: a refused envelope is acknowledged (so Slack does not send it again) and dropped. */
export async function answerRefusedOverSocket(args: SocketModeReceiverProcessEventErrorHandlerArgs): Promise<boolean> {
  if (args.error instanceof RequestRefusedError) return true;
  return defaultSocketModeErrorHandler(args);
}

/** The label of a request in logs and metrics: `approve`, `deny`, `open_modal`, `modal_submit`, `command`, or Slack's type. */
function actionOf(body: AnyMiddlewareArgs['body']): string {
  if ('command' in body) return 'command';
  if (body.type === 'view_submission') return 'modal_submit';
  const actionId = body.type === 'block_actions' ? (body as SlackAction & { actions?: { action_id?: string }[] }).actions?.[0]?.action_id : undefined;
  if (actionId === ACTION_APPROVE) return 'approve';
  if (actionId === ACTION_DENY) return 'deny';
  if (actionId === ACTION_MORE) return 'open_modal';
  return String(body.type ?? 'unknown');
}

/** A request the guard could not check in time: acknowledged, and the person told that nothing was done, as its kind allows. */
async function answerUnchecked(args: AnyMiddlewareArgs & { context: Context }, log: Logger): Promise<void> {
  const { body } = args;
  const { ack } = args as unknown as { ack?: (response?: unknown) => Promise<void> };
  if (body.type === 'view_submission') {
    const blocks = ((body as { view?: { blocks?: { type?: string; block_id?: string }[] } }).view?.blocks ?? []).filter((block) => block.type === 'input');
    await ack?.(blocks[0]?.block_id ? { response_action: 'errors', errors: { [blocks[0].block_id]: UNCHECKED_IN_MODAL } } : undefined);
    return;
  }
  if ('command' in body) {
    await ack?.({ response_type: 'ephemeral', text: UNCHECKED_REPLY });
    return;
  }
  await ack?.();
  const responseUrl = (body as { response_url?: unknown }).response_url;
  if (typeof responseUrl === 'string') {
    await createResponder(responseUrl)({ response_type: 'ephemeral', replace_original: false, text: UNCHECKED_REPLY }).catch((err: unknown) =>
      log.warn({ err: String(err) }, 'could not say that the request was not carried out'),
    );
  }
}
