import type { App, BlockAction, ButtonAction, RespondFn, SlackActionMiddlewareArgs } from '@slack/bolt';
import type { WebClient } from '@slack/web-api';
import { decide, type ApprovalRecord, type Click, type Outcome } from './approval.js';
import type { ApproverDirectory } from './approvers.js';
import { auditEntry, type Audit } from './audit.js';
import { ACTION_APPROVE, ACTION_DENY, cardContext, parseButtonValue, renderRequestCard } from './cards.js';
import type { Logger } from './logger.js';
import type { Outbox } from './outbox.js';
import { FOREIGN_BUTTON_REPLY, renderCounted, renderRefusal, UNAVAILABLE_REPLY } from './replies.js';
import { matchRoute, type Route } from './routes.js';
import type { ReadForClick, Store } from './store.js';
import { withTimeout } from './with-timeout.js';

/**
 * The card's buttons: ack → verify → decide → record → resume → update the card.
 * Bolt has already checked the request's signature (v0 HMAC, 5-minute window) before this runs.
 */

// A click waits this long for Redis and Slack's user groups before it is refused (nothing decided).
const READ_TIMEOUT_MS = 5000;
// Reads and the record are separate steps; when what was read changes in between, decide again.
const MAX_DECIDE_ROUNDS = 3;

export interface ActionDeps {
  store: Store;
  audit: Audit;
  outbox: Outbox;
  slack: WebClient;
  routes: Route[];
  directory: ApproverDirectory;
  policySnapshotKey: string;
  log: Logger;
  now?: () => number;
}

type ButtonArgs = SlackActionMiddlewareArgs<BlockAction<ButtonAction>>;

export function registerActions(app: App, deps: ActionDeps): void {
  app.action<BlockAction<ButtonAction>>({ type: 'block_actions', action_id: ACTION_APPROVE }, (args) => handleClick(deps, args, 'approve'));
  app.action<BlockAction<ButtonAction>>({ type: 'block_actions', action_id: ACTION_DENY }, (args) => handleClick(deps, args, 'deny'));
}

async function handleClick(deps: ActionDeps, { ack, body, action, respond }: ButtonArgs, kind: Click['action']): Promise<void> {
  await ack();
  const user = { id: body.user.id, name: body.user.username ?? body.user.name ?? body.user.id };
  let log = deps.log.child({ user: user.id, action: kind });
  const card = parseButtonValue(action.value);
  if (!card) {
    log.warn({ outcome: 'refused', reason: 'foreign_button' }, 'click refused');
    return reply(respond, FOREIGN_BUTTON_REPLY, log);
  }
  log = log.child({ approval_id: card.approvalId });
  const click: Click = { action: kind, user, card };

  let settled: { outcome: Outcome; record: ApprovalRecord | undefined };
  try {
    settled = await decideAndRecord(deps, click);
  } catch (err) {
    log.error({ outcome: 'refused', reason: 'unavailable', err: String(err) }, 'click refused: could not read the approval or its approvers');
    return reply(respond, UNAVAILABLE_REPLY, log);
  }
  const { outcome, record } = settled;
  if (record) log = log.child({ run_id: record.request.run_id, step_id: record.request.step_id });
  switch (outcome.kind) {
    case 'refused': {
      log.info({ outcome: 'refused', reason: outcome.reason }, 'click refused');
      if (record) {
        await deps.audit
          .append(auditEntry(record, 'refused', user.id, deps.now?.() ?? Date.now(), { reason: outcome.reason, action: kind }))
          .catch((err: unknown) => log.error({ err: String(err) }, 'could not append the refusal to the audit trail'));
      }
      return reply(respond, renderRefusal(outcome), log);
    }
    case 'counted': {
      log.info({ outcome: 'approval_counted', votes: outcome.votes.length, required: outcome.required }, 'approval counted');
      await showProgress(deps, record!, outcome.votes, log);
      return reply(respond, renderCounted(outcome.votes.length, outcome.required), log);
    }
    case 'decided': {
      const { decision } = outcome;
      log.info({ outcome: decision.decision, policy_snapshot: decision.policy_snapshot, job_hash: decision.job_hash }, 'decision recorded');
      try {
        await deps.outbox.settle({ ...record!, decision }, { fallback: (rendered) => respond({ replace_original: true, ...rendered }) });
      } catch (err) {
        log.warn({ err: String(err) }, 'decision recorded but not yet settled; the outbox drain will finish it');
      }
    }
  }
}

