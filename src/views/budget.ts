/**
 * How big a message is, as the gate counts it, and the budget every card, reply, modal and DM it
 * sends keeps within, with what to cut first when one would not fit.
 *
 * Slack refuses a message whose blocks hold too much text in all (`msg_blocks_too_long`), even when
 * every block is within its own limit, and does not document the limit for the blocks the gate
 * sends. A Slack engineer speaks of "12,000 text characters with a buffer for block containers";
 * users were refused at 13,297 characters of markdown blocks, and at 13,172 once a divider was added
 * (so a block costs about 125 of its own): https://github.com/slackapi/bolt-js/issues/2509; another
 * at 11,341 characters of `.text` in rich_text, section and header blocks:
 * https://github.com/slackapi/bolt-js/issues/2867. So the gate counts what is sent, after escaping
 * (`&` is five characters then), in UTF-16 code units (never fewer than Slack's characters), plus
 * {@link BLOCK_COST} per block, and keeps every message within {@link MESSAGE_BUDGET}: below the
 * lowest refusal reported, with a margin for what Slack may count that we do not.
 */

/** What a block costs besides its text (characters): the divider in bolt-js#2509 cost 125. */
export const BLOCK_COST = 125;

/** The most a message's blocks may measure ({@link measureBlocks}), in characters. Modals keep within it too (Slack documents no total for views; this is the safe side). */
export const MESSAGE_BUDGET = 11_000;

/**
 * The most text a message without blocks may hold (a DM, a thread reply, an ephemeral reply), in
 * characters after escaping: one section's worth. chat.update refuses text over 4,000 characters
 * (`msg_too_long`: https://docs.slack.dev/reference/methods/chat.update) and chat.postMessage cuts
 * it at 40,000 (https://api.slack.com/changelog/2018-04-truncating-really-long-messages).
 */
export const TEXT_ONLY_MAX = 3000;

/** The most a message's notification text (`text` beside blocks) holds, in characters: a notification shows far less. */
export const FALLBACK_TEXT_MAX = 500;

/**
 * The size of a message's blocks as the gate budgets it: the `text` of every text object in them at
 * any depth (section text and fields, headers, context, buttons and their confirm dialogs, option
 * and input labels), in UTF-16 code units, plus {@link BLOCK_COST} per block.
 */
export function measureBlocks(blocks: readonly unknown[]): number {
  return blocks.length * BLOCK_COST + textLength(blocks);
}

function textLength(value: unknown): number {
  if (Array.isArray(value)) return value.reduce((sum: number, item) => sum + textLength(item), 0);
  if (typeof value !== 'object' || value === null) return 0;
  const object = value as Record<string, unknown>;
  if ((object.type === 'mrkdwn' || object.type === 'plain_text') && typeof object.text === 'string') return object.text.length;
  return Object.values(object).reduce((sum: number, item) => sum + textLength(item), 0);
}

/** A cut a renderer may make to fit the budget: lower one of its limits, at most down to `floor`. */
export interface Cut<Limits> {
  limit: keyof Limits;
  floor: number;
}

/**
 * Renders with `limits`; while the rendering measures over `budget`, makes the cuts in order (the
 * least needed to decide first), each lowering its limit only as far as the budget needs (a binary
 * search over renderings), or down to its floor before the next cut. Returns the first rendering
 * within the budget, or the one with every cut made: a renderer's floors keep that within the
 * budget for any request the contract accepts (the property tests check it).
 */
export function fitToBudget<Limits extends { [K in keyof Limits]: number }, Rendered>(
  render: (limits: Limits) => Rendered,
  measure: (rendered: Rendered) => number,
  limits: Limits,
  cuts: readonly Cut<Limits>[],
  budget: number = MESSAGE_BUDGET,
): Rendered {
  let current = limits;
  let rendered = render(current);
  for (const { limit, floor } of cuts) {
    if (measure(rendered) <= budget) return rendered;
    if (current[limit] <= floor) continue;
    const withLimit = (value: number): Limits => ({ ...current, [limit]: value });
    const lowest = render(withLimit(floor));
    if (measure(lowest) > budget) {
      current = withLimit(floor);
      rendered = lowest;
      continue;
    }
    // The most that fits lies in [floor, current): floor fits, current does not.
    let fits = floor;
    let fitting = lowest;
    let over: number = current[limit];
    while (over - fits > 1) {
      const middle = Math.floor((fits + over) / 2);
      const candidate = render(withLimit(middle));
      if (measure(candidate) <= budget) {
        fits = middle;
        fitting = candidate;
      } else {
        over = middle;
      }
    }
    return fitting;
  }
  return rendered;
}
