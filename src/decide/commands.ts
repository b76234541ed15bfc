import type { App, RespondFn } from '@slack/bolt';
import type { WebClient } from '@slack/web-api';
import { LRUCache } from 'lru-cache';
import type { ApprovalRecord } from '../domain/approval.js';
import type { ApproverDirectory } from './approver-directory.js';
import type { ChannelDirectory, Viewer } from './channel-visibility.js';
import { assessIdentity, type SlackIdentity } from '../domain/identity.js';
import type { UserDirectory } from './user-directory.js';
import type { Logger } from '../ops/logger.js';
import { byUrgency, HELP_TEXT, LIST_LIMIT, parseArgs, renderPendingList, type ListQuery, type PartialList, type PendingItem } from '../views/pending-list.js';
import { expiresAt, matchRoute, requiredApprovals, type Route } from '../domain/routes.js';
import type { Store } from '../store/store.js';
import type { DecisionTimes } from '../store/decision-times.js';
import { renderDecisionStats, routeStats } from '../views/decision-stats.js';

/**
 * `/approvals`: the pending approvals the caller can see (see channel-visibility.ts), most urgent
 * first, with working Approve and Deny buttons. The command is acked at once; the list follows
 * through the command's response_url, ephemerally, within a few seconds: what could not be checked
 * in time is left out and the reply says the list is partial.
 */

export const APPROVALS_COMMAND = '/approvals';

export interface CommandDeps {
  store: Store;
  /** Times to decision per route, for `/approvals stats`. */
  decisionTimes: DecisionTimes;
  slack: WebClient;
  routes: Route[];
  directory: ApproverDirectory;
  /** Who is asking, as Slack's users.info says: `mine` lists only what they could decide. */
  users: UserDirectory;
  /** Who may see which channel's cards. */
  channels: ChannelDirectory;
  homeTeamId: string;
  log: Logger;
  now?: () => number;
}

export function registerCommands(app: App, deps: CommandDeps): void {
  // A message's permalink never changes: each card's is asked for once.
  const permalinks = new LRUCache<string, string>({ max: 5_000 });
  app.command(APPROVALS_COMMAND, async ({ ack, command, respond }) => {
    await ack();
    const log = deps.log.child({ user: command.user_id, command: APPROVALS_COMMAND, text: command.text });
    const args = parseArgs(command.text ?? '');
    try {
      if (args.kind === 'help') return await reply(respond, { text: HELP_TEXT });
      if (args.kind === 'stats') {
        const text = await statsFor(deps, command.user_id);
        log.info({ outcome: 'stats' }, 'decision stats shown');
        return await reply(respond, { text });
      }
      const { items, partial } = await listFor(deps, command.user_id, command.team_id, args.query);
      log.info({ outcome: partial ? 'partial' : 'listed', count: items.length, unchecked_channels: partial?.uncheckedChannels }, 'pending approvals listed');
      await reply(respond, renderPendingList(await withPermalinks(deps.slack, permalinks, items), args.query, deps.now?.() ?? Date.now(), partial));
    } catch (err) {
      log.error({ err: String(err) }, 'could not list pending approvals');
      await reply(respond, { text: ':warning: Could not list the pending approvals right now. Try again in a moment.' });
    }
  });
}

/** `/approvals stats`: the caller's routes (those they may decide on), each with its decisions in the last 7 days. */
async function statsFor(deps: CommandDeps, userId: string): Promise<string> {
  const mine: string[] = [];
  for (const route of deps.routes) if (await deps.directory.isApprover(route, userId)) mine.push(route.name);
  const times = await deps.decisionTimes.within(mine, deps.now?.() ?? Date.now());
  return renderDecisionStats(mine.map((route) => routeStats(route, times.get(route) ?? [])));
}

type PendingRecord = ApprovalRecord & { card: NonNullable<ApprovalRecord['card']> };

/**
 * The pending approvals the caller may see, filtered as asked. Filters go first, so Slack is asked
 * only about the channels left; `partial` counts the channels whose visibility could not be checked.
 */
