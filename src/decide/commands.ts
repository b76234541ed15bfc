import type { App, RespondFn } from '@slack/bolt';
import type { WebClient } from '@slack/web-api';
import type { ApprovalRecord } from '../domain/approval.js';
import type { ApproverDirectory } from './approver-directory.js';
import { assessIdentity, type SlackIdentity } from '../domain/identity.js';
import type { UserDirectory } from './user-directory.js';
import type { Logger } from '../ops/logger.js';
import { byUrgency, HELP_TEXT, LIST_LIMIT, parseArgs, renderPendingList, type ListQuery, type PendingItem } from '../views/pending-list.js';
import { expiresAt, matchRoute, requiredApprovals, type Route } from '../domain/routes.js';
import type { Store } from '../store/store.js';

/**
 * `/approvals`: the pending approvals the caller can see (cards in public channels, and in private
 * channels they are in), most urgent first, with working Approve and Deny buttons. The command is
 * acked at once; the list follows through the command's response_url, ephemerally.
 */

export const APPROVALS_COMMAND = '/approvals';

export interface CommandDeps {
  store: Store;
  slack: WebClient;
  routes: Route[];
  directory: ApproverDirectory;
  /** Who is asking, as Slack's users.info says: `mine` lists only what they could decide. */
  users: UserDirectory;
  homeTeamId: string;
  log: Logger;
  now?: () => number;
}

export function registerCommands(app: App, deps: CommandDeps): void {
  app.command(APPROVALS_COMMAND, async ({ ack, command, respond }) => {
    await ack();
    const log = deps.log.child({ user: command.user_id, command: APPROVALS_COMMAND, text: command.text });
    const args = parseArgs(command.text ?? '');
    try {
      if (args.kind === 'help') return await reply(respond, { text: HELP_TEXT });
      const items = await listFor(deps, command.user_id, command.team_id, args.query);
      log.info({ outcome: 'listed', count: items.length }, 'pending approvals listed');
      await reply(respond, renderPendingList(await withPermalinks(deps, items), args.query, deps.now?.() ?? Date.now()));
    } catch (err) {
      log.error({ err: String(err) }, 'could not list pending approvals');
      await reply(respond, { text: ':warning: Could not list the pending approvals right now. Try again in a moment.' });
    }
  });
}

async function listFor(deps: CommandDeps, userId: string, teamId: string | undefined, query: ListQuery): Promise<PendingItem[]> {
  const ids = await deps.store.pendingIds();
  const loaded = await deps.store.loadMany(ids);
  await deps.store.forgetPending(ids.filter((_, index) => loaded[index] === undefined));
  const records = loaded.filter(
    (r): r is ApprovalRecord & { card: NonNullable<ApprovalRecord['card']> } => !!r?.card && !r.decision && !r.cancelled,
  );
  const visible = await visibleChannels(deps, userId, new Set(records.map((r) => r.card.channel)));
  // users.info failing fails the command ("could not list"): `mine` never lists what it could not check.
  const identity = query.mine ? await deps.users.lookup(userId, teamId) : undefined;
  const items: PendingItem[] = [];
  for (const record of records) {
    if (!visible.has(record.card.channel)) continue;
    if (query.channel && record.card.channel !== query.channel) continue;
    if (query.riskTag && !record.request.risk_tags.some((tag) => tag.toLowerCase() === query.riskTag)) continue;
    const route = matchRoute(deps.routes, record.request);
    if (identity && !(await mayApprove(deps, route, record, identity))) continue;
    items.push({ record, expiresAt: expiresAt(route, record.request, record.createdAt), requiredApprovals: requiredApprovals(route, record.request), confirm: route.confirm === 'dialog', permalink: undefined });
  }
  return items;
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

/** The channels among these whose cards the user may see: public ones, and private ones they are in. */
async function visibleChannels(deps: CommandDeps, userId: string, channels: Set<string>): Promise<Set<string>> {
  const visible = new Set<string>();
  for (const channel of channels) {
    const info = await deps.slack.conversations.info({ channel });
    if (!info.channel?.is_private || (await isMember(deps.slack, channel, userId))) visible.add(channel);
  }
  return visible;
}

async function isMember(slack: WebClient, channel: string, userId: string): Promise<boolean> {
  let cursor: string | undefined;
  do {
    const page = await slack.conversations.members({ channel, limit: 1000, ...(cursor ? { cursor } : {}) });
    if (page.members?.includes(userId)) return true;
    cursor = page.response_metadata?.next_cursor || undefined;
  } while (cursor);
  return false;
}

/** Links to the cards that will be shown; a card Slack cannot link to is shown without one. */
async function withPermalinks(deps: CommandDeps, items: PendingItem[]): Promise<PendingItem[]> {
  const shown = new Set([...items].sort(byUrgency).slice(0, LIST_LIMIT));
  return Promise.all(
    items.map(async (item) => {
      if (!shown.has(item) || !item.record.card) return item;
      const link = await deps.slack.chat.getPermalink({ channel: item.record.card.channel, message_ts: item.record.card.ts }).catch(() => undefined);
      return { ...item, permalink: link?.permalink };
    }),
  );
}

async function reply(respond: RespondFn, message: { text: string; blocks?: unknown[] }): Promise<void> {
  await respond({ response_type: 'ephemeral', ...message } as Parameters<RespondFn>[0]);
}
