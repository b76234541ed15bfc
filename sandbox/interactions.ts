import { createHmac } from 'node:crypto';

/**
 * Requests from Slack to an app, as Slack sends them: form-encoded `payload=<json>` bodies signed
 * with the app's signing secret (https://docs.slack.dev/authentication/verifying-requests-from-slack).
 */

export interface SlackUser {
  id: string;
  username: string;
  team_id: string;
  /** What users.info tells about the account (Slack's field names). */
  real_name?: string;
  is_restricted?: boolean;
  is_ultra_restricted?: boolean;
  is_bot?: boolean;
  is_app_user?: boolean;
  deleted?: boolean;
  /** Given by users.info only to an app with the `users:read.email` scope (see SlackEmulator.emailScope). */
  email?: string;
}

/** `x-slack-request-timestamp` and `x-slack-signature` for a body: v0 HMAC-SHA256 of `v0:<ts>:<body>`. */
export function signSlackRequest(signingSecret: string, body: string, timestampSec: number): Record<string, string> {
  const signature = createHmac('sha256', signingSecret).update(`v0:${timestampSec}:${body}`).digest('hex');
  return { 'x-slack-request-timestamp': String(timestampSec), 'x-slack-signature': `v0=${signature}` };
}

export interface ButtonClick {
  user: SlackUser;
  teamDomain: string;
  apiAppId: string;
  channel: { id: string; name: string };
  /** The message as Slack would include it: the clicked card; an ephemeral message has only a ts. */
  message: { ts: string; text: string; blocks: unknown[]; bot_id?: string; app_id?: string; user: string; thread_ts?: string } | { ts: string; ephemeral: true };
  button: { action_id: string; block_id: string; value?: string; text: string; style?: string; options?: unknown[] };
  responseUrl: string;
  triggerId: string;
}

/** A `block_actions` payload for a button on a message, shaped as Slack's reference documents it. */
export function blockActionsPayload(click: ButtonClick): Record<string, unknown> {
  const actionTs = (Date.now() / 1000).toFixed(6);
  return {
    type: 'block_actions',
    user: { id: click.user.id, username: click.user.username, name: click.user.username, team_id: click.user.team_id },
    api_app_id: click.apiAppId,
    token: 'deprecated-verification-token',
    container: {
      type: 'message',
      message_ts: click.message.ts,
      channel_id: click.channel.id,
      is_ephemeral: 'ephemeral' in click.message,
      ...('thread_ts' in click.message && click.message.thread_ts ? { thread_ts: click.message.thread_ts } : {}),
    },
    trigger_id: click.triggerId,
    team: { id: click.user.team_id, domain: click.teamDomain },
    enterprise: null,
    is_enterprise_install: false,
    channel: click.channel,
    // Slack does not include an ephemeral message in the payload.
    ...('ephemeral' in click.message ? {} : { message: { type: 'message', subtype: 'bot_message', ...click.message } }),
    state: { values: {} },
    response_url: click.responseUrl,
    actions: [
      {
        action_id: click.button.action_id,
        block_id: click.button.block_id,
        text: { type: 'plain_text', text: click.button.text, emoji: true },
        ...(click.button.value !== undefined ? { value: click.button.value } : {}),
        ...(click.button.style ? { style: click.button.style } : {}),
        ...(click.button.options ? { options: click.button.options } : {}),
        type: 'button',
        action_ts: actionTs,
      },
    ],
  };
}

export interface AppResponse {
  status: number;
  body: string;
  /** From sending the request to the app's answer. */
  elapsedMs: number;
  /** The HTTP request exactly as sent (absent over Socket Mode), to send its very bytes again. */
  sent?: SentRequest;
  /** The Socket Mode envelope's id (absent over HTTP), to deliver the same envelope again. */
  envelopeId?: string;
}

/** An HTTP request to the app, byte for byte: what a replay sends again. */
export interface SentRequest {
  url: string;
  headers: Record<string, string>;
  body: string;
}

/**
 * Sends an interaction payload to the app's request URL, signed as Slack signs it.
 * `sign: false` sends it unsigned; `timestampSec` and `signingSecret` can be set to forge or replay.
 */
