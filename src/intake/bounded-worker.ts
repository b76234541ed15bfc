import { UnrecoverableError, Worker, type Job, type JobJson } from 'bullmq';
import { rawSizeProblem } from '../domain/contract.js';

/**
 * A BullMQ Worker that refuses a job on the size of its raw data, before parsing it.
 *
 * BullMQ fetches a job's data as JSON text and parses it (`Job.fromJSON`, through the worker's
 * protected `createJob`) before the processor runs, so a check in the processor comes too late:
 * a 26 MB request blocked the event loop for seconds in JSON.parse and canonicalization, and
 * clicks went unanswered past Slack's 3 seconds. This worker looks at the text's length first
 * (free for a huge text, see {@link rawSizeProblem}); an oversized job is built with empty data
 * and failed at once (UnrecoverableError, whatever its attempts) instead of being processed, naming
 * its size and the limit.
 * What remains is not ours to avoid: Redis taking the engine's write, and the transfer of the text
 * to this process when BullMQ fetches the job.
 */
export class BoundedWorker<Result = unknown> extends Worker<unknown, Result> {
  // Held outside the job's data, so that no data an engine sends can pass for a refusal or hide one.
  readonly #refusals = new WeakMap<Job, string>();

  protected override async callProcessJob(job: Job<unknown, Result>, token: string, signal?: AbortSignal): Promise<Result> {
    const refusal = this.#refusals.get(job);
    if (refusal !== undefined) throw new UnrecoverableError(refusal);
    return super.callProcessJob(job, token, signal);
  }

  protected override createJob(json: JobJson, jobId: string): Job<unknown, Result> {
    const refusal = rawSizeProblem(json.data);
    if (refusal === undefined) return super.createJob(json, jobId);
    const job = super.createJob({ ...json, data: '{}' }, jobId);
    this.#refusals.set(job, refusal);
    return job;
  }
}
