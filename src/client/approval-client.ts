import type { KeyObject } from 'node:crypto';
import canonicalize from 'canonicalize';
import { Queue, QueueEvents } from 'bullmq';
import { Redis } from 'ioredis';
import { duplicateRedis, type RedisClient } from '../ops/redis-connection.js';
import type { z } from 'zod';
import {
  approvalIdOf,
  CANCEL_JOB_NAME,
  CancelSchema,
  LIMITS,
  parseJob,
  parseRequest,
  rawSizeProblem,
  REQUEST_JOB_NAME,
  sha256Hex,
  type ApprovalRequest,
  type Decision,
  type RequestSchema,
} from '../domain/contract.js';
import { findJsonProblem } from '../domain/json-bounds.js';
import { readApprovalStatus, type ApprovalStatus } from '../store/approval-status.js';
import { waitForDecision, type WaitOptions } from './decision-waiter.js';
import { ApprovalRequestError } from './errors.js';
import { publicKeysOf } from './verify-decision.js';
import { withTimeout } from '../ops/with-timeout.js';

// close() waits this long (ms) for the queues to close before it drops the connections.
const CLOSE_DEADLINE_MS = 5000;

/** Where the gate's queues and keys are; the defaults are the bot's (see the README's Configuration). */
export interface ApprovalClientOptions {
  /**
   * An ioredis connection, `Redis` or `Cluster` (shared, left open by close()), or a Redis URL (opened
   * and closed by the client). For a cluster, the names below must share the bot's hash tag (README, "Redis Cluster").
   */
  connection: RedisClient | string;
  /** @defaultValue `approval-requests` (REQUEST_QUEUE) */
  requestQueue?: string;
  /** @defaultValue `approval-resume` (RESUME_QUEUE) */
  resumeQueue?: string;
  /** BullMQ key prefix of both queues. @defaultValue `bull` (QUEUE_PREFIX) */
  prefix?: string;
  /** @defaultValue `approvals:policy-snapshot` (POLICY_SNAPSHOT_KEY) */
  policySnapshotKey?: string;
  /** The bot's own key prefix, for status(). @defaultValue `approvals` (STATE_PREFIX) */
  statePrefix?: string;
  /**
   * The gate's public keys by key id: when given, decision() returns only decisions signed by one of them.
   * @throws TypeError (from createApprovalClient) when one is not an Ed25519 key.
   */
  publicKeys?: Record<string, KeyObject | string>;
  /** How often (ms) a waiter looks for its decision without an event. @defaultValue 2000 */
  pollIntervalMs?: number;
  /** A waiter's read of Redis that has not answered within this (ms) counts as unanswered. @defaultValue 5000 */
  readTimeoutMs?: number;
  /**
   * A waiter gives up with RedisUnavailableError once Redis has answered none of its reads for this
   * long (ms). Left out, a wait goes on through any outage (up to its own timeoutMs, at which a Redis
   * still silent is reported as RedisUnavailableError, not DecisionTimeoutError). @defaultValue no limit
   */
  maxRedisSilenceMs?: number;
}

/** A request as the engine writes it: `job_hash` is computed from `job`, `policy_snapshot` is the one in force, unless given. */
export type ApprovalRequestInput = Omit<z.input<typeof RequestSchema>, 'job_hash' | 'policy_snapshot'> & { job_hash?: string; policy_snapshot?: string };

/**
 * What a decision must be bound to: the request's step, its job hash (`sha256:` hex, as sent) and its
 * policy snapshot (as sent). An {@link ApprovalHandle} is one; an engine that restarts keeps these four.
 */
export interface BoundRequest {
  run_id: string;
  step_id: string;
  job_hash: string;
  policy_snapshot: string;
}