export async function sendInteraction(
  url: string,
  payload: Record<string, unknown>,
  options: { signingSecret: string; timestampSec?: number; sign?: boolean },
): Promise<AppResponse> {
  const body = new URLSearchParams({ payload: JSON.stringify(payload) }).toString();
  return sendSigned(url, body, options);
}

/** Sends a raw form-encoded body (e.g. a replay of one already sent), signed unless told otherwise. */
export async function sendSigned(url: string, body: string, options: { signingSecret: string; timestampSec?: number; sign?: boolean }): Promise<AppResponse> {
  const timestampSec = options.timestampSec ?? Math.floor(Date.now() / 1000);
  const headers: Record<string, string> = {
    // Exactly this content type: Bolt parses form bodies only when it matches to the letter.
    'content-type': 'application/x-www-form-urlencoded',
    ...(options.sign === false ? {} : signSlackRequest(options.signingSecret, body, timestampSec)),
  };
  return sendRequest({ url, headers, body });
}

/** Sends a request exactly as given: a first delivery, or the same bytes again (to the same app or another replica). */
export async function sendRequest(request: SentRequest): Promise<AppResponse> {
  const started = performance.now();
  const response = await fetch(request.url, { method: 'POST', headers: request.headers, body: request.body });
  const text = await response.text();
  return { status: response.status, body: text, elapsedMs: performance.now() - started, sent: request };
}

/** The first element of this type and action id in a message's actions blocks, as a click payload names it. */
export function findActionElement(
  blocks: unknown[],
  actionId: string,
  type: 'button' | 'overflow' = 'button',
): { action_id: string; block_id: string; value?: string; text: string; style?: string; options?: unknown[] } | undefined {
  for (const block of blocks as { type?: string; block_id?: string; elements?: unknown[] }[]) {
    if (block.type !== 'actions') continue;
    for (const element of (block.elements ?? []) as { type?: string; action_id?: string; value?: string; text?: { text?: string }; style?: string; options?: unknown[] }[]) {
      if (element.type === type && element.action_id === actionId) {
        return { action_id: actionId, block_id: block.block_id ?? 'actions', value: element.value, text: element.text?.text ?? '', style: element.style, ...(element.options ? { options: element.options } : {}) };
      }
    }
  }
  return undefined;
}

/**
 * A slash command's text as Slack sends it when the command has "Escape channels, users, and links"
 * on (the manifest's `should_escape: true`): `#name` of a channel becomes `<#C…|name>` (`<#C…|>` for
 * a private one) and `@username` becomes `<@U…>`; anything else is left as typed.
 * https://api.slack.com/interactivity/slash-commands ("Escape channels, users, and links")
 */
export function escapeCommandText(
  text: string,
  channels: Iterable<{ id: string; name: string; isPrivate?: boolean }>,
  users: Iterable<{ id: string; username: string }>,
): string {
  const channelByName = new Map([...channels].map((c) => [c.name.toLowerCase(), c]));
  const userByName = new Map([...users].map((u) => [u.username.toLowerCase(), u]));
  return text.replace(/(^|\s)([#@])([\w.-]+)/g, (whole, before: string, sigil: string, name: string) => {
    if (sigil === '#') {
      const channel = channelByName.get(name.toLowerCase());
      return channel ? `${before}<#${channel.id}|${channel.isPrivate ? '' : channel.name}>` : whole;
    }
    const user = userByName.get(name.toLowerCase());
    return user ? `${before}<@${user.id}>` : whole;
  });
}

/** The fields Slack sends for a slash command (form-encoded over HTTP, as an object over Socket Mode). */
export function slashCommandFields(command: {
  command: string;
  text: string;
  user: SlackUser;
  teamId: string;
  channel: string;
  channelName: string;
  responseUrl: string;
  triggerId: string;
}): Record<string, string> {
  return {
    token: 'deprecated-verification-token',
    team_id: command.teamId,
    team_domain: 'sandbox',
    channel_id: command.channel,
    channel_name: command.channelName,
    user_id: command.user.id,
    user_name: command.user.username,
    command: command.command,
    text: command.text,
    api_app_id: 'A0APPROVALGATE',
    is_enterprise_install: 'false',
    response_url: command.responseUrl,
    trigger_id: command.triggerId,
  };
}
