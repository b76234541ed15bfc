import { randomBytes } from 'node:crypto';
import { checkModal } from './block-kit-rules.js';
import type { SlackUser } from './interactions.js';
import { parseJson, PlatformError } from './workspace.js';

/**
 * Modals in the emulator: trigger ids as Slack issues them (valid for 3 seconds, usable once),
 * views.open with Slack's checks on the view, and the view_submission payload a submit sends.
 */

const TRIGGER_TTL_MS = 3000;

export interface OpenedView {
  id: string;
  user: string;
  view: Record<string, unknown>;
}

export class Views {
  readonly opened: OpenedView[] = [];
  private readonly triggers = new Map<string, { user: string; issuedAt: number; used: boolean }>();

  /** A trigger id for an interaction by `user`, as Slack puts one in every interaction payload. */
  issueTrigger(user: string): string {
    const id = `${Date.now()}.${randomBytes(4).readUInt32BE()}.${randomBytes(16).toString('hex')}`;
    this.triggers.set(id, { user, issuedAt: Date.now(), used: false });
    return id;
  }

  /** views.open: checks the trigger and the view as Slack does. */
  open(args: Record<string, unknown>): Record<string, unknown> {
    const trigger = typeof args.trigger_id === 'string' ? this.triggers.get(args.trigger_id) : undefined;
    if (!trigger) throw new PlatformError('invalid_trigger_id');
    if (trigger.used) throw new PlatformError('exchanged_trigger_id');
    if (Date.now() - trigger.issuedAt > TRIGGER_TTL_MS) throw new PlatformError('expired_trigger_id');
    const view = parseJson(args.view) as Record<string, unknown> | undefined;
    if (!view || view.type !== 'modal') throw new PlatformError('invalid_arguments');
    const problems = checkModal(view);
    if (problems.length > 0) throw new PlatformError('invalid_arguments', { response_metadata: { messages: problems.map((p) => `[ERROR] ${p}`) } });
    trigger.used = true;
    const opened = { id: `V${randomBytes(5).toString('hex').toUpperCase()}`, user: trigger.user, view };
    this.opened.push(opened);
    return { view: { id: opened.id, type: 'modal', ...view } };
  }

  /** The view_submission payload for a user submitting an opened view with these input values. */
  submission(opened: OpenedView, user: SlackUser, values: Record<string, Record<string, string>>, apiAppId: string): Record<string, unknown> {
    const state = Object.fromEntries(
      Object.entries(values).map(([blockId, actions]) => [
        blockId,
        Object.fromEntries(Object.entries(actions).map(([actionId, value]) => [actionId, { type: 'plain_text_input', value }])),
      ]),
    );
    return {
      type: 'view_submission',
      team: { id: user.team_id, domain: 'sandbox' },
      user: { id: user.id, username: user.username, name: user.username, team_id: user.team_id },
      api_app_id: apiAppId,
      token: 'deprecated-verification-token',
      trigger_id: this.issueTrigger(user.id),
      view: { id: opened.id, team_id: user.team_id, app_installed_team_id: user.team_id, ...opened.view, state: { values: state }, hash: randomBytes(6).toString('hex') },
      response_urls: [],
      is_enterprise_install: false,
      enterprise: null,
    };
  }
}
