import { freePort } from '../../sandbox/free-port.js';
import type { BotProcess } from './bot-process.js';
import type { Gate } from './gate.js';

export interface Replica {
  bot: BotProcess;
  /** Its `/slack/events` URL, to send a request to this replica rather than another. */
  url: string;
}

/** The gate's bot and `count - 1` more bot processes on ports of their own: replicas sharing one Redis and one Slack. */
export async function startReplicas(g: Gate, count: number): Promise<Replica[]> {
  const others = await Promise.all(
    Array.from({ length: count - 1 }, async () => {
      const port = String(await freePort());
      return { bot: await g.startAnother({ PORT: port }), url: `http://127.0.0.1:${port}/slack/events` };
    }),
  );
  return [{ bot: g.bot, url: `http://127.0.0.1:${g.env.PORT}/slack/events` }, ...others];
}
