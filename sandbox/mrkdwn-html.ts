/**
 * Slack text as the sandbox page shows it: mrkdwn and plain_text to HTML, the way Slack's clients
 * display them. Everything that is not markup Slack understands comes out escaped, so hostile text
 * on a card shows as text, never as HTML.
 */

/** What the page knows to show names for mentions, and the time zone dates are shown in. */
export interface DisplayContext {
  userName(id: string): string | undefined;
  channelName(id: string): string | undefined;
  groupName(id: string): string | undefined;
  /** IANA time zone for `<!date^…>`. @defaultValue the process's own */
  timeZone?: string;
  /** The channel a link points into, when it is a permalink of this workspace: the page opens it in place. */
  channelOfLink?(url: string): string | undefined;
}

// The emoji the bot's messages use, and a few common ones; others show as their :name:, as Slack does for unknown ones.
const EMOJI: Record<string, string> = {
  alarm_clock: '⏰', approval: '✅', arrows_counterclockwise: '🔄', ballot_box_with_check: '☑️', building_construction: '🏗️',
  card_file_box: '🗃️', globe_with_meridians: '🌐', grey_question: '❔', hourglass: '⌛', hourglass_flowing_sand: '⏳', information_source: 'ℹ️', key: '🔑',
  lock: '🔒', pencil2: '✏️', no_entry: '⛔', no_entry_sign: '🚫', red_circle: '🔴', rotating_light: '🚨', small_orange_diamond: '🔸', warning: '⚠️',
  wastebasket: '🗑️', white_check_mark: '✅', x: '❌', eyes: '👀', rocket: '🚀', tada: '🎉', fire: '🔥', thumbsup: '👍',
};

export function escapeHtml(text: string): string {
  return text.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;').replace(/"/g, '&quot;').replace(/'/g, '&#39;');
}

/** plain_text: no formatting, but `emoji: true` turns :names: into emoji. */
export function plainTextToHtml(text: string, emoji = true): string {
  const escaped = escapeHtml(text);
  return emoji ? replaceEmoji(escaped) : escaped;
}

/** mrkdwn to HTML: `<…>` tokens (mentions, links, dates), code, bold, italics, strikethrough, quotes, emoji. */
export function mrkdwnToHtml(text: string, context: DisplayContext): string {
  // Tokens and code spans are set aside first, so that nothing inside them is formatted.
  const setAside: string[] = [];
  const keep = (html: string) => `\u0000${setAside.push(html) - 1}\u0000`;
  let working = text
    .replace(/```([\s\S]*?)```/g, (_, code: string) => keep(`<pre>${escapeHtml(decodeSlackEntities(code))}</pre>`))
    .replace(/`([^`\n]+)`/g, (_, code: string) => keep(`<code>${escapeHtml(decodeSlackEntities(code))}</code>`))
    .replace(/<([^<>\n]*)>/g, (_, token: string) => keep(renderToken(token, context)));
  working = escapeHtml(decodeSlackEntities(working));
  working = formatSpans(working);
  working = replaceEmoji(working);
  working = quoteLines(working).replace(/\n/g, '<br>');
  // eslint-disable-next-line no-control-regex -- the markers set aside above
  return working.replace(/\u0000(\d+)\u0000/g, (_, index: string) => setAside[Number(index)]!);
}

/** Slack escapes `&`, `<` and `>` in text as entities; the page escapes them again for HTML. */
function decodeSlackEntities(text: string): string {
  return text.replace(/&lt;/g, '<').replace(/&gt;/g, '>').replace(/&amp;/g, '&');
}

function renderToken(token: string, context: DisplayContext): string {
  const [target = '', label] = splitOnce(token, '|');
  const mention = (text: string) => `<span class="mention">${escapeHtml(text)}</span>`;
  if (target.startsWith('@')) {
    const id = target.slice(1);
    return mention(`@${label ?? context.userName(id) ?? id}`);
  }
  if (target.startsWith('#')) {
    const id = target.slice(1);
    return mention(`#${label ?? context.channelName(id) ?? id}`);
  }
  if (target.startsWith('!subteam^')) {
    const id = target.slice('!subteam^'.length);
    return mention(`@${context.groupName(id) ?? label ?? id}`);
  }
  if (target.startsWith('!date^')) return renderDate(target, label, context.timeZone);
  if (target === '!here' || target === '!channel' || target === '!everyone') return mention(`@${target.slice(1)}`);
  if (/^(https?|mailto):/i.test(target)) {
    const url = decodeSlackEntities(target);
    const channel = context.channelOfLink?.(url);
    if (channel) return `<a href="#${escapeHtml(channel)}" data-channel="${escapeHtml(channel)}">${escapeHtml(decodeSlackEntities(label ?? target))}</a>`;
    const href = escapeHtml(url);
    return `<a href="${href}" target="_blank" rel="noopener noreferrer">${escapeHtml(decodeSlackEntities(label ?? target))}</a>`;
  }
  // Anything else Slack would show as its label, or as the raw text.
  return escapeHtml(decodeSlackEntities(label ?? `<${token}>`));
}

