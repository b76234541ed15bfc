/**
 * Safe text for Slack: every request field is untrusted, so it is escaped before it reaches
 * mrkdwn, shown so that it can neither format nor pass for the bot's own words, and cut to the
 * length Slack accepts without breaking an entity, a character or a grapheme.
 */

// Bidirectional controls can make text display in another order than it is stored, so a
// reviewer could read something other than what is approved: they are shown as U+FFFD.
const BIDI_CONTROLS = /[\u202A-\u202E\u2066-\u2069]/g;

/**
 * Untrusted text for `plain_text` objects. Angle brackets become look-alikes (‹ ›), so that no
 * client that does parse them can read a mention or a link there; bidi controls become U+FFFD.
 * Send it with `emoji: false`, or `:names:` in it show as emoji.
 */
export function plain(value: string): string {
  return value.replace(BIDI_CONTROLS, '\uFFFD').replace(/</g, '‹').replace(/>/g, '›');
}

/**
 * Escapes the three characters Slack treats as control characters, so that no input can
 * mention (`<!channel>`, `<@U…>`) or hide a link (`<https://…|label>`).
 */
export function escapeMrkdwn(value: string): string {
  return value.replace(BIDI_CONTROLS, '\uFFFD').replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;');
}

// Slack's mrkdwn has no escape for its marks (https://api.slack.com/reference/surfaces/formatting),
// so in untrusted text they become characters that look alike and mean nothing to it.
const LOOK_ALIKES: Record<string, string> = { '*': '∗', _: 'ˍ', '~': '∼', '`': 'ˋ' };

/**
 * Untrusted text as mrkdwn that shows literally, so that it can never look like the bot's own
 * lines (a bold ":white_check_mark: *Approved*" in a reason): escaped as {@link escapeMrkdwn} does,
 * with `*` `_` `~` and backticks as look-alikes (∗ ˍ ∼ ˋ: no bold, italics, strikethrough or code),
 * a colon that could be part of an `:emoji:` code (in the text, or with the text around it) as ∶,
 * and `>` opening a line (a quote) as ›.
 * @param max cut to at most this many characters (UTF-16 code units), counted after escaping.
 */
export function literal(value: string, max = Infinity): string {
  // Nothing below shortens text, so what lies past max + 1 could only be cut away.
  const inert = enoughFor(value, max)
    .replace(/[*_~`]/g, (mark) => LOOK_ALIKES[mark]!)
    // A colon that opens an emoji code, or could open or close one with the text around it.
    .replace(/:(?:(?=[^\s:]+(?::|$))|(?<=^[^\s:]+:))/g, '∶')
    .replace(/^([ \t]*)>/gm, '$1›');
  return truncateMrkdwn(escapeMrkdwn(inert), max);
}

/** {@link literal} on one line: runs of white space (newlines included) become one space. */
export function literalLine(value: string, max = Infinity): string {
  return literal(value.replace(/\s+/g, ' '), max);
}

/**
 * As much of `value` as a cut to `max` characters can keep once escaped or shown literally (which
 * only lengthen text): the rest need not be escaped at all. A surrogate pair split at the end is
 * past `max`, so always cut away.
 */
export function enoughFor(value: string, max: number): string {
  return value.length > max + 1 ? value.slice(0, max + 1) : value;
}

/**
 * Escaped mrkdwn as a block quote, line by line: what someone else wrote, set apart from the bot's
 * words. The mark is `&gt; `, as Slack stores a quote a person types.
 */
export function quote(mrkdwn: string): string {
  return mrkdwn
    .split('\n')
    .map((line) => `&gt; ${line}`)
    .join('\n');
}

/**
 * Inline code for an untrusted value: escaped, on one line, and without backticks that would end
 * the span (they show as ˋ). Slack formats nothing inside code.
 * @param max cut the value inside the span to at most this many characters, counted after escaping.
 */
export function code(value: string, max = Infinity): string {
  return `\`${truncateMrkdwn(codeText(value), max)}\``;
}

/** What {@link code} puts between the backticks, uncut. */
export function codeText(value: string): string {
  return escapeMrkdwn(value.replace(/`/g, LOOK_ALIKES['`']!)).replace(/[\r\n]+/g, ' ');
}

const ELLIPSIS = '…';

/**
 * Cuts plain text to at most `max` UTF-16 code units (Slack's limits count characters; a code
 * unit count is never below it), ending with "…" when cut. Never splits a character or a grapheme.
 */
export function truncate(value: string, max: number): string {
  if (value.length <= max) return value;
  if (max <= ELLIPSIS.length) return ELLIPSIS.slice(0, Math.max(max, 0));
  return value.slice(0, clusterStart(value, max - ELLIPSIS.length)) + ELLIPSIS;
}

/** {@link truncate} for escaped mrkdwn: never leaves half of an `&amp;`-style entity behind. */
export function truncateMrkdwn(value: string, max: number): string {
  if (value.length <= max) return value;
  if (max <= ELLIPSIS.length) return ELLIPSIS.slice(0, Math.max(max, 0));
  return value.slice(0, mrkdwnCutIndex(value, max - ELLIPSIS.length)) + ELLIPSIS;
}

/**
 * Where to cut escaped mrkdwn so that the part before holds at most `max` code units: never inside
 * a grapheme (an emoji, a ZWJ sequence, a letter and its combining marks), nor inside an
 * `&amp;`-style entity (escaped text has `&` only in entities).
 */
export function mrkdwnCutIndex(value: string, max: number): number {
  if (max >= value.length) return value.length;
  const end = clusterStart(value, Math.max(max, 0));
  const entityStart = value.lastIndexOf('&', end - 1);
  return entityStart !== -1 && !value.slice(entityStart, end).includes(';') ? entityStart : end;
}

const GRAPHEMES = new Intl.Segmenter('en', { granularity: 'grapheme' });
// Graphemes are looked for this far back from a cut; a longer one (a letter under dozens of
// combining marks) is cut inside it, still between two code points.
const GRAPHEME_WINDOW = 32;

/** Where the grapheme holding the code unit at `index` starts: `index` itself when one starts there. */
function clusterStart(value: string, index: number): number {
  if (index <= 0 || index >= value.length) return index;
  // Below U+0300 no character joins the one before it (combining marks, ZWJ and the like come
  // later), so a grapheme starts here unless it is the LF of a CRLF.
  const [before, at] = [value.charCodeAt(index - 1), value.charCodeAt(index)];
  if (before < 0x300 && at < 0x300 && !(before === 0x0d && at === 0x0a)) return index;
  const from = Math.max(0, index - GRAPHEME_WINDOW);
  // The whole character at index (both halves of a surrogate pair) tells whether it joins the one before.
  const start = from + (GRAPHEMES.segment(value.slice(from, index + 2)).containing(index - from)?.index ?? index - from);
  if (start > from || from === 0) return start;
  return isLowSurrogate(value.charCodeAt(index)) ? index - 1 : index;
}

function isLowSurrogate(charCode: number): boolean {
  return charCode >= 0xdc00 && charCode <= 0xdfff;
}