/** Reads, decides (pure) and records first-writer-wins, deciding again if what was read changed in between. */
async function decideAndRecord(deps: ActionDeps, click: Click): Promise<{ outcome: Outcome; record: ApprovalRecord | undefined }> {
  for (let round = 1; ; round += 1) {
    const read: ReadForClick = await withTimeout(
      deps.store.loadForClick(click.card.approvalId, deps.policySnapshotKey),
      READ_TIMEOUT_MS,
      `Redis did not answer within ${READ_TIMEOUT_MS} ms`,
    );
    const { record } = read;
    const now = deps.now?.() ?? Date.now();
    if (round === 1 && record) await deps.audit.append(auditEntry(record, 'clicked', click.user.id, now, { action: click.action }));
    const route = record ? matchRoute(deps.routes, record.request) : undefined;
    const isApprover = route
      ? await withTimeout(deps.directory.isApprover(route, click.user.id), READ_TIMEOUT_MS, `Slack did not say who the approvers are within ${READ_TIMEOUT_MS} ms`)
      : true;
    const rules = { isApprover, requiredApprovals: route?.required_approvals ?? 1, denySelfApproval: route?.deny_self_approval ?? true };
    const outcome = decide(record, click, read.snapshotInForce, rules, now);
    if (outcome.kind === 'refused') return { outcome, record };
    const change = outcome.kind === 'counted' ? { kind: 'vote' as const, votes: outcome.votes } : { kind: 'decision' as const, decision: outcome.decision };
    const entry =
      outcome.kind === 'counted'
        ? auditEntry(record!, 'approval_counted', click.user.id, now, { votes: outcome.votes.length, required: outcome.required })
        : auditEntry(record!, outcome.decision.decision === 'stale' ? 'stale' : 'decided', click.user.id, now, {
            decision: outcome.decision.decision,
            ...(outcome.decision.policy_snapshot_in_force ? { policy_snapshot_in_force: outcome.decision.policy_snapshot_in_force } : {}),
          });
    const result = await deps.store.recordClick(record!, click.card.cardId, change, read, deps.policySnapshotKey, entry, now);
    switch (result.kind) {
      case 'recorded':
      case 'counted':
        return { outcome, record };
      case 'decided':
        return { outcome: { kind: 'refused', reason: 'already_decided', decision: result.decision }, record };
      case 'cancelled':
        return { outcome: { kind: 'refused', reason: 'cancelled', cancellation: result.cancellation }, record };
      case 'superseded':
        return { outcome: { kind: 'refused', reason: 'stale_card' }, record };
      case 'missing':
        return { outcome: { kind: 'refused', reason: 'not_found' }, record: undefined };
      case 'changed':
        if (round >= MAX_DECIDE_ROUNDS) throw new Error('the policy snapshot or the approvals kept changing while the click was decided');
    }
  }
}

/** Shows the approvals counted so far on the card, keeping its buttons. */
async function showProgress(deps: ActionDeps, record: ApprovalRecord, votes: ApprovalRecord['votes'], log: Logger): Promise<void> {
  if (!record.card) return;
  const route = matchRoute(deps.routes, record.request);
  const { text, blocks } = renderRequestCard(record, cardContext(route, record, votes));
  await deps.slack.chat
    .update({ channel: record.card.channel, ts: record.card.ts, text, blocks })
    .catch((err: unknown) => log.warn({ err: String(err) }, 'could not show the approvals counted on the card'));
}

async function reply(respond: RespondFn, text: string, log: Logger): Promise<void> {
  await respond({ response_type: 'ephemeral', replace_original: false, text }).catch((err: unknown) =>
    log.warn({ err: String(err) }, 'could not send the ephemeral reply'),
  );
}
