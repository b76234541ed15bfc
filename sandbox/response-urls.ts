import { randomBytes } from 'node:crypto';
import { PlatformError, type Workspace } from './workspace.js';

/**
 * The emulator's `response_url`s: one per interaction, as Slack gives one. A post with
 * `replace_original` / `delete_original` changes the original message; anything else is an
 * ephemeral message to the user who acted. Both are checked as messages are (blocks, whole-message
 * text); a refusal is HTTP 400 naming the error, as Slack's hooks answer (they send it as plain
 * text, e.g. `invalid_blocks`: https://github.com/sourcegraph/sourcegraph-public-snapshot/issues/49979;
 * the emulator sends it as `{ok: false, error}` JSON, and Bolt's respond() throws on either).
 */

/** What an app sent to a `response_url`: an ephemeral reply, or a change to the original message. */
export interface ResponseUrlPost {
  user: string;
  channel: string;
  messageTs: string;
  body: Record<string, unknown>;
}

export interface ResponseTarget {
  user: string;
  channel: string;
  messageTs: string;
}

export class ResponseUrls {
  readonly posts: ResponseUrlPost[] = [];
  private readonly targets = new Map<string, ResponseTarget>();

  constructor(
    private readonly workspace: Workspace,
    private readonly baseUrl: () => string,
  ) {}

  /** A new response_url for an interaction by `target.user`. */
  issue(target: ResponseTarget): string {
    const token = randomBytes(12).toString('hex');
    this.targets.set(token, target);
    return `${this.baseUrl()}/response/${token}`;
  }

  /** What the emulator answers a post to a response_url. */
  receive(token: string, raw: string): { status: number; body: Record<string, unknown> } {
    const target = this.targets.get(token);
    if (!target) return { status: 404, body: { ok: false, error: 'expired_url' } };
    let body: Record<string, unknown>;
    try {
      body = JSON.parse(raw) as Record<string, unknown>;
    } catch {
      return { status: 400, body: { ok: false, error: 'invalid_payload' } };
    }
    try {
      this.workspace.applyResponse(target.channel, target.messageTs, body);
    } catch (err) {
      if (err instanceof PlatformError) return { status: 400, body: { ok: false, error: err.error } };
      throw err;
    }
    this.posts.push({ ...target, body });
    return { status: 200, body: { ok: true } };
  }

  ephemeralPostsTo(userId: string): ResponseUrlPost[] {
    return this.posts.filter((post) => post.user === userId && isEphemeral(post.body));
  }
}

function isEphemeral(body: Record<string, unknown>): boolean {
  const changesOriginal = body.replace_original === true || body.replace_original === 'true' || body.delete_original === true || body.delete_original === 'true';
  return !changesOriginal && body.response_type !== 'in_channel';
}
