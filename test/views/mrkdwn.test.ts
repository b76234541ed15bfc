import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { code, escapeMrkdwn, literal, plain, quote, truncate, truncateMrkdwn } from '../../src/views/mrkdwn.js';

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
    expect(code('a`b\nc<x>')).toBe('`aˋb c&lt;x&gt;`');
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

  it.each([
    ['a ZWJ sequence', 'ab👩\u200D💻cd', 6, 'ab…'],
    ['a letter and its combining mark', 'abe\u0301cd', 4, 'ab…'],
    ['a flag', 'ab🇫🇷cd', 5, 'ab…'],
    ['a CRLF', 'ab\r\ncd', 4, 'ab…'],
  ])('never splits a grapheme: %s', (_what, text, max, cut) => {
    expect(truncate(text, max)).toBe(cut);
    expect(truncateMrkdwn(text, max)).toBe(cut);
  });

  it('cuts only where a grapheme ends', () => {
    const segmenter = new Intl.Segmenter('en', { granularity: 'grapheme' });
    fc.assert(
      fc.property(fc.string({ unit: 'grapheme', maxLength: 40 }), fc.integer({ min: 2, max: 60 }), (text, max) => {
        const cut = truncate(text, max);
        if (cut === text) return;
        const kept = cut.slice(0, -1);
        const ends = new Set([...segmenter.segment(text)].map((segment) => segment.index + segment.segment.length));
        expect(kept === '' || ends.has(kept.length)).toBe(true);
      }),
    );
  });

  it.each([
    ['*Approved*', '∗Approved∗'],
    ['_urgent_ ~struck~', 'ˍurgentˍ ∼struck∼'],
    ['`code` and ```block```', 'ˋcodeˋ and ˋˋˋblockˋˋˋ'],
    [':white_check_mark: done: yes', '∶whiteˍcheckˍmark: done: yes'],
    ['tada: ends with :x', 'tada∶ ends with ∶x'],
    ['> quoted\n  > again', '› quoted\n  › again'],
    ['<!channel> & co', '&lt;!channel&gt; &amp; co'],
  ])('shows %j literally: no formatting, emoji, quote, mention or link', (input, expected) => {
    expect(literal(input)).toBe(expected);
  });

  it('quotes escaped text line by line, as Slack stores a quote', () => {
    expect(quote('one\ntwo')).toBe('&gt; one\n&gt; two');
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
