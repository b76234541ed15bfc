import type { ContextBlock, HeaderBlock, MrkdwnElement, PlainTextElement, SectionBlock } from '@slack/types';
import { truncate, truncateMrkdwn } from './mrkdwn.js';

/**
 * Block Kit builders that keep within Slack's limits for one block
 * (https://docs.slack.dev/reference/block-kit/blocks): whatever text they are given is cut to fit.
 */

export const HEADER_MAX = 150;
export const SECTION_TEXT_MAX = 3000;
export const FIELD_MAX = 2000;
/** A confirm dialog's text (https://docs.slack.dev/reference/block-kit/composition-objects/confirmation-dialog-object). */
export const CONFIRM_TEXT_MAX = 300;

export function mrkdwn(text: string): MrkdwnElement {
  // verbatim: Slack must not auto-link names or parse mentions in requester-supplied text.
  return { type: 'mrkdwn', text, verbatim: true };
}

/**
 * Plain text; `emoji: false` where it holds untrusted text, so that a `:name:` in it stays text.
 * Slack's plain_text allows no formatting.
 */
export function plainText(text: string, emoji: boolean): PlainTextElement {
  return { type: 'plain_text', text, emoji };
}

/** The bot's own headline (never requester text): emoji codes in it show as emoji. */
export function header(text: string): HeaderBlock {
  return { type: 'header', text: plainText(truncate(text, HEADER_MAX), true) };
}

export function section(text: string): SectionBlock {
  return { type: 'section', text: mrkdwn(truncateMrkdwn(text, SECTION_TEXT_MAX)) };
}

/** A labelled field of a section: the label bold on its own line, the value (mrkdwn) below. */
export function field(label: string, value: string): MrkdwnElement {
  return mrkdwn(truncateMrkdwn(`*${label}*\n${value}`, FIELD_MAX));
}

export function context(text: string): ContextBlock {
  return { type: 'context', elements: [mrkdwn(truncateMrkdwn(text, SECTION_TEXT_MAX))] };
}

/**
 * As many of `parts` as fit in `max` characters, joined by `separator`, then what `more` says of
 * those left out (e.g. "_and 3 more_"), so nothing is dropped silently. The first part is always
 * shown; cut it beforehand if it may be longer than `max`.
 */
export function joinWithin(parts: readonly string[], separator: string, max: number, more: (left: number) => string): string {
  const lengthOf = (count: number, partsLength: number) =>
    partsLength + separator.length * (count - 1) + (count < parts.length ? separator.length + more(parts.length - count).length : 0);
  const whole = parts.join(separator);
  if (whole.length <= max) return whole;
  let shown = 1;
  let partsLength = parts[0]?.length ?? 0;
  while (shown < parts.length && lengthOf(shown + 1, partsLength + parts[shown]!.length) <= max) partsLength += parts[shown++]!.length;
  return [...parts.slice(0, shown), ...(shown < parts.length ? [more(parts.length - shown)] : [])].join(separator);
}
