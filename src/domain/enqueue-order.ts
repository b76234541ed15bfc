/**
 * Where a job stands in the order its queue received it: `<timestamp ms>:<job id>`, as the store's
 * scripts compare it (COMPARE_ENQUEUE_ORDER in store-scripts.ts): by BullMQ's enqueue timestamp,
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
  const ms = Number.isFinite(job.timestamp) ? Math.min(Math.max(Math.trunc(job.timestamp), 0), Number.MAX_SAFE_INTEGER) : 0;
  return `${ms}:${job.id ?? ''}`;
}
