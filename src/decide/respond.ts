/**
 * Replies through an interaction's `response_url`, from whichever process handles it: the one that
 * acknowledged it, or another that picked it up from the inbox. Slack honours a response_url 5 times
 * within 30 minutes of the interaction
 * (https://api.slack.com/interactivity/handling#message_responses).
 */

// A reply is never worth holding a click's processing for longer than a Slack API call.
const RESPOND_TIMEOUT_MS = 10_000;

/** A message for a response_url: Slack's message payload (`text`, `blocks`, `response_type`, `replace_original`…). */
export interface ResponseMessage {
  text: string;
  response_type?: 'ephemeral' | 'in_channel';
  replace_original?: boolean;
  blocks?: unknown[];
  [field: string]: unknown;
}

/** Sends one message to the interaction's response_url. */
export type Respond = (message: ResponseMessage) => Promise<void>;

/**
 * A Respond for this response_url: a JSON POST, as Bolt's `respond()` sends it.
 * @throws when Slack does not answer with a 2xx within 10 s (an expired or used-up URL, say).
 */
export function createResponder(responseUrl: string): Respond {
  return async (message) => {
    const response = await fetch(responseUrl, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify(message),
      signal: AbortSignal.timeout(RESPOND_TIMEOUT_MS),
    });
    // fetch resolves whatever the status: a refused reply must reach the caller as a failure.
    if (!response.ok) throw new Error(`the response_url answered HTTP ${response.status}`);
  };
}
