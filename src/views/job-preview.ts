import type { Button, KnownBlock, ModalView } from '@slack/types';
import type { Approval } from '../domain/approval.js';
import { normalizeHash } from '../domain/contract.js';
import { context, plainText, section, SECTION_TEXT_MAX } from './blocks.js';
import { MESSAGE_BUDGET } from './budget.js';
import { code, escapeMrkdwn, mrkdwnCutIndex } from './mrkdwn.js';

/**
 * The job as the approval kept it (its stored preview, see `renderJobPreview` in approval.ts), shown
 * as code: a few lines on the card, the whole preview in the "View job" modal. Inside a code block
 * Slack formats nothing, but `&`, `<` and `>` still make entities, mentions and links, so they are
 * escaped; a backtick would end the block, so it shows as a look-alike (ˋ).
 */

/** The card's "View job" button; its value is `<approval id>:<card id>`. */
export const ACTION_VIEW_JOB = 'approval_view_job';
/** The callback id of the "View job" modal (it has no submit: it decides nothing). */
export const JOB_MODAL = 'approval_job_modal';

/** The most lines of the job the card shows. */
export const CARD_JOB_LINES = 8;

/** A section of code: its text (characters) within Slack's limit with the fences around it. */
export const JOB_PART_MAX = SECTION_TEXT_MAX - 6;
/** The job is shown in at most this many sections: a modal holds 100 blocks, a reviewer reads far fewer. */
export const JOB_SECTIONS_MAX = 3;

/** The stored preview as the text of a code block: indented ({@link indentJobPreview}), escaped, backticks as ˋ. */
export function jobCodeText(preview: string): string {
  return escapeMrkdwn(indentJobPreview(preview).replace(/`/g, 'ˋ'));
}

// The note renderJobPreview ends a cut preview with (in approval.ts).
const CUT_NOTE = /\n… \d+ more characters \(the job hash covers all of them\)$/;
// Indentation stops deepening here (the contract refuses jobs nested deeper than 64 levels).
const MAX_INDENT_DEPTH = 64;
/**
 * The most characters of indented text made from a preview: more than any card or modal shows
 * (the budget of a message, MESSAGE_BUDGET), so the cut that shows it still says the rest was left out.
 */
const INDENTED_MAX = 4 * MESSAGE_BUDGET;

/**
 * A stored preview (compact JSON, possibly cut, see `renderJobPreview`) as JSON indented by two
 * spaces, as `JSON.stringify(job, null, 2)` would show it, with the cut's note kept on its own line.
 * Works on a cut (unfinished) JSON text and on any text, never throws, and makes at most
 * {@link INDENTED_MAX} characters. A preview stored already indented (by earlier versions) comes out the same.
 */
export function indentJobPreview(preview: string): string {
  const note = CUT_NOTE.exec(preview)?.[0] ?? '';
  const json = preview.slice(0, preview.length - note.length);
  const parts: string[] = [];
  let length = 0;
  const put = (text: string) => {
    parts.push(text);
    length += text.length;
  };
  let depth = 0;
  const newline = () => put(`\n${'  '.repeat(Math.min(depth, MAX_INDENT_DEPTH))}`);
  for (let i = 0; i < json.length && length < INDENTED_MAX; i += 1) {
    const c = json[i]!;
    if (c === '"') {
      const end = stringEnd(json, i);
      put(json.slice(i, end));
      i = end - 1;
    } else if (c === '{' || c === '[') {
      const next = skipSpace(json, i + 1);
      if (json[next] === (c === '{' ? '}' : ']')) {
        put(c + json[next]);
        i = next;
      } else {
        depth += 1;
        put(c);
        newline();
      }
    } else if (c === '}' || c === ']') {
      depth = Math.max(0, depth - 1);
      newline();
      put(c);
    } else if (c === ',') {
      put(c);
      newline();
    } else if (c === ':') put(': ');
    else if (!isSpace(c)) put(c);
  }
  return parts.join('').slice(0, INDENTED_MAX) + note;
}

function isSpace(c: string | undefined): boolean {
  return c === ' ' || c === '\n' || c === '\r' || c === '\t';
}

function skipSpace(text: string, from: number): number {
  let i = from;
  while (isSpace(text[i])) i += 1;
  return i;
}

/** Where the JSON string that opens at `start` ends (just past its closing quote, or the text's end). */
function stringEnd(text: string, start: number): number {
  for (let i = start + 1; i < text.length; i += 1) {
    if (text[i] === '\\') i += 1;
    else if (text[i] === '"') return i + 1;
  }
  return text.length;
}

/**
 * The first lines of an escaped preview ({@link jobCodeText}): at most {@link CARD_JOB_LINES} lines
 * and `max` characters, cut at a line end (inside the first line only when it alone is longer),
 * never inside an entity or a character. `more` says whether anything was left out.
 */
export function jobExcerpt(text: string, max: number): { shown: string; more: boolean } {
  let end = 0;
  for (let lines = 0; lines < CARD_JOB_LINES && end < text.length; lines += 1) {
    const next = text.indexOf('\n', end);
    end = next === -1 ? text.length : next + 1;
  }
  let shown = text.slice(0, end).replace(/\n$/, '');
  if (shown.length > max) {
    const lineEnd = shown.lastIndexOf('\n', max);
    shown = lineEnd > 0 ? shown.slice(0, lineEnd) : shown.slice(0, mrkdwnCutIndex(shown, max));
  }
  return { shown, more: shown.length < text.length };
}

/** The card's job section: the excerpt as code, what was left out, and the "View job" button. */
export function renderJobSection(approval: Pick<Approval, 'id' | 'cardId'>, excerpt: { shown: string; more: boolean }): KnownBlock {
  const button: Button = { type: 'button', text: plainText('View job', false), action_id: ACTION_VIEW_JOB, value: `${approval.id}:${approval.cardId}` };
  const more = excerpt.more ? '\n_… the rest under View job; the job hash covers all of it._' : '';
  return { type: 'section', text: { type: 'mrkdwn', text: `*Job*\n\`\`\`${excerpt.shown}\`\`\`${more}`, verbatim: true }, accessory: button };
}

