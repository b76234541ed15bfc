/**
 * The baseline for bench:click: a bare Bolt app (same receiver, same signature check) that acks a
 * button click and does one Redis write, nothing else. Started by bench/click.ts as a process of
 * its own, like the bot.
 */
import { App, LogLevel } from '@slack/bolt';
import { Redis } from 'ioredis';

const redis = new Redis(process.env.REDIS_URL!);
const app = new App({
  token: process.env.SLACK_BOT_TOKEN,
  signingSecret: process.env.SLACK_SIGNING_SECRET,
  clientOptions: { slackApiUrl: process.env.SLACK_API_URL },
  logLevel: LogLevel.ERROR,
});
app.action({ type: 'block_actions', action_id: /^approval_/ }, async ({ ack, action }) => {
  await ack();
  const { a } = JSON.parse((action as { value: string }).value) as { a: string };
  await redis.set(`baseline:click:${a}`, String(Date.now()));
});
await app.start(Number(process.env.PORT));
console.log('baseline ready');
