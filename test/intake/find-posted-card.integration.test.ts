import { WebClient } from '@slack/web-api';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createApproval, type Approval } from '../../src/domain/approval.js';
import { parseRequest } from '../../src/domain/contract.js';
import { RouteSchema } from '../../src/domain/routes.js';
import { cardTargets, findPostedCard, removeDuplicateCards } from '../../src/intake/find-posted-card.js';
import { createLogger } from '../../src/ops/logger.js';
import { renderRequestCard } from '../../src/views/cards.js';
import { SlackEmulator } from '../../sandbox/slack-emulator.js';
import { validRequest } from '../../sandbox/valid-request.js';

const TOKEN = 'xoxb-cards';
const log = createLogger('silent');

describe('an approval’s cards in Slack', () => {
  const emulator = new SlackEmulator({
    botToken: TOKEN,
    channels: [
      { id: 'C0INCIDENT', name: 'incident', botIsMember: true },
      { id: 'C0APPROVALS', name: 'approvals', botIsMember: true },
      { id: 'C0HIDDEN', name: 'hidden', botIsMember: false },
    ],
  });
  let slack: WebClient;
  beforeAll(async () => {
    await emulator.start();
    slack = new WebClient(TOKEN, { slackApiUrl: emulator.apiUrl, retryConfig: { retries: 0 } });
  });
  afterAll(() => emulator.stop());

  const route = RouteSchema.parse({ name: 'prod', channel: 'C0APPROVALS', approvers: 'anyone', fallback_to_route_channel: true });
  const approvalIn = (overrides: Record<string, unknown>): Approval => {
    const parsed = parseRequest(validRequest(overrides));
    if (!parsed.ok) throw new Error(parsed.problems.join());
    return createApproval(parsed.request, Date.now());
  };
  const post = async (approval: Approval, channel: string, threadTs?: string) => {
    const response = await slack.chat.postMessage({ channel, ...(threadTs ? { thread_ts: threadTs } : {}), ...renderRequestCard(approval) });
    return { channel, ts: String(response.ts) };
  };
  const own = { botId: emulator.botId, userId: emulator.botUserId };
  const exists = (card: { channel: string; ts: string }) => emulator.messagesIn(card.channel).some((m) => m.ts === card.ts);

  it('a sweep deletes every duplicate of the recorded card, in the thread the request names and in the fallback channel, and nothing else', async () => {
    const parent = await slack.chat.postMessage({ channel: 'C0INCIDENT', text: 'incident opened' });
    const approval = approvalIn({ channel: 'C0INCIDENT', thread_ts: parent.ts });
    const targets = cardTargets(approval.request, route);
    expect(targets).toEqual([{ channel: 'C0INCIDENT', threadTs: parent.ts }, { channel: 'C0APPROVALS' }]);

    const recorded = await post(approval, 'C0INCIDENT', parent.ts);
    const inThread = await post(approval, 'C0INCIDENT', parent.ts);
    const inFallback = await post(approval, 'C0APPROVALS');
    // Not duplicates of the recorded card: an older card of the same step (another card id), another approval's card.
    const older = await post({ ...approval, cardId: 'older-card' }, 'C0INCIDENT', parent.ts);
    const other = await post(approvalIn({ channel: 'C0INCIDENT', thread_ts: parent.ts }), 'C0INCIDENT', parent.ts);

    expect(await removeDuplicateCards(slack, own, log, { ...approval, card: recorded }, targets)).toBe(2);
    expect([recorded, inThread, inFallback, older, other].map(exists)).toEqual([true, false, false, true, true]);
    expect(await removeDuplicateCards(slack, own, log, { ...approval, card: recorded }, targets)).toBe(0);
    expect(await findPostedCard(slack, own, log, approval, targets)).toEqual(recorded);
  });

  it('a place the app cannot read is passed over with a warning; the others are swept', async () => {
    const approval = approvalIn({ channel: 'C0APPROVALS' });
    const recorded = await post(approval, 'C0APPROVALS');
    const duplicate = await post(approval, 'C0APPROVALS');
    expect(await removeDuplicateCards(slack, own, log, { ...approval, card: recorded }, [{ channel: 'C0HIDDEN' }, { channel: 'C0APPROVALS' }])).toBe(1);
    expect([exists(recorded), exists(duplicate)]).toEqual([true, false]);
  });

  it('a message another app or a person posted with a card’s metadata is neither found as the card nor swept', async () => {
    const approval = approvalIn({ channel: 'C0APPROVALS' });
    const metadata = renderRequestCard(approval).metadata;
    const forged = [
      emulator.postAs({ bot_id: 'B0OTHERAPP', app_id: 'A0OTHERAPP', user: 'U0OTHERBOT' }, { channel: 'C0APPROVALS', text: 'Approval needed', metadata }),
      emulator.postAs({ user: 'U0MALLORY' }, { channel: 'C0APPROVALS', text: 'Approval needed', metadata }),
    ];
    const targets = [{ channel: 'C0APPROVALS' }];
    expect(await findPostedCard(slack, own, log, approval, targets)).toBeUndefined();
    const recorded = await post(approval, 'C0APPROVALS');
    expect(await findPostedCard(slack, own, log, approval, targets)).toEqual(recorded);
    expect(await removeDuplicateCards(slack, own, log, { ...approval, card: recorded }, targets)).toBe(0);
    expect(forged.map(exists)).toEqual([true, true]);
  });
});