/** A request on its way: what it was bound to, and how to wait for its decision or cancel it. */
export interface ApprovalHandle {
  /** The request job's id on the request queue. */
  job_id: string;
  run_id: string;
  step_id: string;
  /** As sent, after defaults: what verifyDecision must see again. */
  job_hash: string;
  policy_snapshot: string;
  /**
   * Resolves with the decision made for this request (this run and step, this job hash, this policy
   * snapshot), without taking it from the engine's resume-queue workers.
   * @throws DecisionMismatchError when the decision on the queue for this step was made for another request.
   */
  decision(options?: WaitOptions): Promise<Decision>;
  /** Ends the approval (a `cancel` job): its card says so, and no decision is pushed. */
  cancel(reason: string): Promise<void>;
}

export type ApprovalClient = ReturnType<typeof createApprovalClient>;

/** A client for engines: request approvals, wait for decisions, read status, cancel. */
export function createApprovalClient(options: ApprovalClientOptions) {
  // Checked first: a key that is not one must fail here, before any connection, not in every wait.
  const publicKeys = options.publicKeys ? publicKeysOf(options.publicKeys) : undefined;
  const owned = typeof options.connection === 'string';
  const redis: RedisClient = typeof options.connection === 'string' ? new Redis(options.connection, { maxRetriesPerRequest: null }) : options.connection;
  // Commands on a connection of ours wait for a reconnect; ioredis would print each error with its stack.
  if (owned) redis.on('error', () => undefined);
  const prefix = options.prefix ?? 'bull';
  const policySnapshotKey = options.policySnapshotKey ?? 'approvals:policy-snapshot';
  const statePrefix = options.statePrefix ?? 'approvals';
  const resumeName = options.resumeQueue ?? 'approval-resume';
  const requests = new Queue(options.requestQueue ?? 'approval-requests', { connection: redis, prefix });
  const resume = new Queue(resumeName, { connection: redis, prefix });
  let events: Promise<QueueEvents> | undefined;
  let eventsConnection: RedisClient | undefined;
  const openEvents = () =>
    (events ??= (async () => {
      // QueueEvents blocks on its connection (XREAD BLOCK): never on the shared one.
      eventsConnection = duplicateRedis(redis, { maxRetriesPerRequest: null });
      eventsConnection.on('error', () => undefined); // QueueEvents reports it too
      const queueEvents = new QueueEvents(resumeName, { connection: eventsConnection, prefix });
      queueEvents.on('error', () => undefined); // a reconnect; waiters poll meanwhile
      await queueEvents.waitUntilReady();
      return queueEvents;
    })());
  const cancelled = async (approvalId: string) => {
    const status = await readApprovalStatus(redis, statePrefix, approvalId);
    return status.state === 'cancelled' ? status.reason : undefined;
  };
  const waiter = {
    resume,
    events: openEvents,
    cancelled,
    pollIntervalMs: options.pollIntervalMs ?? 2000,
    publicKeys,
    readTimeoutMs: options.readTimeoutMs ?? 5000,
    maxRedisSilenceMs: options.maxRedisSilenceMs,
  };

  /**
   * Waits for the decision of a request sent earlier (by this process or one before it): only a
   * decision made for exactly that request (its run and step, its job hash, its policy snapshot, as on
   * its handle, which can be passed as is) is returned. There is no form without the job hash and
   * snapshot: a decision read by run and step alone may be for an earlier request that reused the ids
   * or for one that superseded this one, and nobody approved this request then.
   * @throws DecisionMismatchError when the decision for the step was made for another request; see waitForDecision for the others.
   */
  const awaitDecision = (request: BoundRequest, wait?: WaitOptions) =>
    waitForDecision(
      waiter,
      { run_id: request.run_id, step_id: request.step_id, approvalId: approvalIdOf(request), job_hash: request.job_hash, policy_snapshot: request.policy_snapshot },
      wait,
    );

  const cancel = async (run_id: string, step_id: string, reason: string) => {
    const parsed = parseJob(CancelSchema, { run_id, step_id, reason });
    if (!parsed.ok) throw new ApprovalRequestError(parsed.problems);
    await requests.add(CANCEL_JOB_NAME, parsed.value);
  };

  return {
    /**
     * Checks the request as the bot will (throws ApprovalRequestError with the bot's reasons), binds it
     * to the policy snapshot in force unless one is given, and puts it on the request queue.
     * @throws ApprovalRequestError for a request the bot would refuse, or when no policy snapshot is in force.
     */
    async requestApproval(input: ApprovalRequestInput): Promise<ApprovalHandle> {
      const snapshot = input.policy_snapshot === undefined ? await redis.get(policySnapshotKey) : undefined;
      const { data, request } = prepareRequest(input, snapshot, policySnapshotKey);
      const job = await requests.add(REQUEST_JOB_NAME, data);
      const { run_id, step_id } = request;
      return {
        job_id: job.id!,
        run_id,
        step_id,
        job_hash: request.job_hash,
        policy_snapshot: request.policy_snapshot,
        decision: (wait) => awaitDecision({ run_id, step_id, job_hash: request.job_hash, policy_snapshot: request.policy_snapshot }, wait),
        cancel: (reason) => cancel(run_id, step_id, reason),
      };
    },
    awaitDecision,
    cancel,
    /** The policy snapshot in force (POLICY_SNAPSHOT_KEY), or undefined: what a decision must still be bound to when the step runs. */
    policySnapshot: async (): Promise<string | undefined> => (await redis.get(policySnapshotKey)) ?? undefined,
    /** Where the step's approval stands, read from the bot's store (nothing is changed). */
    status: (run_id: string, step_id: string): Promise<ApprovalStatus> => readApprovalStatus(redis, statePrefix, approvalIdOf({ run_id, step_id })),
    /** Closes the client's queues and connections; on a Redis that does not answer, gives up waiting after a few seconds and drops them. */
    async close(): Promise<void> {
      try {
        await withTimeout(
          (async () => {
            const queueEvents = await events?.catch(() => undefined);
            await Promise.all([requests.close(), resume.close(), queueEvents?.close()]);
          })(),
          CLOSE_DEADLINE_MS,
          'Redis did not answer while the client closed',
        );
      } catch {
        // Nothing is left to say to a Redis that does not answer: the connections are dropped below.
      }
      eventsConnection?.disconnect();
      if (owned) redis.disconnect();
    },
  };
}

