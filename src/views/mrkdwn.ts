/**
 * Safe text for Slack: every request field is untrusted, so it is escaped before it reaches
 * mrkdwn and cut to the length Slack accepts without breaking an entity or a character.
 */

// Bidirectional controls can make text display in another order than it is stored, so a
// reviewer could read something other than what is approved: they are shown as U+FFFD.
const BIDI_CONTROLS = /[\u202A-\u202E\u2066-\u2069]/g;

/**
 * Untrusted text for `plain_text` objects. Angle brackets become look-alikes (‹ ›), so that no
 * client that does parse them can read a mention or a link there; bidi controls become U+FFFD.
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

/** Inline code for an untrusted value: escaped, and without backticks that would end the span. */
export function code(value: string): string {
  return `\`${escapeMrkdwn(value.replace(/`/g, 'ʹ')).replace(/\n/g, ' ')}\``;
}

const ELLIPSIS = '…';

/**
 * Cuts plain text to at most `max` UTF-16 code units (Slack's limits count characters; a code
 * unit count is never below it), ending with "…" when cut. Never splits a surrogate pair.
 */
export function truncate(value: string, max: number): string {
  if (value.length <= max) return value;
  if (max <= ELLIPSIS.length) return ELLIPSIS.slice(0, Math.max(max, 0));
  let end = max - ELLIPSIS.length;
  if (isHighSurrogate(value.charCodeAt(end - 1))) end -= 1;
  return value.slice(0, end) + ELLIPSIS;
}

/** {@link truncate} for escaped mrkdwn: never leaves half of an `&amp;`-style entity behind. */
export function truncateMrkdwn(value: string, max: number): string {
  if (value.length <= max) return value;
  if (max <= ELLIPSIS.length) return ELLIPSIS.slice(0, Math.max(max, 0));
  return value.slice(0, mrkdwnCutIndex(value, max - ELLIPSIS.length)) + ELLIPSIS;
}

/**
 * Where to cut escaped mrkdwn so that the part before holds at most `max` code units: never inside a
 * surrogate pair, nor inside an `&amp;`-style entity (escaped text has `&` only in entities).
 */
export function mrkdwnCutIndex(value: string, max: number): number {
  let end = Math.min(max, value.length);
  if (end < value.length && isHighSurrogate(value.charCodeAt(end - 1))) end -= 1;
  const entityStart = value.lastIndexOf('&', end - 1);
  if (entityStart !== -1 && end < value.length && !value.slice(entityStart, end).includes(';')) end = entityStart;
  return end;
}

function isHighSurrogate(charCode: number): boolean {
  return charCode >= 0xd800 && charCode <= 0xdbff;
}