/** `<!date^1700000000^{date_short} at {time}|fallback>` in the reader's time zone, as Slack shows it. */
function renderDate(target: string, fallback: string | undefined, timeZone: string | undefined): string {
  const [, seconds = '', format = ''] = target.split('^');
  const date = new Date(Number(seconds) * 1000);
  if (!/^\d+$/.test(seconds) || Number.isNaN(date.getTime())) return escapeHtml(decodeSlackEntities(fallback ?? ''));
  const local = (options: Intl.DateTimeFormatOptions) => date.toLocaleString('en-US', { timeZone, ...options });
  const tokens: Record<string, () => string> = {
    date_num: () => local({ year: 'numeric', month: '2-digit', day: '2-digit' }),
    date: () => local({ year: 'numeric', month: 'long', day: 'numeric' }),
    date_short: () => local({ year: 'numeric', month: 'short', day: 'numeric' }),
    date_long: () => local({ weekday: 'long', year: 'numeric', month: 'long', day: 'numeric' }),
    date_pretty: () => local({ year: 'numeric', month: 'long', day: 'numeric' }),
    date_short_pretty: () => local({ year: 'numeric', month: 'short', day: 'numeric' }),
    date_long_pretty: () => local({ weekday: 'long', year: 'numeric', month: 'long', day: 'numeric' }),
    time: () => local({ hour: 'numeric', minute: '2-digit' }),
    time_secs: () => local({ hour: 'numeric', minute: '2-digit', second: '2-digit' }),
    ago: () => relative(date.getTime() - Date.now()),
  };
  const text = decodeSlackEntities(format).replace(/\{(\w+)\}/g, (whole, name: string) => tokens[name]?.() ?? whole);
  return `<time datetime="${date.toISOString()}" title="${escapeHtml(date.toISOString())}">${escapeHtml(text)}</time>`;
}

function relative(ms: number): string {
  const minutes = Math.round(ms / 60_000);
  const format = new Intl.RelativeTimeFormat('en-US', { numeric: 'auto' });
  if (Math.abs(minutes) < 60) return format.format(minutes, 'minute');
  const hours = Math.round(minutes / 60);
  return Math.abs(hours) < 48 ? format.format(hours, 'hour') : format.format(Math.round(hours / 24), 'day');
}

/** `*bold*`, `_italic_` and `~strike~`, each opening and closing at a word boundary, as Slack's are. */
function formatSpans(html: string): string {
  const span = (marker: string, tag: string) => {
    const m = marker === '*' ? '\\*' : marker;
    return [new RegExp(`(^|[\\s(>\\u0000])${m}([^\\s${m}](?:[^${m}\\n]*?[^\\s${m}])?)${m}(?=$|[\\s.,;:!?)<\\u0000])`, 'g'), `$1<${tag}>$2</${tag}>`] as const;
  };
  let out = html;
  for (const [pattern, replacement] of [span('*', 'b'), span('_', 'i'), span('~', 's')]) out = out.replace(pattern, replacement);
  return out;
}

function quoteLines(html: string): string {
  return html
    .split('\n')
    .map((line) => (line.startsWith('&gt; ') ? `<blockquote>${line.slice('&gt; '.length)}</blockquote>` : line))
    .join('\n')
    .replace(/<\/blockquote>\n<blockquote>/g, '<br>');
}

function replaceEmoji(html: string): string {
  return html.replace(/:([a-z0-9_+-]+):/g, (whole, name: string) => EMOJI[name] ?? whole);
}

function splitOnce(text: string, separator: string): [string, string | undefined] {
  const at = text.indexOf(separator);
  return at === -1 ? [text, undefined] : [text.slice(0, at), text.slice(at + 1)];
}
