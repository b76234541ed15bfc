import { createRedisBackend, UnrecoverableError, Worker, type BackendFactory, type Job, type RedisQueueBackend, type JobJson, type Processor, type WorkerOptions } from 'bullmq';
import { rawSizeProblem } from '../domain/contract.js';

/**
 * A BullMQ Worker that refuses a job on the size of its raw fields, before any of them is parsed.
 *
 * BullMQ fetches a job's hash from Redis as text and parses it before the processor runs: its
 * `opts`, `progress` and `parent` as the fetch returns (`rawToJobJson` in its Redis backend), its
 * `data`, `stacktrace` and `returnvalue` in `Job.fromJSON` (the worker's protected `createJob`). So a
 * check in the processor comes too late: a 26 MB request blocked the event loop for seconds in
 * JSON.parse and canonicalization, and clicks went unanswered past Slack's 3 seconds; a 20 MB `name`
 * or `opts` would do the same. This worker looks at every field's length as the fetch returns it
 * (free for a huge text): an oversized field is replaced by an empty one before BullMQ reads it, and
 * the job is failed at once (UnrecoverableError, whatever its attempts) instead of being processed,
 * naming the field, its size and the limit. `data` is bounded by {@link rawSizeProblem}, every other
 * field by {@link JOB_FIELD_MAX_CHARS}.
 * What remains is not ours to avoid: Redis taking the engine's write, and the transfer of the text
 * to this process when BullMQ fetches the job.
 */

/**
 * The most characters (UTF-16 code units) any field of a job's hash but `data` may have. Ours are
 * small (a name of a few letters, options of a few hundred characters, a failure's stack trace of
 * some KiB); 64 KiB leaves room for an engine's options and is parsed in well under a millisecond.
 */
export const JOB_FIELD_MAX_CHARS = 64 * 1024;

// The BullMQ scripts whose answer carries the next job's hash: [hash as field, value, …], job id, …
const FETCHES_A_JOB = new Set(['moveToActive', 'moveToFinished', 'moveToDelayed']);

export class BoundedWorker<Result = unknown> extends Worker<unknown, Result> {
  // Held outside the job's fields, so that nothing an engine sends can pass for a refusal or hide one.
  readonly #refusals: Map<string, string>;

  constructor(name: string, processor: Processor<unknown, Result>, opts: WorkerOptions) {
    const refusals = new Map<string, string>();
    super(name, processor, opts, boundedBackend(refusals));
    this.#refusals = refusals;
  }

  protected override async callProcessJob(job: Job<unknown, Result>, token: string, signal?: AbortSignal): Promise<Result> {
    const refusal = job.id === undefined ? undefined : this.#refusals.get(job.id);
    if (refusal !== undefined) {
      this.#refusals.delete(job.id!);
      throw new UnrecoverableError(refusal);
    }
    return super.callProcessJob(job, token, signal);
  }

  protected override createJob(json: JobJson, jobId: string): Job<unknown, Result> {
    // The fetch has bounded every field; this covers a job built from anywhere else.
    const refusal = rawSizeProblem(json.data);
    if (refusal === undefined) return super.createJob(json, jobId);
    this.#refusals.set(json.id || jobId, refusal);
    return super.createJob({ ...json, data: '{}' }, jobId);
  }
}

/** BullMQ's Redis backend, with every job hash it fetches bounded before BullMQ parses it; refusals go to `refusals` by job id. */
function boundedBackend(refusals: Map<string, string>): BackendFactory<RedisQueueBackend> {
  return (name, opts, options) => {
    const backend = createRedisBackend(name, opts, options);
    const run = backend.execCommand.bind(backend);
    backend.execCommand = (client, commandName, args) => {
      const answer: unknown = run(client, commandName, args);
      if (!FETCHES_A_JOB.has(commandName)) return answer;
      return Promise.resolve(answer).then((fetched: unknown) => {
        if (Array.isArray(fetched) && Array.isArray(fetched[0]) && typeof fetched[1] === 'string') {
          const refusal = boundFields(fetched[0] as unknown[]);
          if (refusal !== undefined) refusals.set(fetched[1], refusal);
        }
        return fetched;
      });
    };
    return backend;
  };
}

/**
 * Empties, in place, every field of a job hash (`[field, value, …]` as HGETALL returns it) over its
 * bound (`data` becomes `{}`, any other field empty, which BullMQ reads as absent), and says why the
 * first one is refused; undefined if none is over.
 */
export function boundFields(hash: unknown[]): string | undefined {
  let refusal: string | undefined;
  for (let i = 0; i + 1 < hash.length; i += 2) {
    const field = String(hash[i]);
    const value = hash[i + 1];
    if (typeof value !== 'string') continue;
    const problem = field === 'data' ? rawSizeProblem(value) : value.length > JOB_FIELD_MAX_CHARS ? fieldProblem(field, value.length) : undefined;
    if (problem === undefined) continue;
    hash[i + 1] = field === 'data' ? '{}' : '';
    refusal ??= problem;
  }
  return refusal;
}

function fieldProblem(field: string, chars: number): string {
  // The field's name is BullMQ's or the engine's: cut it, so a long one cannot make the reason long.
  return `job field "${field.slice(0, 40)}": ${chars} characters, more than the limit of ${JOB_FIELD_MAX_CHARS} (64 KiB) for any field but data, so the job was not read`;
}
