import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { createApproval, renderJobPreview } from '../../src/domain/approval.js';
import { parseRequest } from '../../src/domain/contract.js';
import { measureBlocks, MESSAGE_BUDGET } from '../../src/views/budget.js';
import { renderDecidedCard, renderRequestCard } from '../../src/views/cards.js';
import { ACTION_VIEW_JOB, CARD_JOB_LINES, indentJobPreview, jobCodeText, jobExcerpt, parseViewJobValue, renderJobModal } from '../../src/views/job-preview.js';
import { checkBlocks, checkModal } from '../../sandbox/block-kit-rules.js';
import { validRequest } from '../../sandbox/valid-request.js';
import { hostileRecord } from '../helpers/hostile.js';

function approvalWith(job: unknown) {
  const parsed = parseRequest(validRequest({ job }));
  if (!parsed.ok) throw new Error(parsed.problems.join('; '));
  return { ...createApproval(parsed.request, Date.UTC(2026, 10, 25)), cardId: '0123456789abcdef' };
}

/** The text of the card's section that holds the "View job" button. */
function jobSection(blocks: unknown[]): string | undefined {
  const found = blocks.find((block) => JSON.stringify(block).includes(ACTION_VIEW_JOB)) as { text?: { text: string } } | undefined;
  return found?.text?.text;
}

describe('the job on the card', () => {
  it('shows the job’s first lines as code, with a View job button naming the approval and its card', () => {
    const approval = approvalWith({ sql: 'UPDATE orders SET status = $1', params: ['shipped'] });
    const card = renderRequestCard(approval);
    expect(jobSection(card.blocks)).toBe('*Job*\n```{\n  "sql": "UPDATE orders SET status = $1",\n  "params": [\n    "shipped"\n  ]\n}```');
    const button = JSON.stringify(card.blocks).match(/"value":"(ap[0-9a-f]+:[0-9a-f]+)"/)?.[1];
    expect(parseViewJobValue(button)).toEqual({ approvalId: approval.id, cardId: approval.cardId });
  });

  it('cuts a long job at a line end after a few lines, and says the rest is under View job', () => {
    const job = { rows: Array.from({ length: 40 }, (_, i) => `row ${i}`) };
    const text = jobSection(renderRequestCard(approvalWith(job)).blocks)!;
    const code = text.slice(text.indexOf('```') + 3, text.lastIndexOf('```'));
    expect(code.split('\n')).toHaveLength(CARD_JOB_LINES);
    expect(JSON.stringify(job, null, 2).startsWith(code + '\n')).toBe(true);
    expect(text).toContain('_… the rest under View job; the job hash covers all of it._');
  });

  it('escapes what would mention, link or end the code block in the job', () => {
    const text = jobSection(renderRequestCard(approvalWith({ note: '<!channel> <https://evil.example|ok> & ```done``` *b*' })).blocks)!;
    expect(text).toContain('&lt;!channel&gt; &lt;https://evil.example|ok&gt; &amp; ˋˋˋdoneˋˋˋ *b*');
    expect(text.match(/```/g)).toHaveLength(2);
  });

  it('cuts a single long line inside it, never inside an entity', () => {
    const { shown, more } = jobExcerpt(jobCodeText('&'.repeat(500)), 103);
    expect(more).toBe(true);
    expect(shown).toBe('&amp;'.repeat(20));
  });

  it('keeps the job on the decided card', () => {
    const approval = approvalWith({ sql: 'DELETE FROM sessions' });
    const decided = renderDecidedCard(approval, { run_id: 'r', step_id: 's', decision: 'approved', decided_by: { id: 'U0ALICE', name: 'alice' }, decided_at: '2026-11-25T10:00:00.000Z', policy_snapshot: 'abcdef12', job_hash: 'abcdef12', constraints: {} });
    expect(jobSection(decided.blocks)).toContain('DELETE FROM sessions');
  });

  it('has no job section when the request sent no job', () => {
    expect(jobSection(renderRequestCard(approvalWith(undefined)).blocks)).toBeUndefined();
  });
});

describe('the View job modal', () => {
  it('shows the whole stored preview and the full job hash it was checked against, and has no submit', () => {
    const job = { rows: Array.from({ length: 40 }, (_, i) => `row ${i}`) };
    const approval = approvalWith(job);
    const view = renderJobModal(approval);
    const text = JSON.stringify(view.blocks);
    expect(text).toContain(JSON.stringify(JSON.stringify(job, null, 2)).slice(1, -1));
    expect(text).toContain(approval.request.job_hash.replace(/^sha256:/, ''));
    expect(view.submit).toBeUndefined();
    expect(checkModal(view as unknown as Record<string, unknown>)).toEqual([]);
  });

  it('for any stored preview and request, the card and the modal stay within Slack’s limits and the budget', () => {
    fc.assert(
      fc.property(hostileRecord, (record) => {
        const card = renderRequestCard(record);
        expect(checkBlocks(card.blocks)).toEqual([]);
        expect(measureBlocks(card.blocks)).toBeLessThanOrEqual(MESSAGE_BUDGET);
        const view = renderJobModal(record);
        expect(checkModal(view as unknown as Record<string, unknown>)).toEqual([]);
        expect(measureBlocks(view.blocks)).toBeLessThanOrEqual(MESSAGE_BUDGET);
      }),
      { numRuns: 30 },
    );
  });

  it('the largest preview, all of it escaping to five characters, still fits the modal', () => {
    const approval = { ...approvalWith({ a: 1 }), jobPreview: renderJobPreview('&'.repeat(70_000)) };
    const view = renderJobModal(approval);
    expect(checkModal(view as unknown as Record<string, unknown>)).toEqual([]);
    expect(measureBlocks(view.blocks)).toBeLessThanOrEqual(MESSAGE_BUDGET);
    expect(JSON.stringify(view.blocks)).toContain('the rest is not shown here');
  });
});

describe('the stored job, indented to be shown', () => {
  const json = fc.jsonValue({ maxDepth: 6 });

  it('is the job as JSON.stringify(job, null, 2) shows it, for any job', () => {
    fc.assert(fc.property(json, (job) => {
      expect(indentJobPreview(renderJobPreview(job))).toBe(JSON.stringify(job, null, 2));
    }), { numRuns: 300 });
  });

  it('a preview stored indented (by earlier versions) shows the same', () => {
    fc.assert(fc.property(json, (job) => {
      expect(indentJobPreview(JSON.stringify(job, null, 2))).toBe(JSON.stringify(job, null, 2));
    }), { numRuns: 100 });
  });

  it('a cut preview keeps its note on a line of its own', () => {
    const job = { statements: Array.from({ length: 2000 }, (_, i) => `UPDATE t SET a = ${i}`) };
    const shown = indentJobPreview(renderJobPreview(job));
    expect(JSON.stringify(job, null, 2).startsWith(shown.split('\n… ')[0]!)).toBe(true);
    expect(shown).toMatch(/\n… \d+ more characters \(the job hash covers all of them\)$/);
  });

  it('any text, however nested it looks, makes a bounded text', () => {
    expect(indentJobPreview('['.repeat(6000)).length).toBeLessThanOrEqual(4 * MESSAGE_BUDGET);
    fc.assert(fc.property(fc.string({ maxLength: 300 }), (text) => {
      expect(indentJobPreview(text).length).toBeLessThanOrEqual(4 * MESSAGE_BUDGET);
    }));
  });
});
