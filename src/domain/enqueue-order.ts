/**
 * Where a job stands in the order its queue received it: `<timestamp ms>:<job id>`, as the store's
 * scripts compare it (COMPARE_ENQUEUE_ORDER in store/compare-orders-script.ts): by BullMQ's enqueue timestamp,
 * then by job id in natural order, runs of digits compared as the integers they are, whatever their
 * length, and anything else byte by byte. BullMQ's default ids are increasing integers (9 before
 * 10, 999 before 1000), which orders the jobs of one `addBulk`: they share a timestamp when they
 * are built within one millisecond. Custom ids (`jobId`) order the same way (`policy-9` before
 * `policy-10`), which is deterministic but says nothing of their enqueue order within a millisecond.
 */
export type EnqueueOrder = string;

/**
 * The enqueue order of a BullMQ job. A timestamp an engine set itself (`opts.timestamp`) that is not
 * a whole number of milliseconds from the epoch counts as the nearest one that is (0 if none).
 */
export function enqueueOrder(job: { timestamp: number; id?: string | undefined }): EnqueueOrder {
  return `${enqueueTimeMs(job.timestamp)}:${job.id ?? ''}`;
}

/**
 * How far (ms) a job's enqueue timestamp may be ahead of Redis's clock. BullMQ stamps a job with the
 * adding process's clock (or the `opts.timestamp` it was given), so an engine's clock a little ahead
 * is normal; a job dated further ahead would stay last in the order, over every job added after it,
 * until that time (a policy from the year 3000 in force forever), so it is refused.
 */
export const MAX_ENQUEUE_SKEW_MS = 60_000;

/**
 * Why a job dated too far ahead of `nowMs` (Redis's clock, ms) may not enter the enqueue order, or
 * undefined when it may.
 */
export function futureDated(job: { timestamp: number }, nowMs: number): string | undefined {
  const ms = enqueueTimeMs(job.timestamp);
  if (ms - nowMs <= MAX_ENQUEUE_SKEW_MS) return undefined;
  return `enqueue timestamp ${ms} (${new Date(Math.min(ms, 8.64e15)).toISOString()}) is ${ms - nowMs} ms ahead of Redis's clock; at most ${MAX_ENQUEUE_SKEW_MS} ms is allowed: do not set opts.timestamp in the future`;
}

/** A job's timestamp as a whole number of ms from the epoch: the nearest one, 0 if none. */
function enqueueTimeMs(timestamp: number): number {
  return Number.isFinite(timestamp) ? Math.min(Math.max(Math.trunc(timestamp), 0), Number.MAX_SAFE_INTEGER) : 0;
}
