import { randomBytes } from 'node:crypto';
import type { Job } from 'bullmq';
import { Redis } from 'ioredis';
import { pino } from 'pino';
import { afterAll, expect, inject, it } from 'vitest';
import type { Approval } from '../../src/domain/approval.js';
import type { IntakeDeps } from '../../src/intake/deps.js';
import { processCancel } from '../../src/intake/lifecycle.js';
import { createOutbox } from '../../src/store/outbox.js';
import { createSendTurns } from '../../src/store/send-turns.js';
import { createStore } from '../../src/store/store.js';
import { useEmulatedSlack } from '../helpers/emulated-slack.js';
import { TEST_SIGNING_KEY } from '../helpers/signing-key.js';
import { approvalOnStep, postStepCard } from '../helpers/step-cards.js';

/** A cancel job racing a newer request for the same step (one approval id for both cards). */

const TOKEN = 'xoxb-cancel-race';
const redis = new Redis(inject('redisUrl'), { maxRetriesPerRequest: null });
const slack = useEmulatedSlack(TOKEN);
afterAll(() => redis.disconnect());

it('a cancel that read the older card before a newer request replaced it updates the newer card it closed, at once', async () => {
  const prefix = `cancel-race-${randomBytes(4).toString('hex')}`;
  const options = { prefix, audit: { key: `${prefix}:audit`, maxLen: 1000 }, retentionSec: 3600, leaseMs: 10_000 };
  const store = createStore(redis, options);
  // The cancel job's own connection, on which the newer request replaces the card right after the cancel read it.
  const cancelConnection = new Redis(inject('redisUrl'), { maxRetriesPerRequest: null });
  const cancelStore = createStore(cancelConnection, options);
  const log = pino({ level: 'silent' });
  const outbox = createOutbox({ connection: redis, queueName: `${prefix}-resume`, queuePrefix: 'bull', retentionSec: 3600, signingKey: TEST_SIGNING_KEY, store: cancelStore, slack: slack.client, turns: createSendTurns(redis, { prefix }), onSettled: async () => undefined, log });
  try {
    const approvalOf = (job: unknown) => approvalOnStep(`run-${prefix}`, job);
    const post = (approval: Approval, version: string) => postStepCard(store, slack.client, approval, version);
    const first = approvalOf({ action: 'deploy', version: 1 });
    await post(first, `${Date.now()}:1`);

    let newerTs = '';
    const read = cancelConnection.hgetall.bind(cancelConnection) as (key: string) => Promise<Record<string, string>>;
    (cancelConnection as unknown as { hgetall: (key: string) => Promise<Record<string, string>> }).hgetall = async (key: string) => {
      const fields = await read(key);
      if (!newerTs) newerTs = await post(approvalOf({ action: 'deploy', version: 2 }), `${Date.now() + 1}:2`);
      return fields;
    };
    const deps = { store: cancelStore, outbox, log } as Pick<IntakeDeps, 'store' | 'outbox' | 'log'> as IntakeDeps;
    const job = { id: 'cancel-1', data: { run_id: `run-${prefix}`, step_id: 'deploy', reason: 'not needed' } } as Job;
    expect(await processCancel(deps, job)).toEqual({ outcome: 'cancelled' });

    // The newer card, the one the cancel closed, already says so: its buttons are not left to the outbox drain.
    expect(newerTs).not.toBe('');
    expect(slack.emulator.callsOf('chat.update').filter((call) => call.args.ts === newerTs && call.answered === 'ok')).toHaveLength(1);
  } finally {
    cancelConnection.disconnect();
    await outbox.queue.obliterate({ force: true });
    await outbox.close();
  }
});
