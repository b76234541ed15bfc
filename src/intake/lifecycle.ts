import { UnrecoverableError, type Job } from 'bullmq';
import { POLICY_CHANGE_ACTOR, staleUnderPolicy } from '../domain/approval.js';
import { auditEntry, type AuditEntry } from '../store/audit.js';
import { approvalIdOf, CancelSchema, parseJob, PolicySchema, type Decision } from '../domain/contract.js';
import { enqueueOrder, futureDated } from '../domain/enqueue-order.js';
import type { Logger } from '../ops/logger.js';
import type { IntakeDeps } from './deps.js';

/**
 * The engine's other jobs on the request queue: `cancel` closes an approval (its card says so, no
 * decision is pushed); `policy` sets the snapshot in force and ends every pending approval bound to
 * another one as `stale` at once, so an engine needs nothing but BullMQ to integrate.
 */

export type CancelResult = { outcome: 'cancelled' | 'already_cancelled' } | { outcome: 'already_decided'; decision: Decision['decision'] };

export async function processCancel(deps: IntakeDeps, job: Job): Promise<CancelResult> {
  const parsed = parseJob(CancelSchema, job.data);
  if (!parsed.ok) {
    deps.log.warn({ job_id: job.id, outcome: 'invalid', problems: parsed.problems }, 'cancel rejected');
    throw new UnrecoverableError(`invalid cancel: ${parsed.problems.join('; ')}`);
  }
  const { run_id, step_id, reason } = parsed.value;
  const log = deps.log.child({ job_id: job.id, run_id, step_id });
  const id = approvalIdOf(parsed.value);
  const now = deps.now?.() ?? Date.now();
  const record = await deps.store.load(id);
  const entry: AuditEntry = record
    ? auditEntry(record, 'cancelled', 'engine', now, { reason })
    : { event: 'cancelled', at: now, approval_id: id, run_id, step_id, actor: 'engine', policy_snapshot: '', job_hash: '', detail: { reason, before_request: true } };
  const cancellation = { reason, at: new Date(now).toISOString() };
  const result = await deps.store.cancel({ id }, cancellation, entry, now);
  switch (result.kind) {
    case 'decided':
      log.info({ outcome: 'already_decided', decision: result.decision.decision }, 'cancel came after the decision; nothing changed');
      return { outcome: 'already_decided', decision: result.decision.decision };
    case 'already':
      return { outcome: 'already_cancelled' };
    case 'cancelled':
      log.info({ outcome: 'cancelled', reason }, record ? 'approval cancelled' : 'approval cancelled before its request came');
      await settleCancelled(deps, log, id);
      return { outcome: 'cancelled' };
  }
}

/**
 * Updates the card the cancel closed: the one on the record as the cancel left it, read again, since
 * a newer request for the step may have replaced the card read before the cancel (a settle of that
 * older card would find nothing to do, and the newer card's buttons would stay up until the drain).
 * A card still being posted is updated by its delivery once saved (see postCard); a failure is left to the drain.
 */
async function settleCancelled(deps: IntakeDeps, log: Logger, id: string): Promise<void> {
  const cancelled = await deps.store.load(id);
  if (!cancelled?.card || !cancelled.cancelled) return;
  await deps.outbox.settle(cancelled).catch((err: unknown) => log.warn({ err: String(err) }, 'card not yet updated; the outbox drain will update it'));
}

export async function processPolicy(deps: IntakeDeps, job: Job): Promise<{ outcome: 'set' | 'outdated'; stale: number }> {
  const parsed = parseJob(PolicySchema, job.data);
  if (!parsed.ok) {
    deps.log.warn({ job_id: job.id, outcome: 'invalid', problems: parsed.problems }, 'policy rejected');
    throw new UnrecoverableError(`invalid policy: ${parsed.problems.join('; ')}`);
  }
  const snapshot = parsed.value.policy_snapshot;
  const log = deps.log.child({ job_id: job.id, policy_snapshot: snapshot });
  await refuseFutureDated(deps, log, job, 'policy');
  // The one enqueued last wins, however the jobs' runs interleave (several may run at once).
  if (!(await deps.store.setPolicy(deps.policySnapshotKey, snapshot, enqueueOrder(job)))) {
    log.info({ outcome: 'outdated' }, 'a policy job enqueued later is already in force; nothing changed');
    return { outcome: 'outdated', stale: 0 };
  }
  let stale = 0;
  for (const id of await deps.store.pendingIds()) {
    const read = await deps.store.loadForClick(id, deps.policySnapshotKey);
    const { record } = read;
    // The snapshot read back, not the job's: a later policy job may already have replaced it.
    if (!record || read.snapshotInForce === undefined) continue;
    const now = deps.now?.() ?? Date.now();
    const decision = staleUnderPolicy(record, read.snapshotInForce, now);
    if (!decision) continue;
    const entry = auditEntry(record, 'stale', POLICY_CHANGE_ACTOR.id, now, { decision: 'stale', policy_snapshot_in_force: read.snapshotInForce });
    const result = await deps.store.recordClick(record, record.cardId, { kind: 'decision', decision }, read, deps.policySnapshotKey, entry, now);
    if (result.kind !== 'recorded') continue; // a click (or another policy job) got there first
    stale += 1;
    log.info({ run_id: record.request.run_id, step_id: record.request.step_id, outcome: 'stale' }, 'pending approval ended as stale by a policy change');
    await deps.outbox
      .settle({ ...record, decision })
      .catch((err: unknown) => log.warn({ err: String(err) }, 'stale decision not yet settled; the outbox drain will finish it'));
  }
  log.info({ outcome: 'set', stale }, 'policy snapshot set');
  return { outcome: 'set', stale };
}

/**
 * Refuses a request or policy job dated too far ahead of Redis's clock (see MAX_ENQUEUE_SKEW_MS in
 * enqueue-order.ts) before it can enter the enqueue order, where it would outrank every later job.
 * @throws UnrecoverableError naming the timestamp, when the job is dated too far ahead.
 */
export async function refuseFutureDated(deps: Pick<IntakeDeps, 'store'>, log: Logger, job: Job, kind: 'request' | 'policy'): Promise<void> {
  const reason = futureDated(job, await deps.store.clockMs());
  if (reason === undefined) return;
  log.warn({ outcome: 'invalid', problems: [reason] }, `${kind} rejected`);
  throw new UnrecoverableError(`invalid ${kind}: ${reason}`);
}
