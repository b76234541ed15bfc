import { describe, expect, it } from 'vitest';
import { percentile, renderDecisionStats, routeStats } from '../../src/views/decision-stats.js';

describe('time to decision', () => {
  it.each([
    [[], 50, undefined],
    [[42], 50, 42],
    [[42], 90, 42],
    [[1, 2, 3, 4], 50, 2],
    [[4, 3, 2, 1], 90, 4],
    [Array.from({ length: 10 }, (_, i) => i + 1), 90, 9],
    [Array.from({ length: 10 }, (_, i) => i + 1), 50, 5],
  ])('percentile of %j at %i is %s (nearest rank)', (values, p, expected) => {
    expect(percentile(values, p)).toBe(expected);
  });

  it('says for each route how many were decided, and the median and 90th percentile', () => {
    const text = renderDecisionStats([routeStats('prod-writes', [30, 240, 600, 3600, 90_000]), routeStats('default', [])]);
    expect(text).toBe(
      [
        '*Time from card to decision, last 7 days* (approved or denied, on the routes you may decide on):',
        '• *prod-writes*: 5 decided · median 10 min · 90th percentile 25 h',
        '• *default*: nothing decided',
      ].join('\n'),
    );
  });

  it('tells someone who is no approver that there is nothing to show', () => {
    expect(renderDecisionStats([])).toContain('not an approver on any route');
  });
});
