import { z } from 'zod';
import type { ApprovalRequest } from './contract.js';

/**
 * Routing: which channel a request's card goes to, who is told, and who may decide. Routes come
 * from the YAML file named by APPROVALS_CONFIG (read by ops/load-routes.ts) or, without one, from
 * APPROVERS and APPROVALS_CHANNEL; they are matched in order and the first match wins.
 */

const USER_ID = /^[UW][A-Z0-9]{2,}$/;
const GROUP_ID = /^S[A-Z0-9]{2,}$/;
const CHANNEL_ID = /^[CG][A-Z0-9]{2,}$/;

/** A duration: seconds as a number, or `30s`, `15m`, `4h`, `2d`. */
const Duration = z.union([z.number().int().positive(), z.string().regex(/^\d+[smhd]$/)], { error: 'must be a duration such as 30s, 15m, 4h or 2d' }).transform((value) => {
  if (typeof value === 'number') return value;
  const amount = Number(value.slice(0, -1));
  return amount * { s: 1, m: 60, h: 3600, d: 86_400 }[value.at(-1) as 's' | 'm' | 'h' | 'd'];
});

const Id = (pattern: RegExp, what: string) => z.string().regex(pattern, `must be ${what}`);
const UserOrGroup = z.string().refine((id) => USER_ID.test(id) || GROUP_ID.test(id), 'must be a Slack user ID (U…/W…) or user group ID (S…)');

/** One route of a routes file, as APPROVALS_CONFIG lists them (see ops/load-routes.ts). */
export const RouteSchema = z.strictObject({
  /** Shown in logs and the audit trail. */
  name: z.string().min(1, 'must not be empty'),
  /** Omitted: the route matches every request (the default route, which must come last). */
  match: z
    .strictObject({
      /** The request must carry every one of these tags. */
      risk_tags: z.array(z.string().min(1)).min(1, 'must list at least one tag').optional(),
      /** The request's workflow must be one of these. */
      workflow: z.array(z.string().min(1)).min(1, 'must list at least one workflow').optional(),
    })
    .refine((m) => m.risk_tags !== undefined || m.workflow !== undefined, 'must name risk_tags, workflow or both (omit match for the default route)')
    .optional(),
  /** Where cards go unless the request names a channel. */
  channel: Id(CHANNEL_ID, 'a channel ID such as C0123ABCD'),
  /** Users and user groups @-mentioned on the card. */
  mention: z.array(UserOrGroup).optional(),
  /** Who may decide: user and user group IDs, or `anyone` said explicitly. */
  approvers: z.union([z.literal('anyone'), z.array(UserOrGroup).min(1, 'must list at least one approver, or say "anyone"')], {
    error: (issue) => (issue.input === undefined ? 'required: list user and user group IDs, or say "approvers: anyone"' : 'must be a list of user and user group IDs, or "anyone"'),
  }),
  /** Distinct approvals needed; one deny denies. @defaultValue 1 */
  required_approvals: z.number().int().min(1, 'must be at least 1').max(20, 'must be at most 20').default(1),
  /** More approvals for requests with some tags, e.g. `{ secrets: 2 }`: the highest that applies wins. */
  required_approvals_for_tags: z.record(z.string().min(1), z.number().int().min(1).max(20)).default({}),
  /**
   * `dialog`: Approve asks "are you sure?" in Slack's confirmation dialog first. `typed`: Approve opens
   * a modal with the whole job, where the reviewer types the step id (or the job hash's first 8
   * characters) to approve.
   */
  confirm: z.enum(['none', 'dialog', 'typed']).default('none'),
  /** The person who started the run (`initiated_by`) may not approve it. @defaultValue true */
  deny_self_approval: z.boolean().default(true),
  /** Guests (single- and multi-channel) may decide on this route. @defaultValue false */
  allow_guests: z.boolean().default(false),
  /** Other workspaces (Slack Connect, T… IDs) whose users may decide on this route. @defaultValue none */
  allow_external_teams: z.array(z.string().regex(/^[TE][A-Z0-9]{2,}$/, 'must be a Slack team ID such as T0123ABCD')).default([]),
  /** When the bot cannot post in the channel a request names, post to this route's channel with a note. @defaultValue false */
  fallback_to_route_channel: z.boolean().default(false),
  /** How long an approval waits (seconds), the default and the maximum for the route, or `never`. @defaultValue 24h */
  expires_in: z.union([z.literal('never'), Duration], { error: 'must be a duration such as 30s, 15m, 4h or 2d, or never' }).default(86_400),
  /** Remind the approvers this long before expiry. */
  remind_before: Duration.optional(),
  /** Remind the approvers this often while the approval waits (for long or never-expiring ones). */
  remind_every: Duration.optional(),
  /** When nobody has decided this long after the request (seconds), mention `escalate_to` once in the card's thread. */
  escalate_after: Duration.optional(),
  /** Users and user groups to escalate to (often not approvers: someone who can find one). */
  escalate_to: z.array(UserOrGroup).min(1, 'must list at least one user or user group').optional(),
}).superRefine((route, ctx) => {
  if ((route.escalate_after === undefined) !== (route.escalate_to === undefined)) {
    ctx.addIssue({ code: 'custom', path: [route.escalate_after === undefined ? 'escalate_after' : 'escalate_to'], message: 'escalate_after and escalate_to go together: set both, or neither' });
  }
  if (route.escalate_after !== undefined && route.expires_in !== 'never' && route.escalate_after >= route.expires_in) {
    ctx.addIssue({ code: 'custom', path: ['escalate_after'], message: 'must be shorter than expires_in: an approval that has expired is not escalated' });
  }
  if (route.remind_before !== undefined && (route.expires_in === 'never' || route.remind_before >= route.expires_in)) {
    ctx.addIssue({ code: 'custom', path: ['remind_before'], message: 'must be shorter than expires_in (and expires_in must not be never)' });
  }
});

