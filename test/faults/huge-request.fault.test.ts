import { spawn } from 'node:child_process';
import { once } from 'node:events';
import { createInterface } from 'node:readline';
import { setTimeout as delay } from 'node:timers/promises';
import { describe, expect, it } from 'vitest';
import { ACTION_APPROVE } from '../../src/views/cards.js';
import { useGates, type Gate } from '../helpers/gate.js';
import { validRequest } from '../../sandbox/valid-request.js';
import { waitFor } from '../helpers/wait.js';

const gates = useGates();

/**
 * The engine, in a process of its own (its JSON.stringify of 26 MB must not stall the clicks this
 * process sends and times): builds 26 MB for one field of a request job (FIELD: its data, a job of
 * 1.5 million keys; its options, a custom option of as many keys in 25 maps; or its name, 20 million
 * characters), says "ready" with that field's size, and enqueues the job with the id "huge" when told "go".
 */
const ENGINE = `
import { Queue } from 'bullmq';
import { createInterface } from 'node:readline';
const request = JSON.parse(process.env.BASE_REQUEST);
const big = {};
for (let i = 0; i < 1_500_000; i += 1) big['k' + i] = 'xxxxx';
const field = process.env.FIELD;
if (field === 'data') request.job = big;
const name = field === 'name' ? 'x'.repeat(20_000_000) : 'request';
// BullMQ packs options with msgpack, whose maps hold at most 65,535 keys: the same keys, 25 maps of 60,000.
const chunks = {};
for (let i = 0; i < 1_500_000; i += 1) (chunks['c' + Math.floor(i / 60_000)] ??= {})['k' + i] = 'xxxxx';
const opts = field === 'opts' ? { jobId: 'huge', bulky: chunks } : { jobId: 'huge' };
const size = field === 'data' ? JSON.stringify(request).length : field === 'name' ? name.length : JSON.stringify(opts).length;
const queue = new Queue(process.env.REQUEST_QUEUE, { connection: { host: '127.0.0.1', port: Number(process.env.REDIS_PORT) } });
console.log('ready ' + size);
const lines = createInterface({ input: process.stdin });
for await (const line of lines) if (line === 'go') break;
await queue.add(name, request, opts);
console.log('added');
await queue.close();
`;

/** The bot's largest event-loop delay since the last scrape (prom-client resets it on each), in ms. */
async function maxLoopLagMs(g: Gate): Promise<number> {
  const text = await (await fetch(`http://127.0.0.1:${g.env.PORT}/metrics`)).text();
  return Number(/^nodejs_eventloop_lag_max_seconds (\S+)$/m.exec(text)?.[1]) * 1000;
}

const percentile = (sorted: number[], p: number) => sorted[Math.min(sorted.length - 1, Math.floor((sorted.length * p) / 100))]!;

describe('a huge request', () => {
  it.each([
    ['data', 25_000_000, /^request: at least \d{8} bytes of JSON, more than the limit of 655360 bytes \(640 KiB\), so it was not read/],
    ['opts', 25_000_000, /^job field "opts": \d{8} characters, more than the limit of 65536 \(64 KiB\) for any field but data, so the job was not read/],
    ['name', 19_000_000, /^job field "name": 20000000 characters, more than the limit of 65536 \(64 KiB\)/],
  ])('with 20+ MB in its %s is refused on its raw size, unparsed, while clicks keep being answered well within Slack’s 3 seconds', async (field, atLeast, refusal) => {
    const redis = await gates.redisServer();
    const g = await gates.open({ env: { APPROVERS: 'U0ALICE' } }, redis.url);
    const { card } = await g.post();
    const engine = spawn(process.execPath, ['--input-type=module', '-e', ENGINE], {
      env: { PATH: process.env.PATH ?? '', FIELD: field, BASE_REQUEST: JSON.stringify(validRequest()), REQUEST_QUEUE: g.env.REQUEST_QUEUE!, REDIS_PORT: String(redis.port) },
      stdio: ['pipe', 'pipe', 'inherit'],
    });
    const said = createInterface({ input: engine.stdout! });
    const [ready] = (await once(said, 'line')) as [string];
    const size = Number(ready.split(' ')[1]);
    expect(size).toBeGreaterThan(atLeast);

    await maxLoopLagMs(g);
    // Clicks go out every 100 ms whatever happens to earlier ones, so some are sent while the bot is
    // busy with the request; each one's ack (the HTTP answer) and reply (the ephemeral message) timed.
    const sentAt: number[] = [];
    const acks: Promise<number>[] = [];
    const replies: number[] = [];
    let clicking = true;
    const clicks = (async () => {
      while (clicking) {
        const sent = performance.now();
        sentAt.push(sent);
        // A click the bot does not answer (the issue saw a connection reset) counts as never acked.
        const click = g.emulator.click({ channel: card.channel, ts: card.ts, actionId: ACTION_APPROVE, user: 'U0MALLORY' });
        acks.push(click.then((response) => (response.status === 200 ? performance.now() - sent : Infinity), () => Infinity));
        await delay(100);
      }
    })();
    const watching = (async () => {
      while (clicking || replies.length < sentAt.length) {
        const answered = g.emulator.ephemeralsFor('U0MALLORY').length;
        while (replies.length < Math.min(answered, sentAt.length)) replies.push(performance.now() - sentAt[replies.length]!);
        await delay(20);
      }
    })();
    const start = performance.now();
    engine.stdin!.write('go\n');
    await once(said, 'line');
    const added = performance.now() - start;
    // The job's state and reason are read without its data: parsing 26 MB here would stall the clicks too.
    await waitFor('the huge request to fail', async () => (await g.requests.getJobState('huge')) === 'failed', 60_000).catch(() => undefined);
    const failed = performance.now() - start;
    await delay(1000);
    clicking = false;
    await clicks;
    const acked = await Promise.all(acks);
    await Promise.race([watching, delay(30_000)]);
    const lag = await maxLoopLagMs(g);
    engine.kill();

    const reason = await g.redis.hget(`bull:${g.env.REQUEST_QUEUE}:huge`, 'failedReason');
    const sorted = [...acked].sort((a, b) => a - b);
    const answered = [...replies].sort((a, b) => a - b);
    console.info(
      `request with ${size} characters in its ${field}: enqueued in ${added.toFixed(0)} ms, failed ${failed.toFixed(0)} ms after "go"; ` +
        `${acked.length} clicks acked in p50 ${percentile(sorted, 50).toFixed(0)} ms, p99 ${percentile(sorted, 99).toFixed(0)} ms, max ${sorted.at(-1)!.toFixed(0)} ms; ` +
        `replies p50 ${percentile(answered, 50).toFixed(0)} ms, max ${answered.at(-1)!.toFixed(0)} ms; bot's largest event-loop delay ${lag.toFixed(0)} ms`,
    );
    expect(acked.length).toBeGreaterThanOrEqual(10);
    // Slack allows 3 s. Before the raw check the bot's event loop stood still for 3.6 s here on a quiet
    // machine (minutes on a loaded one) and clicks were reset. What remains is ioredis receiving the
    // 27 MB (about 0.3 s of CPU in a profile), which a busy 2-core machine can stretch: a generous bound.
    expect(sorted.at(-1)).toBeLessThan(2000);
    expect(replies).toHaveLength(acked.length);
    expect(reason).toMatch(refusal);
    expect(await g.redis.hget(`bull:${g.env.REQUEST_QUEUE}:huge`, 'atm')).toBe('1');
  }, 180_000);
});
