import { describe, expect, it } from 'vitest';
import { createApproval, type ApprovalRecord } from '../../src/domain/approval.js';
import { parseRequest } from '../../src/domain/contract.js';
import { formatDuration, parseArgs, renderPendingList, type PendingItem } from '../../src/views/pending-list.js';
import { checkBlocks } from '../../sandbox/block-kit-rules.js';
import { validRequest } from '../../sandbox/valid-request.js';

const NOW = Date.UTC(2026, 10, 25, 12, 0);

function item(overrides: Record<string, unknown>, expiresInMs: number | undefined, ageMs = 60_000): PendingItem {
  const parsed = parseRequest(validRequest(overrides));
  if (!parsed.ok) throw new Error(parsed.problems.join());
  const record: ApprovalRecord = { ...createApproval(parsed.request, NOW - ageMs), votes: [], card: { channel: 'C0APPROVALS', ts: '1.000001' } };
  return { record, expiresAt: expiresInMs === undefined ? undefined : NOW + expiresInMs, requiredApprovals: 1, confirm: false, permalink: 'https://sandbox.slack.local/archives/C0APPROVALS/p1000001' };
}

describe('/approvals arguments', () => {
  it.each([
    ['', { kind: 'list', query: { mine: false } }],
    ['mine', { kind: 'list', query: { mine: true } }],
    ['PROD', { kind: 'list', query: { mine: false, riskTag: 'prod' } }],
    ['mine secrets', { kind: 'list', query: { mine: true, riskTag: 'secrets' } }],
    ['<#C0INCIDENT42|incident-42>', { kind: 'list', query: { mine: false, channel: 'C0INCIDENT42' } }],
    ['<#C0PRIVATE|>', { kind: 'list', query: { mine: false, channel: 'C0PRIVATE' } }],
    ['help', { kind: 'help' }],
  ])('%j', (text, expected) => {
    expect(parseArgs(text)).toEqual(expected);
  });
});

describe('the pending list', () => {
  it('says so plainly when nothing is waiting', () => {
    expect(renderPendingList([], { mine: true, riskTag: 'prod' }, NOW).text).toBe('No approvals are waiting for you to decide tagged `prod`.');
  });

  it('puts the soonest expiry first and the never-expiring last, each with its buttons', () => {
    const list = renderPendingList([item({ workflow: 'never' }, undefined), item({ workflow: 'later' }, 3_600_000), item({ workflow: 'soon' }, 300_000)], { mine: false }, NOW);
    const sections = list.blocks.filter((b) => b.type === 'section').map((b) => JSON.stringify(b));
    expect(sections[0]).toContain('3 approvals waiting');
    expect(sections.slice(1).map((s) => /`(\w+)` ›/.exec(s)?.[1])).toEqual(['soon', 'later', 'never']);
    expect(sections[1]).toContain('1m old · expires in 5m · <https://sandbox.slack.local/archives/C0APPROVALS/p1000001|open the card>');
    expect(list.blocks.filter((b) => b.type === 'actions')).toHaveLength(3);
    expect(checkBlocks(list.blocks)).toEqual([]);
  });

  it('shows the most urgent that fit, says how many more and how to narrow down, within Slack’s limits', () => {
    const list = renderPendingList(Array.from({ length: 60 }, (_, i) => item({}, (i + 1) * 60_000)), { mine: false }, NOW);
    expect(JSON.stringify(list.blocks[0])).toContain('60 approvals waiting*, the 15 most urgent');
    expect(JSON.stringify(list.blocks.at(-1))).toContain('…and 45 more. Narrow it down');
    expect(checkBlocks(list.blocks)).toEqual([]);
  });

  it('escapes what requests say', () => {
    const list = renderPendingList([item({ reason: '<!channel> now', workflow: '<@U0X>' }, 60_000)], { mine: false }, NOW);
    expect(JSON.stringify(list.blocks)).not.toMatch(/<!channel>|<@U0X>/);
  });

  it.each([
    [5_000, '5s'],
    [12 * 60_000, '12m'],
    [3 * 3_600_000 + 5 * 60_000, '3h 5m'],
    [2 * 86_400_000 + 4 * 3_600_000, '2d 4h'],
    [-1, '0s'],
  ])('formats %d ms as %s', (ms, text) => {
    expect(formatDuration(ms)).toBe(text);
  });
});

describe('a partial list', () => {
  it('says how many channels could not be checked and when to try again, within Slack’s limits', () => {
    const items = Array.from({ length: 20 }, (_, i) => item({ workflow: `w${i}` }, 60_000));
    const list = renderPendingList(items, { mine: false }, NOW, { uncheckedChannels: 3, retryAfterSec: 30 });
    expect(list.text).toBe('20 approvals waiting (partial list)');
    expect(JSON.stringify(list.blocks.at(-1))).toContain('This list is partial: 3 channels could not be checked just now, so their approvals are not shown. Try again in 30 s.');
    expect(checkBlocks(list.blocks)).toEqual([]);
  });

  it('says so when nothing it could check is waiting', () => {
    const list = renderPendingList([], { mine: false }, NOW, { uncheckedChannels: 1 });
    expect(list.text).toBe('No approvals are waiting (partial list).');
    expect(JSON.stringify(list.blocks)).toContain('1 channel could not be checked just now, so its approvals are not shown. Try again in a moment.');
  });

  it('is a whole list when every channel was checked', () => {
    expect(renderPendingList([], { mine: false }, NOW, { uncheckedChannels: 0 }).text).toBe('No approvals are waiting.');
  });
});
