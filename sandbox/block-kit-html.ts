import { escapeHtml, mrkdwnToHtml, plainTextToHtml, type DisplayContext } from './mrkdwn-html.js';

/**
 * Block Kit as the sandbox page shows it: the blocks the bot sends (header, section with fields and
 * an accessory, context, divider, actions with buttons and overflow menus, and the input blocks of
 * modals) as HTML. Interactive elements carry their action id, block id and value in data
 * attributes, which the page sends back as a click. Unknown blocks show as a labelled placeholder,
 * so nothing the bot sends disappears silently.
 */

type Json = Record<string, unknown>;

export function blocksToHtml(blocks: unknown[], context: DisplayContext): string {
  return blocks.map((block) => blockToHtml(isObject(block) ? block : {}, context)).join('');
}

function blockToHtml(block: Json, context: DisplayContext): string {
  const blockId = typeof block.block_id === 'string' ? block.block_id : '';
  switch (block.type) {
    case 'header':
      return `<div class="bk-header">${textToHtml(block.text, context)}</div>`;
    case 'section': {
      const text = block.text === undefined ? '' : `<div class="bk-text">${textToHtml(block.text, context)}</div>`;
      const fields = Array.isArray(block.fields) ? `<div class="bk-fields">${block.fields.map((f) => `<div class="bk-field">${textToHtml(f, context)}</div>`).join('')}</div>` : '';
      const accessory = isObject(block.accessory) ? `<div class="bk-accessory">${elementToHtml(block.accessory, blockId, context)}</div>` : '';
      return `<div class="bk-section"><div class="bk-section-body">${text}${fields}</div>${accessory}</div>`;
    }
    case 'context':
      return `<div class="bk-context">${(Array.isArray(block.elements) ? block.elements : []).map((e) => contextElementToHtml(e, context)).join('')}</div>`;
    case 'divider':
      return '<hr class="bk-divider">';
    case 'actions':
      return `<div class="bk-actions">${(Array.isArray(block.elements) ? block.elements : []).map((e) => elementToHtml(isObject(e) ? e : {}, blockId, context)).join('')}</div>`;
    case 'input':
      return inputToHtml(block, blockId, context);
    default:
      return `<div class="bk-unknown">[${escapeHtml(String(block.type))} block]</div>`;
  }
}

function textToHtml(text: unknown, context: DisplayContext): string {
  if (!isObject(text) || typeof text.text !== 'string') return '';
  return text.type === 'mrkdwn' ? mrkdwnToHtml(text.text, context) : plainTextToHtml(text.text, text.emoji !== false);
}

function contextElementToHtml(element: unknown, context: DisplayContext): string {
  if (!isObject(element)) return '';
  if (element.type === 'image') return `<img class="bk-context-image" alt="${escapeHtml(String(element.alt_text ?? ''))}" src="${escapeHtml(safeImageUrl(element.image_url))}">`;
  return `<span class="bk-context-text">${textToHtml(element, context)}</span>`;
}

function elementToHtml(element: Json, blockId: string, context: DisplayContext): string {
  const actionId = escapeHtml(String(element.action_id ?? ''));
  const common = `data-action-id="${actionId}" data-block-id="${escapeHtml(blockId)}"`;
  if (element.type === 'button') {
    const style = element.style === 'primary' || element.style === 'danger' ? ` bk-button-${element.style}` : '';
    const value = typeof element.value === 'string' ? ` data-value="${escapeHtml(element.value)}"` : '';
    const confirm = isObject(element.confirm) ? ` data-confirm="${escapeHtml(JSON.stringify(confirmHtml(element.confirm, context)))}"` : '';
    return `<button type="button" class="bk-button${style}" data-kind="button" ${common}${value}${confirm}>${textToHtml(element.text, context)}</button>`;
  }
  if (element.type === 'overflow') {
    const options = (Array.isArray(element.options) ? element.options : []).filter(isObject);
    const items = options.map((o) => `<option value="${escapeHtml(String(o.value ?? ''))}">${escapeHtml(isObject(o.text) ? String(o.text.text ?? '') : '')}</option>`);
    return `<select class="bk-overflow" data-kind="overflow" aria-label="More actions" ${common}><option value="" selected>⋯</option>${items.join('')}</select>`;
  }
  return `<span class="bk-unknown">[${escapeHtml(String(element.type))}]</span>`;
}

function inputToHtml(block: Json, blockId: string, context: DisplayContext): string {
  const element = isObject(block.element) ? block.element : {};
  const name = `${blockId}/${String(element.action_id ?? '')}`;
  const optional = block.optional === true ? ' <span class="bk-optional">(optional)</span>' : '';
  const attributes = [
    `name="${escapeHtml(name)}"`,
    typeof element.max_length === 'number' ? `maxlength="${element.max_length}"` : '',
    typeof element.min_length === 'number' ? `minlength="${element.min_length}"` : '',
    block.optional === true ? '' : 'required',
    isObject(element.placeholder) ? `placeholder="${escapeHtml(String(element.placeholder.text ?? ''))}"` : '',
  ].filter(Boolean).join(' ');
  const initial = escapeHtml(typeof element.initial_value === 'string' ? element.initial_value : '');
  const field = element.multiline === true ? `<textarea ${attributes} rows="4">${initial}</textarea>` : `<input type="text" ${attributes} value="${initial}">`;
  const hint = block.hint === undefined ? '' : `<div class="bk-hint">${textToHtml(block.hint, context)}</div>`;
  return `<label class="bk-input" data-block-id="${escapeHtml(blockId)}"><span class="bk-label">${textToHtml(block.label, context)}${optional}</span>${field}${hint}<span class="bk-error" data-error-for="${escapeHtml(blockId)}"></span></label>`;
}

/** A confirm object's texts as HTML, for the page's confirm dialog; Slack's defaults where one is missing. */
function confirmHtml(confirm: Json, context: DisplayContext): { title: string; text: string; confirm: string; deny: string } {
  const html = (value: unknown, fallback: string) => (isObject(value) ? textToHtml(value, context) : escapeHtml(fallback));
  return { title: html(confirm.title, 'Are you sure?'), text: html(confirm.text, ''), confirm: html(confirm.confirm, 'Yes'), deny: html(confirm.deny, 'Cancel') };
}

function safeImageUrl(url: unknown): string {
  return typeof url === 'string' && /^https?:\/\//.test(url) ? url : '';
}

function isObject(value: unknown): value is Json {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}
