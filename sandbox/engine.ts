import { randomBytes } from 'node:crypto';
import { Queue, type Job } from 'bullmq';
import type { Redis } from 'ioredis';
import { POLICY_JOB_NAME, REQUEST_JOB_NAME } from '../src/domain/contract.js';
import { renderSample, type SampleName } from './samples.js';

/**
 * The workflow engine's side of the sandbox: it puts sample requests and policy changes on the
 * request queue and reads what reached the resume queue, through BullMQ only, as a real engine would.
 */

export interface EngineNames {
  requestQueue: string;
  resumeQueue: string;
  queuePrefix: string;
  policySnapshotKey: string;
}

export interface QueuedJob {
  id: string;
  name: string;
  state: string;
  data: unknown;
  /** What the bot returned for a request (the card's channel and ts) or why it failed. */
  result?: unknown;
  failedReason?: string;
  at: number;
}

const LISTED = 25;

export class SandboxEngine {
  private readonly requests: Queue;
  private readonly resume: Queue;

  constructor(
    private readonly redis: Redis,
    private readonly names: EngineNames,
  ) {
    this.requests = new Queue(names.requestQueue, { connection: redis, prefix: names.queuePrefix });
    this.resume = new Queue(names.resumeQueue, { connection: redis, prefix: names.queuePrefix });
  }

  /** Enqueues a sample bound to the snapshot in force; returns its run id. */
  async enqueueSample(name: SampleName): Promise<string> {
    const runId = `run_${randomBytes(3).toString('hex')}`;
    const snapshot = await this.policyInForce();
    if (!snapshot) throw new Error(`no policy snapshot in force at ${this.names.policySnapshotKey}`);
    await this.requests.add(REQUEST_JOB_NAME, renderSample(name, snapshot, runId));
    return runId;
  }

  /** Puts a `policy` job with a new random snapshot on the request queue, as an engine does when its policy changes. */
  async changePolicy(): Promise<string> {
    const snapshot = `sha256:${randomBytes(32).toString('hex')}`;
    await this.requests.add(POLICY_JOB_NAME, { policy_snapshot: snapshot });
    return snapshot;
  }

  async policyInForce(): Promise<string | null> {
    return this.redis.get(this.names.policySnapshotKey);
  }

  /** The newest decisions on the resume queue, as the engine would take them. */
  async decisions(): Promise<QueuedJob[]> {
    return listJobs(this.resume);
  }

  /** The newest jobs on the request queue, with what became of them. */
  async recentRequests(): Promise<QueuedJob[]> {
    return listJobs(this.requests);
  }

  async close(): Promise<void> {
    await Promise.all([this.requests.close(), this.resume.close()]);
  }
}

async function listJobs(queue: Queue): Promise<QueuedJob[]> {
  const states = ['waiting', 'active', 'delayed', 'completed', 'failed'] as const;
  const byState = await Promise.all(states.map(async (state) => (await queue.getJobs([state], 0, LISTED - 1)).map((job) => describe(job, state))));
  return byState
    .flat()
    .sort((a, b) => b.at - a.at)
    .slice(0, LISTED);
}

function describe(job: Job, state: string): QueuedJob {
  return {
    id: job.id ?? '',
    name: job.name,
    state,
    data: job.data,
    at: job.timestamp,
    ...(job.returnvalue !== undefined && job.returnvalue !== null ? { result: job.returnvalue } : {}),
    ...(job.failedReason ? { failedReason: job.failedReason } : {}),
  };
}
