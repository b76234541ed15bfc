/**
 * The emulator's Block Kit checker: the rules Slack enforces on message and modal blocks, from
 * Slack's Block Kit reference. Kept apart from the bot's renderer on purpose, so that a wrong
 * limit in one is caught by the other. Errors are phrased as Slack phrases them.
 */

type Json = Record<string, unknown>;

export const SURFACE_MAX_BLOCKS = { message: 50, modal: 100 } as const;

/**
 * The text a message's blocks may hold in all: Slack answers `msg_blocks_too_long` past it, even
 * when every block is within its own limit. Slack documents no such total for the blocks the bot
 * sends (only the markdown block's "12,000 characters max"); a Slack engineer speaks of "12,000 text
 * characters with a buffer for block containers", and users were refused at 13,297 characters of
 * markdown blocks, 13,172 with a divider added (https://github.com/slackapi/bolt-js/issues/2509),
 * and at 11,341 characters of `.text` in rich_text, section and header blocks
 * (https://github.com/slackapi/bolt-js/issues/2867). The emulator refuses past 12,000 characters of
 * text objects' text, counted as {@link checkText} counts (UTF-16 code units).
 */
export const MESSAGE_TEXT_MAX = 12_000;

const TEXT_MAX = 3000;
const BLOCK_ID_MAX = 255;
const ACTION_ID_MAX = 255;

/**
 * Problems with a modal view as views.open checks it (https://docs.slack.dev/reference/views/modal-views):
 * a title, submit and close of at most 24 characters, private_metadata of at most 3,000, and its blocks.
 */
export function checkModal(view: Record<string, unknown>): string[] {
  return [
    ...checkText(view.title, '/view/title', { max: 24, plainOnly: true }),
    ...(view.submit === undefined ? [] : checkText(view.submit, '/view/submit', { max: 24, plainOnly: true })),
    ...(view.close === undefined ? [] : checkText(view.close, '/view/close', { max: 24, plainOnly: true })),
    ...(typeof view.private_metadata === 'string' && view.private_metadata.length > 3000 ? ['must be at most 3000 characters [json-pointer:/view/private_metadata]'] : []),
    ...checkBlocks(view.blocks, 'modal'),
  ];
}

/** Problems with a blocks array, each ending with `[json-pointer:/blocks/…]`; empty when valid. */
export function checkBlocks(blocks: unknown, surface: keyof typeof SURFACE_MAX_BLOCKS = 'message'): string[] {
  const problems: string[] = [];
  if (!Array.isArray(blocks)) return ['must be an array [json-pointer:/blocks]'];
  const max = SURFACE_MAX_BLOCKS[surface];
  if (blocks.length > max) problems.push(`must contain at most ${max} items [json-pointer:/blocks]`);
  const blockIds = new Set<string>();
  blocks.forEach((block, index) => {
    const at = `/blocks/${index}`;
    if (!isObject(block)) return void problems.push(`must be an object [json-pointer:${at}]`);
    if (block.block_id !== undefined) {
      if (!isString(block.block_id) || block.block_id.length > BLOCK_ID_MAX) problems.push(`must be a string of at most ${BLOCK_ID_MAX} characters [json-pointer:${at}/block_id]`);
      else if (blockIds.has(block.block_id)) problems.push(`duplicate block_id [json-pointer:${at}/block_id]`);
      else blockIds.add(block.block_id);
    }
    problems.push(...checkBlock(block, at, surface));
  });
  return problems;
}

function checkBlock(block: Json, at: string, surface: string): string[] {
  switch (block.type) {
    case 'header':
      return checkText(block.text, `${at}/text`, { max: 150, plainOnly: true });
    case 'section':
      return checkSection(block, at);
    case 'context':
      return checkContext(block, at);
    case 'divider':
      return [];
    case 'actions':
      return checkActions(block, at);
    case 'input':
      return surface === 'modal' ? checkInput(block, at) : [`unsupported type: input [json-pointer:${at}/type]`];
    default:
      return [`unsupported type: ${String(block.type)} [json-pointer:${at}/type]`];
  }
}

function checkSection(block: Json, at: string): string[] {
  if (block.text === undefined && block.fields === undefined) return [`must define either \`text\` or \`fields\` [json-pointer:${at}/type]`];
  const problems: string[] = [];
  if (block.text !== undefined) problems.push(...checkText(block.text, `${at}/text`, { max: TEXT_MAX }));
  if (block.fields !== undefined) {
    if (!Array.isArray(block.fields) || block.fields.length === 0 || block.fields.length > 10) {
      problems.push(`must contain 1 to 10 items [json-pointer:${at}/fields]`);
    } else {
      block.fields.forEach((field, i) => problems.push(...checkText(field, `${at}/fields/${i}`, { max: 2000 })));
    }
  }
  if (block.accessory !== undefined) problems.push(...checkElement(block.accessory, `${at}/accessory`));
  return problems;
}

function checkContext(block: Json, at: string): string[] {
  if (!Array.isArray(block.elements) || block.elements.length === 0 || block.elements.length > 10) {
    return [`must contain 1 to 10 items [json-pointer:${at}/elements]`];
  }
  return block.elements.flatMap((element, i) =>
    isObject(element) && element.type === 'image' ? [] : checkText(element, `${at}/elements/${i}`, { max: TEXT_MAX }),
  );
}

