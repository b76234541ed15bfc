import type { WebClient } from '@slack/web-api';
import type { ConnectionOptions } from 'bullmq';
import type { Route } from '../domain/routes.js';
import type { Logger } from '../ops/logger.js';
import type { Outbox } from '../store/outbox.js';
import type { Store } from '../store/store.js';
import type { BotIdentity } from './find-posted-card.js';
import type { SendTurns } from '../store/send-turns.js';
import type { RequesterNotices } from './requester-notice.js';
import type { Timers } from './timers.js';

/** What the request worker (and the cancel and policy jobs it runs) is given by the composition root. */
export interface IntakeDeps {
  connection: ConnectionOptions;
  queueName: string;
  queuePrefix: string;
  concurrency: number;
  routes: Route[];
  store: Store;
  outbox: Outbox;
  timers: Timers;
  notices: RequesterNotices;
  slack: WebClient;
  /** This bot, as auth.test said at start-up: only its own messages are taken for its cards. */
  own: BotIdentity;
  /** Turns to call Slack, shared by the replicas: cards to a channel go at Slack's pace. */
  turns: SendTurns;
  policySnapshotKey: string;
  log: Logger;
  /** Told of each card recorded: the route's name, how (posted, or recovered after a crash), and seconds since the request was enqueued. */
  onCardPosted?: (route: string, outcome: 'posted' | 'recovered', seconds: number) => void;
  now?: () => number;
}
