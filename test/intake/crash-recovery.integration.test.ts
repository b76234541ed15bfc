import { describe, expect, it } from 'vitest';
import { useGates } from '../helpers/gate.js';
import { validRequest } from '../../sandbox/valid-request.js';
import { waitFor } from '../helpers/wait.js';

const gates = useGates();

describe('crash recovery', () => {
  it('the bot killed with SIGKILL while requests are in flight, then restarted: every request ends with exactly one card', async () => {
    const g = await gates.open({ env: { INTAKE_CONCURRENCY: '10' } });
    // The first ten posts hang: five after Slack recorded the card (the answer is lost), five before.
    g.emulator.injectFaults(
      'chat.postMessage',
      ...Array.from({ length: 5 }, () => ({ applyFirst: true, delayMs: 120_000 })),
      ...Array.from({ length: 5 }, () => ({ delayMs: 120_000 })),
    );
    const requests = Array.from({ length: 20 }, () => validRequest());
    const jobs = await Promise.all(requests.map((request) => g.requests.add('request', request)));
    await waitFor('ten posts in flight', () => g.emulator.callsOf('chat.postMessage').length >= 10);
    await g.bot.kill();

    const restartedAt = Date.now();
    await g.startAnother();
    await Promise.all(jobs.map((job) => g.finished(job, 60_000)));
    const recoveredInMs = Date.now() - restartedAt;

    for (const request of requests) expect(g.cardsFor(request)).toHaveLength(1);
    for (const job of jobs) expect(await (await g.requests.getJob(job.id!))!.getState()).toBe('completed');
    // Figure for the README: how long a request caught in the crash waited after the restart.
    console.info(`crash recovery: all 20 cards ${recoveredInMs} ms after the restart`);
  }, 90_000);

  it('a Redis restart between requests loses nothing, and /readyz reports it while it lasts', async () => {
    const redisServer = await gates.redisServer({ appendonly: true });
    const g = await gates.open({}, redisServer.url);
    const health = async () => (await fetch(`http://127.0.0.1:${g.env.PORT}/readyz`)).status;
    expect(await health()).toBe(200);

    const before = validRequest();
    await g.finished(await g.requests.add('request', before));
    await redisServer.kill();
    await waitFor('/readyz to report Redis down', async () => (await health()) === 503);
    await redisServer.restart();
    await waitFor('/readyz to report Redis back', async () => (await health()) === 200, 30_000);

    const after = validRequest();
    await g.finished(await g.requests.add('request', after), 30_000);
    expect(g.cardsFor(after)).toHaveLength(1);
    // The approval recorded before the restart still answers a duplicate delivery with its card.
    const duplicate = await g.finished(await g.requests.add('request', before));
    expect([await duplicate.getState(), duplicate.failedReason, duplicate.returnvalue]).toEqual(['completed', undefined, expect.objectContaining({ outcome: 'duplicate' })]);
    expect(g.cardsFor(before)).toHaveLength(1);
  }, 90_000);
});
