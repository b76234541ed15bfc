import type { WebClient } from '@slack/web-api';
import type { Route } from '../domain/routes.js';
import type { Logger } from '../ops/logger.js';
import type { Metrics } from '../ops/metrics.js';
import type { Audit } from '../store/audit.js';
import type { Outbox } from '../store/outbox.js';
import type { Store } from '../store/store.js';
import type { ApproverDirectory } from './approver-directory.js';
import type { UserDirectory } from './user-directory.js';

/** What the click flow is given by the composition root: buttons, modals and the typed confirmation. */
export interface DecideDeps {
  store: Store;
  audit: Audit;
  /** Who clicked, from Slack's users.info. */
  users: UserDirectory;
  /** The bot's own workspace (from auth.test): clicks from others are refused unless a route allows them. */
  homeTeamId: string;
  outbox: Outbox;
  slack: WebClient;
  routes: Route[];
  directory: ApproverDirectory;
  policySnapshotKey: string;
  metrics: Metrics;
  log: Logger;
  now?: () => number;
}

/** What a click needs: the approval's store and audit, who clicked, and the routes' rules. */
export type ClickDeps = Pick<DecideDeps, 'store' | 'audit' | 'users' | 'routes' | 'directory' | 'homeTeamId' | 'policySnapshotKey' | 'now'>;
