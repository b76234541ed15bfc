import { Queue } from 'bullmq';
import type { RedisClient } from '../ops/redis-connection.js';
import type { Logger } from '../ops/logger.js';
import type { DueTimes, TimerKind } from '../store/due-times.js';

// Job names of the delayed timer jobs that versions before the due set used, and what each becomes.
const KIND_OF: Record<string, TimerKind> = { expire: 'expire', remind: 'remind', escalate: 'escalate', sweep: 'sweep0' };

/**
 * Moves the timers an earlier version left as delayed BullMQ jobs on `<REQUEST_QUEUE>-timers` into
 * the due set (keeping their due times; one already set there stays), then removes those jobs. Run
 * at start-up: where that queue never existed (no `meta` key), it costs one read and creates nothing. Replicas of the earlier version
 * still running keep adding there until they stop; a restart moves what they left.
 * @returns how many timers were moved.
 */
export async function moveLegacyTimers(options: { connection: RedisClient; queueName: string; queuePrefix: string; due: DueTimes; log: Logger }): Promise<number> {
  if ((await options.connection.exists(`${options.queuePrefix}:${options.queueName}:meta`)) === 0) return 0;
  const queue = new Queue<{ approvalId?: string }>(options.queueName, { connection: options.connection, prefix: options.queuePrefix });
  try {
    let moved = 0;
    for (;;) {
      const jobs = await queue.getJobs(['delayed', 'wait', 'prioritized'], 0, 99);
      if (jobs.length === 0) return moved;
      for (const job of jobs) {
        const kind = KIND_OF[job.name];
        const id = job.data.approvalId;
        if (kind && id) await options.due.scheduleIfAbsent(id, [{ kind, at: job.timestamp + (job.opts.delay ?? 0) }]);
        await job.remove();
        moved += 1;
      }
      options.log.info({ moved }, 'moved timers from the earlier timer queue to the due set');
    }
  } finally {
    await queue.close();
  }
}
