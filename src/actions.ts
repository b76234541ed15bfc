import type { App, BlockAction, ButtonAction, RespondFn, SlackActionMiddlewareArgs } from '@slack/bolt';
import { decide, type ApprovalRecord, type Approvers, type Click, type Outcome } from './approval.js';
import { ACTION_APPROVE, ACTION_DENY, parseButtonValue } from './cards.js';
import { auditEntry, type Audit } from './audit.js';
import type { Logger } from './logger.js';
import type { Outbox } from './outbox.js';
import { FOREIGN_BUTTON_REPLY, renderRefusal, UNAVAILABLE_REPLY } from './replies.js';
import type { Store } from './store.js';
import { withTimeout } from './with-timeout.js';

/**
 * The card's buttons: ack → verify → decide → record → resume → update the card.
 * Bolt has already checked the request's signature (v0 HMAC, 5-minute window) before this runs.
 */

// A click waits this long for Redis before it is refused (nothing decided, nothing changed).
const READ_TIMEOUT_MS = 5000;
// Reads and the record are separate steps; when the policy changes between them, decide again.
const MAX_DECIDE_ROUNDS = 3;

export interface ActionDeps {
  store: Store;
  audit: Audit;
  outbox: Outbox;
  policySnapshotKey: string;
  approvers: Approvers;
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
    log.error({ outcome: 'refused', reason: 'unavailable', err: String(err) }, 'click refused: could not read the approval');
    return reply(respond, UNAVAILABLE_REPLY, log);
  }
  const { outcome, record } = settled;
  if (record) log = log.child({ run_id: record.request.run_id, step_id: record.request.step_id });
  if (outcome.kind === 'refused') {
    log.info({ outcome: 'refused', reason: outcome.reason }, 'click refused');
    if (record) {
      await deps.audit
        .append(auditEntry(record, 'refused', user.id, deps.now?.() ?? Date.now(), { reason: outcome.reason, action: kind }))
        .catch((err: unknown) => log.error({ err: String(err) }, 'could not append the refusal to the audit trail'));
    }
    return reply(respond, renderRefusal(outcome), log);
  }
  const { decision } = outcome;
  log.info({ outcome: decision.decision, policy_snapshot: decision.policy_snapshot, job_hash: decision.job_hash }, 'decision recorded');
  try {
    await deps.outbox.settle(record!, decision, { fallback: (rendered) => respond({ replace_original: true, ...rendered }) });
  } catch (err) {
    log.warn({ err: String(err) }, 'decision recorded but not yet settled; the outbox drain will finish it');
  }
}

/** Reads, decides (pure) and records first-writer-wins, deciding again if the policy moved in between. */
async function decideAndRecord(deps: ActionDeps, click: Click): Promise<{ outcome: Outcome; record: ApprovalRecord | undefined }> {
  for (let round = 1; ; round += 1) {
    const { record, snapshotInForce } = await withTimeout(
      deps.store.loadForDecision(click.card.approvalId, deps.policySnapshotKey),
      READ_TIMEOUT_MS,
      `Redis did not answer within ${READ_TIMEOUT_MS} ms`,
    );
    const now = deps.now?.() ?? Date.now();
    if (round === 1 && record) await deps.audit.append(auditEntry(record, 'clicked', click.user.id, now, { action: click.action }));
    const outcome = decide(record, click, snapshotInForce, deps.approvers, now);
    if (outcome.kind === 'refused') return { outcome, record };
    const result = await deps.store.recordDecision(record!, click.card.cardId, outcome.decision, snapshotInForce!, deps.policySnapshotKey, now);
    switch (result.kind) {
      case 'recorded':
        return { outcome, record };
      case 'decided':
        return { outcome: { kind: 'refused', reason: 'already_decided', decision: result.decision }, record };
      case 'superseded':
        return { outcome: { kind: 'refused', reason: 'stale_card' }, record };
      case 'missing':
        return { outcome: { kind: 'refused', reason: 'not_found' }, record: undefined };
      case 'policy_changed':
        if (round >= MAX_DECIDE_ROUNDS) throw new Error('the policy snapshot kept changing while the click was decided');
    }
  }
}

async function reply(respond: RespondFn, text: string, log: Logger): Promise<void> {
  await respond({ response_type: 'ephemeral', replace_original: false, text }).catch((err: unknown) =>
    log.warn({ err: String(err) }, 'could not send the ephemeral reply'),
  );
}