/** What a "View job" button names; undefined for a value this bot did not render. */
export function parseViewJobValue(value: string | undefined): { approvalId: string; cardId: string } | undefined {
  const match = /^(ap[0-9a-f]{32}):([0-9a-f]{16})$/.exec(value ?? '');
  return match ? { approvalId: match[1]!, cardId: match[2]! } : undefined;
}

/**
 * The job in code sections, at most `max` characters of escaped text in all, with a line saying
 * when some was left out, or a line saying the approval keeps no job.
 */
export function renderJobSections(preview: string | undefined, max: number): KnownBlock[] {
  if (!preview) return [section('_This approval keeps no copy of the job to show; its hash binds it._')];
  const whole = jobCodeText(preview);
  const parts = chunk(whole.slice(0, mrkdwnCutIndex(whole, max)), JOB_PART_MAX).slice(0, JOB_SECTIONS_MAX);
  const shown = parts.reduce((sum, part) => sum + part.length, 0);
  return [
    ...parts.map((part) => section(`\`\`\`${part}\`\`\``)),
    ...(shown < whole.length ? [section('_… the rest is not shown here; the job hash covers the whole job._')] : []),
  ];
}

// What the job modal holds besides the job (names and hash, cut to 200 each), with room to spare.
const JOB_MODAL_OTHER = 1500;

/**
 * The "View job" modal: the run and step, the job hash the job was checked against (in full), and
 * the whole stored preview. It has no submit button: it decides nothing.
 */
export function renderJobModal(approval: Approval): ModalView {
  const r = approval.request;
  return {
    type: 'modal',
    callback_id: JOB_MODAL,
    title: plainText('Job', false),
    close: plainText('Close', false),
    blocks: [
      context(`Run ${code(r.run_id, 200)} · Step ${code(r.step_id, 200)}`),
      section(`*Job hash* (checked against the job when the request came; approving binds exactly this job)\n${code(normalizeHash(r.job_hash))}`),
      ...renderJobSections(approval.jobPreview, MESSAGE_BUDGET - JOB_MODAL_OTHER - JOB_SECTIONS_MAX * 125),
    ],
  };
}

/** Cuts escaped mrkdwn into parts of at most `max` characters, never inside an entity or a grapheme. */
function chunk(text: string, max: number): string[] {
  const parts: string[] = [];
  let rest = text;
  while (rest.length > max) {
    const cut = mrkdwnCutIndex(rest, max);
    parts.push(rest.slice(0, cut));
    rest = rest.slice(cut);
  }
  return rest ? [...parts, rest] : parts;
}