/** A route; `channel` is undefined only for the APPROVERS shorthand without APPROVALS_CHANNEL. */
export type Route = Omit<z.infer<typeof RouteSchema>, 'channel'> & { channel: string | undefined };

/** The one route that APPROVERS and APPROVALS_CHANNEL describe when there is no routes file. */
export function shorthandRoutes(approvalsChannel: string | undefined, approvers: string[] | 'anyone' | undefined): Route[] {
  return [
    {
      name: 'default',
      channel: approvalsChannel,
      approvers: approvers ?? 'anyone',
      required_approvals: 1,
      deny_self_approval: true,
      fallback_to_route_channel: false,
      expires_in: 86_400,
      allow_guests: false,
      allow_external_teams: [],
      required_approvals_for_tags: {},
      confirm: 'none',
    },
  ];
}

/** How many distinct approvals a request needs on this route: the route's, or more for some of its tags. */
export function requiredApprovals(route: Route, request: Pick<ApprovalRequest, 'risk_tags'>): number {
  const tags = new Set(request.risk_tags.map((tag) => tag.toLowerCase()));
  const forTags = Object.entries(route.required_approvals_for_tags)
    .filter(([tag]) => tags.has(tag.toLowerCase()))
    .map(([, count]) => count);
  return Math.max(route.required_approvals, ...forTags);
}

/** When an approval expires: the request's `expires_in_sec`, bounded by the route's `expires_in`; undefined for never. */
export function expiresAt(route: Route, request: Pick<ApprovalRequest, 'expires_in_sec'>, createdAt: number): number | undefined {
  const max = route.expires_in === 'never' ? Infinity : route.expires_in;
  const seconds = Math.min(request.expires_in_sec ?? max, max);
  return Number.isFinite(seconds) ? createdAt + seconds * 1000 : undefined;
}

/** The next reminder after `now`, or undefined when none is due before the approval expires. */
export function nextReminderAt(route: Route, createdAt: number, expiry: number | undefined, now: number): number | undefined {
  const candidates: number[] = [];
  if (route.remind_before !== undefined && expiry !== undefined) candidates.push(expiry - route.remind_before * 1000);
  if (route.remind_every !== undefined) {
    const every = route.remind_every * 1000;
    candidates.push(createdAt + (Math.floor((now - createdAt) / every) + 1) * every);
  }
  const next = Math.min(...candidates.filter((at) => at > now));
  return Number.isFinite(next) && (expiry === undefined || next < expiry) ? next : undefined;
}

/** The first route that matches the request; the last route matches everything. */
export function matchRoute(routes: Route[], request: Pick<ApprovalRequest, 'risk_tags' | 'workflow'>): Route {
  const tags = new Set(request.risk_tags.map((tag) => tag.toLowerCase()));
  return (
    routes.find(({ match }) => {
      if (!match) return true;
      const tagsMatch = match.risk_tags?.every((tag) => tags.has(tag.toLowerCase())) ?? true;
      const workflowMatches = match.workflow === undefined || (request.workflow !== undefined && match.workflow.includes(request.workflow));
      return tagsMatch && workflowMatches;
    }) ?? routes.at(-1)!
  );
}

/** When to escalate an approval (ms since the epoch), or undefined when the route does not escalate. */
export function escalateAt(route: Route, createdAt: number): number | undefined {
  return route.escalate_after === undefined || !route.escalate_to?.length ? undefined : createdAt + route.escalate_after * 1000;
}