/** The problem named when a request has no policy snapshot and none is in force. */
export function noSnapshotProblem(policySnapshotKey: string): string {
  return `policy_snapshot: none given and none in force at ${policySnapshotKey}: publish the snapshot in force, or pass one`;
}

/**
 * The request with its job hash (from `job`) and policy snapshot (`snapshotInForce`) filled in where
 * they are not given, checked as the bot checks it. Pure: the caller reads the snapshot in force.
 * @returns the data to enqueue (as given, not trimmed: the bot parses, hashes and echoes what was sent) and the request as the bot will read it.
 * @throws ApprovalRequestError naming every problem, the bot's way.
 */
export function prepareRequest(input: ApprovalRequestInput | Record<string, unknown>, snapshotInForce: string | null | undefined, policySnapshotKey: string): { data: Record<string, unknown>; request: ApprovalRequest } {
  const data: Record<string, unknown> = { ...input };
  if (data.job_hash === undefined && data.job !== undefined) {
    const problem = findJsonProblem(data.job, 'job', { maxDepth: LIMITS.jobDepth, maxBytes: LIMITS.jobCanonicalBytes });
    if (problem) throw new ApprovalRequestError([problem]);
    data.job_hash = `sha256:${sha256Hex(canonicalize(data.job)!)}`;
  }
  if (data.policy_snapshot === undefined && snapshotInForce) data.policy_snapshot = snapshotInForce;
  let text: string;
  try {
    text = JSON.stringify(data);
  } catch (err) {
    throw new ApprovalRequestError([`request: not JSON (${(err as Error).message})`]);
  }
  const tooLarge = rawSizeProblem(text);
  if (tooLarge) throw new ApprovalRequestError([tooLarge]);
  const parsed = parseRequest(data);
  if (!parsed.ok) throw new ApprovalRequestError(parsed.problems.map((problem) => (problem === 'policy_snapshot: required' ? noSnapshotProblem(policySnapshotKey) : problem)));
  return { data, request: parsed.request };
}
