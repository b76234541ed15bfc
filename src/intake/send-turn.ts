import { setTimeout as delay } from 'node:timers/promises';
import { DelayedError, type Job } from 'bullmq';
import type { Logger } from '../ops/logger.js';
import type { Pace } from '../ops/slack-pace.js';
import type { SendTurns } from '../store/send-turns.js';
import { enqueueOrder } from '../domain/enqueue-order.js';

/**
 * A job's turn to call Slack (see store/send-turns.ts): it waits for it in process when it is near,
 * and otherwise goes back to the queue as a delayed job until just before it (or, when it is further
 * off, until it must take the turn again to keep it), spending none of the engine's attempts, however
 * long the channel's queue.
 */

// A turn this near (ms) is waited for in process; a later one is waited for as a delayed job.
const WAIT_IN_PROCESS_MS = 1500;
// A delayed job comes back a little late (BullMQ promotes it when a worker next looks, tens of ms):
// it is brought back this much (ms) before its turn and waits the rest in process.
const COME_BACK_EARLY_MS = 300;

/**
 * Waits for the job's turn in the pace's scope, in the order the jobs were enqueued (see
 * SendTurns.take), taking it again after each wait in process until it has come.
 * @param letGo gives back what the job holds (its post lease) before it goes back to the queue.
 * @throws DelayedError after moving the job back to delayed when its turn is far off (BullMQ
 * treats it as neither success nor failure); the job finds the same turn when it comes back, which
 * it does before the turn's lease ends (turns.renewMs).
 */
export async function awaitTurn(turns: SendTurns, pace: Pace, job: Job, token: string | undefined, log: Logger, letGo?: () => Promise<unknown>): Promise<void> {
  const order = enqueueOrder(job);
  let waitMs = await turns.take(pace, String(job.id), WAIT_IN_PROCESS_MS, order);
  // A request enqueued earlier whose job ran later may take this turn's place meanwhile: ask again.
  while (waitMs > 0 && waitMs <= WAIT_IN_PROCESS_MS) {
    await delay(waitMs);
    waitMs = await turns.take(pace, String(job.id), WAIT_IN_PROCESS_MS, order);
  }
  if (waitMs === 0) return;
  log.debug({ scope: pace.scope, wait_ms: waitMs }, 'waiting for a turn to call Slack');
  await letGo?.();
  await retryLater(job, token, Math.min(waitMs, turns.renewMs) - COME_BACK_EARLY_MS);
}

/** Puts the job back as delayed without spending one of the engine's attempts. */
export async function retryLater(job: Job, token: string | undefined, delayMs: number): Promise<never> {
  await job.moveToDelayed(Date.now() + delayMs, token);
  throw new DelayedError();
}