async function listFor(deps: CommandDeps, userId: string, teamId: string | undefined, query: ListQuery): Promise<{ items: PendingItem[]; partial?: PartialList }> {
  const ids = await deps.store.pendingIds();
  const loaded = await deps.store.loadMany(ids);
  await deps.store.forgetPending(ids.filter((_, index) => loaded[index] === undefined));
  const records = loaded.filter((r): r is PendingRecord => !!r?.card && !r.decision && !r.cancelled).filter((record) => matches(record, query));
  // users.info failing fails `mine` ("could not list"): it never lists what it could not check.
  // Without `mine`, an unknown caller is shown only what they are a member of.
  const identity = query.mine ? await deps.users.lookup(userId, teamId) : await deps.users.lookup(userId, teamId).catch(() => undefined);
  const candidates: { record: PendingRecord; route: Route }[] = [];
  for (const record of records) {
    const route = matchRoute(deps.routes, record.request);
    if (query.mine && !(await mayApprove(deps, route, record, identity!))) continue;
    candidates.push({ record, route });
  }
  const visibility = await deps.channels.visibleTo(viewerOf(userId, identity, deps.homeTeamId), candidates.map(({ record }) => record.card.channel));
  const items = candidates
    .filter(({ record }) => visibility.visible.has(record.card.channel))
    .map(({ record, route }) => ({
      record,
      expiresAt: expiresAt(route, record.request, record.createdAt),
      requiredApprovals: requiredApprovals(route, record.request),
      confirm: route.confirm === 'dialog',
      permalink: undefined,
    }));
  if (visibility.unchecked.size === 0) return { items };
  const retryAfterSec = visibility.retryAfterMs === undefined ? undefined : Math.ceil(visibility.retryAfterMs / 1000);
  return { items, partial: { uncheckedChannels: visibility.unchecked.size, ...(retryAfterSec ? { retryAfterSec } : {}) } };
}

/** The filters that need no Slack call: channel and risk tag. */
function matches(record: PendingRecord, query: ListQuery): boolean {
  if (query.channel && record.card.channel !== query.channel) return false;
  return !query.riskTag || record.request.risk_tags.some((tag) => tag.toLowerCase() === query.riskTag);
}

/**
 * Guests (who may be in only some channels), users of other workspaces, bots, deactivated accounts
 * and callers users.info could not tell about see public channels' cards only where they are members.
 */
function viewerOf(userId: string, identity: SlackIdentity | undefined, homeTeamId: string): Viewer {
  const membersOnly = !identity || identity.isGuest || identity.isBot || identity.deleted || identity.teamId !== homeTeamId;
  return { id: userId, membersOnly };
}

/**
 * Whether the user could approve it now, by the same rules as a click: not refused for who they are
 * (guest, bot, deactivated, another workspace), an approver, not its initiator (where the route
 * forbids that), not counted yet.
 */
async function mayApprove(deps: CommandDeps, route: Route, record: ApprovalRecord, identity: SlackIdentity): Promise<boolean> {
  const userId = identity.id;
  if (assessIdentity(identity, deps.homeTeamId, route)) return false;
  if (route.deny_self_approval && record.request.initiated_by === userId) return false;
  if (record.votes.some((vote) => vote.id === userId)) return false;
  return deps.directory.isApprover(route, userId);
}

/** Links to the cards that will be shown; a card Slack cannot link to is shown without one. */
async function withPermalinks(slack: WebClient, known: LRUCache<string, string>, items: PendingItem[]): Promise<PendingItem[]> {
  const shown = new Set([...items].sort(byUrgency).slice(0, LIST_LIMIT));
  return Promise.all(
    items.map(async (item) => {
      const card = item.record.card;
      if (!shown.has(item) || !card) return item;
      const key = `${card.channel}/${card.ts}`;
      let permalink = known.get(key);
      if (permalink === undefined) {
        permalink = (await slack.chat.getPermalink({ channel: card.channel, message_ts: card.ts }).catch(() => undefined))?.permalink;
        if (permalink) known.set(key, permalink);
      }
      return { ...item, permalink };
    }),
  );
}

async function reply(respond: RespondFn, message: { text: string; blocks?: unknown[] }): Promise<void> {
  await respond({ response_type: 'ephemeral', ...message } as Parameters<RespondFn>[0]);
}
