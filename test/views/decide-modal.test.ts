import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { createApproval } from '../../src/domain/approval.js';
import { parseRequest } from '../../src/domain/contract.js';
import { renderDecideModal, TYPED_BLOCK } from '../../src/views/decide-modal.js';
import { checkBlocks } from '../../sandbox/block-kit-rules.js';
import { validRequest } from '../../sandbox/valid-request.js';

function approvalWithJob(job: unknown) {
  const parsed = parseRequest(validRequest({ job, step_id: 'remediate' }));
  if (!parsed.ok) throw new Error(parsed.problems.join('; '));
  return createApproval(parsed.request, Date.UTC(2026, 10, 25));
}

const sectionTexts = (blocks: unknown[]) => (blocks as { type: string; text?: { text: string } }[]).filter((b) => b.type === 'section').map((b) => b.text!.text);

describe('the typed confirmation modal', () => {
  it('shows the job in a code block and asks for the step id or the job hash', () => {
    const view = renderDecideModal(approvalWithJob({ sql: 'DELETE FROM t WHERE a < 1 AND b = `x`' }), 'approve', { typed: true, commentOptional: true });
    const texts = sectionTexts(view.blocks);
    expect(texts).toContain('```{\n  "sql": "DELETE FROM t WHERE a &lt; 1 AND b = ˋxˋ"\n}```');
    expect(JSON.stringify(view.blocks)).toContain(`"block_id":"${TYPED_BLOCK}"`);
    expect(view.title).toEqual({ type: 'plain_text', text: 'Confirm approval' });
    expect(JSON.parse(view.private_metadata!)).toMatchObject({ action: 'approve', o: 1 });
  });

  it('says so when the job is longer than the modal shows', () => {
    const view = renderDecideModal(approvalWithJob({ text: '<'.repeat(5000) }), 'approve', { typed: true });
    const texts = sectionTexts(view.blocks);
    expect(texts.filter((t) => t.startsWith('```'))).toHaveLength(3);
    expect(texts).toContain('_… the rest is not shown here; the job hash covers the whole job._');
    expect(checkBlocks(view.blocks, 'modal')).toEqual([]);
  });

  it('never splits a character between two parts of the job', () => {
    for (const pad of ['', 'x']) {
      const view = renderDecideModal(approvalWithJob({ text: pad + '😀'.repeat(2500) }), 'approve', { typed: true });
      for (const text of sectionTexts(view.blocks)) expect(text).not.toMatch(/[\uD800-\uDBFF](?![\uDC00-\uDFFF])|(?<![\uD800-\uDBFF])[\uDC00-\uDFFF]/);
    }
  });

  it('for any job, stays within Slack’s modal limits and never splits an entity', () => {
    fc.assert(
      fc.property(fc.array(fc.oneof(fc.string({ maxLength: 200 }), fc.constantFrom('<<<<', '&&&&', '```', '<!channel>', '\u202E')), { maxLength: 400 }), (lines) => {
        const view = renderDecideModal(approvalWithJob({ lines }), 'approve', { typed: true });
        expect(checkBlocks(view.blocks, 'modal')).toEqual([]);
        for (const text of sectionTexts(view.blocks)) {
          expect(text.length).toBeLessThanOrEqual(3000);
          expect(text.replace(/&(amp|lt|gt);/g, '')).not.toMatch(/[&<>]/);
          expect(text).not.toMatch(/[\uD800-\uDBFF](?![\uDC00-\uDFFF])|(?<![\uD800-\uDBFF])[\uDC00-\uDFFF]/);
        }
      }),
      { numRuns: 60 },
    );
  });
});