function checkActions(block: Json, at: string): string[] {
  if (!Array.isArray(block.elements) || block.elements.length === 0 || block.elements.length > 25) {
    return [`must contain 1 to 25 items [json-pointer:${at}/elements]`];
  }
  const actionIds = new Set<string>();
  return block.elements.flatMap((element, i) => {
    const problems = checkElement(element, `${at}/elements/${i}`);
    if (isObject(element) && isString(element.action_id)) {
      if (actionIds.has(element.action_id)) problems.push(`duplicate action_id [json-pointer:${at}/elements/${i}/action_id]`);
      actionIds.add(element.action_id);
    }
    return problems;
  });
}

function checkInput(block: Json, at: string): string[] {
  const problems = checkText(block.label, `${at}/label`, { max: 2000, plainOnly: true });
  if (!isObject(block.element)) problems.push(`must provide an element [json-pointer:${at}/element]`);
  else if (block.element.type === 'plain_text_input') {
    const maxLength = block.element.max_length;
    if (maxLength !== undefined && (typeof maxLength !== 'number' || maxLength < 1 || maxLength > 3000)) {
      problems.push(`must be between 1 and 3000 [json-pointer:${at}/element/max_length]`);
    }
    problems.push(...checkActionId(block.element, `${at}/element`));
  }
  return problems;
}

function checkElement(element: unknown, at: string): string[] {
  if (!isObject(element)) return [`must be an object [json-pointer:${at}]`];
  switch (element.type) {
    case 'button':
      return checkButton(element, at);
    case 'overflow':
      return checkOverflow(element, at);
    case 'image':
      return [];
    default:
      return [`unsupported element type: ${String(element.type)} [json-pointer:${at}/type]`];
  }
}

function checkButton(button: Json, at: string): string[] {
  const problems = [...checkText(button.text, `${at}/text`, { max: 75, plainOnly: true }), ...checkActionId(button, at)];
  if (button.value !== undefined && (!isString(button.value) || button.value.length > 2000)) {
    problems.push(`must be at most 2000 characters [json-pointer:${at}/value]`);
  }
  if (button.url !== undefined && (!isString(button.url) || button.url.length > 3000)) problems.push(`must be at most 3000 characters [json-pointer:${at}/url]`);
  if (button.style !== undefined && button.style !== 'primary' && button.style !== 'danger') {
    problems.push(`must be one of primary, danger [json-pointer:${at}/style]`);
  }
  if (button.confirm !== undefined) problems.push(...checkConfirm(button.confirm, `${at}/confirm`));
  return problems;
}

function checkOverflow(overflow: Json, at: string): string[] {
  const problems = checkActionId(overflow, at);
  if (!Array.isArray(overflow.options) || overflow.options.length < 1 || overflow.options.length > 5) {
    return [...problems, `must contain 1 to 5 items [json-pointer:${at}/options]`];
  }
  overflow.options.forEach((option, i) => {
    const here = `${at}/options/${i}`;
    if (!isObject(option)) return void problems.push(`must be an object [json-pointer:${here}]`);
    problems.push(...checkText(option.text, `${here}/text`, { max: 75, plainOnly: true }));
    if (!isString(option.value) || option.value.length > 150) problems.push(`must be a string of at most 150 characters [json-pointer:${here}/value]`);
  });
  return problems;
}

function checkConfirm(confirm: unknown, at: string): string[] {
  if (!isObject(confirm)) return [`must be an object [json-pointer:${at}]`];
  return [
    ...checkText(confirm.title, `${at}/title`, { max: 100, plainOnly: true }),
    ...checkText(confirm.text, `${at}/text`, { max: 300 }),
    ...checkText(confirm.confirm, `${at}/confirm`, { max: 30, plainOnly: true }),
    ...checkText(confirm.deny, `${at}/deny`, { max: 30, plainOnly: true }),
  ];
}

function checkActionId(element: Json, at: string): string[] {
  if (element.action_id === undefined) return [];
  return isString(element.action_id) && element.action_id.length <= ACTION_ID_MAX
    ? []
    : [`must be a string of at most ${ACTION_ID_MAX} characters [json-pointer:${at}/action_id]`];
}

/**
 * The characters of text in a message's blocks, as the whole-message limit counts them: the `text`
 * of every text object (plain_text or mrkdwn) at any depth, headers, fields, context elements,
 * buttons, their confirm dialogs and option texts included.
 */
export function blocksTextLength(value: unknown): number {
  if (Array.isArray(value)) return value.reduce((sum: number, item) => sum + blocksTextLength(item), 0);
  if (!isObject(value)) return 0;
  if ((value.type === 'plain_text' || value.type === 'mrkdwn') && isString(value.text)) return value.text.length;
  return Object.values(value).reduce((sum: number, item) => sum + blocksTextLength(item), 0);
}

/** A text object: plain_text or mrkdwn, 1 to `max` characters. */
export function checkText(value: unknown, at: string, rule: { max: number; plainOnly?: boolean }): string[] {
  if (!isObject(value)) return [`must be a text object [json-pointer:${at}]`];
  if (value.type !== 'plain_text' && (rule.plainOnly || value.type !== 'mrkdwn')) {
    return [`must be ${rule.plainOnly ? 'plain_text' : 'plain_text or mrkdwn'} [json-pointer:${at}/type]`];
  }
  if (!isString(value.text) || value.text.length < 1) return [`must be at least 1 character [json-pointer:${at}/text]`];
  if (value.text.length > rule.max) return [`must be less than ${rule.max + 1} characters [json-pointer:${at}/text]`];
  return [];
}

function isObject(value: unknown): value is Json {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

function isString(value: unknown): value is string {
  return typeof value === 'string';
}
