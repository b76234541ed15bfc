import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { code, escapeMrkdwn, plain, truncate, truncateMrkdwn } from '../../src/views/mrkdwn.js';

const hasLoneSurrogate = (text: string) => /[\uD800-\uDBFF](?![\uDC00-\uDFFF])|(?<![\uD800-\uDBFF])[\uDC00-\uDFFF]/.test(text);

describe('mrkdwn safety', () => {
  it.each([
    ['<!channel> deploy', '&lt;!channel&gt; deploy'],
    ['<@U0ADMIN> approve this', '&lt;@U0ADMIN&gt; approve this'],
    ['<https://evil.example|Approve here>', '&lt;https://evil.example|Approve here&gt;'],
    ['R&D &amp; ops', 'R&amp;D &amp;amp; ops'],
    ['<!subteam^S123>', '&lt;!subteam^S123&gt;'],
  ])('escapes %j so nobody is pinged and no link hides', (input, expected) => {
    expect(escapeMrkdwn(input)).toBe(expected);
  });

  it('shows bidirectional controls instead of letting them reorder the text', () => {
    expect(escapeMrkdwn('safe\u202Eetirw')).toBe('safe\uFFFDetirw');
    expect(plain('a\u2066b<!here>')).toBe('a\uFFFDb‹!here›');
  });

  it('keeps inline code spans closed whatever the value holds', () => {
    expect(code('a`b\nc<x>')).toBe('`aʹb c&lt;x&gt;`');
  });

  it('leaves short text alone and marks a cut with an ellipsis', () => {
    expect(truncate('short', 10)).toBe('short');
    expect(truncate('abcdefghij', 5)).toBe('abcd…');
  });

  it('never splits a surrogate pair', () => {
    expect(truncate('ab😀cd', 4)).toBe('ab…');
    fc.assert(
      fc.property(fc.string({ unit: 'grapheme', maxLength: 60 }), fc.integer({ min: 1, max: 60 }), (text, max) => {
        const cut = truncate(text, max);
        expect(cut.length).toBeLessThanOrEqual(max);
        expect(hasLoneSurrogate(cut)).toBe(false);
      }),
    );
  });

  it('never leaves half an entity behind in escaped text', () => {
    expect(truncateMrkdwn(escapeMrkdwn('aa<<<<'), 9)).toBe('aa&lt;…');
    fc.assert(
      fc.property(fc.string({ maxLength: 80 }), fc.integer({ min: 1, max: 80 }), (text, max) => {
        const cut = truncateMrkdwn(escapeMrkdwn(text), max);
        expect(cut.length).toBeLessThanOrEqual(max);
        expect(cut).not.toMatch(/&(?![a-z]+;)/);
      }),
    );
  });
});
