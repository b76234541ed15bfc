import { readFileSync } from 'node:fs';
import { WebClient } from '@slack/web-api';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createApproverDirectory } from '../../src/decide/approver-directory.js';
import { escalateAt, expiresAt, matchRoute, nextReminderAt, requiredApprovals, shorthandRoutes, type Route } from '../../src/domain/routes.js';
import { parseRoutes } from '../../src/ops/load-routes.js';
import { SlackEmulator } from '../../sandbox/slack-emulator.js';

const example = parseRoutes(readFileSync('examples/approvals.yml', 'utf8'), 'examples/approvals.yml');

function errorOf(yaml: string): string {
  try {
    parseRoutes(yaml, 'routes.yml');
  } catch (err) {
    return (err as Error).message;
  }
  throw new Error('expected the routes file to be refused');
}

describe('the routes file', () => {
  it('reads the example with its defaults', () => {
    expect(example.map((r) => [r.name, r.channel, r.required_approvals, r.deny_self_approval, r.fallback_to_route_channel, r.confirm])).toEqual([
      ['secrets', 'C0SECURITY', 2, true, false, 'none'],
      ['prod-writes', 'C0PRODAPPROVALS', 1, true, true, 'dialog'],
      ['default', 'C0APPROVALS', 1, true, false, 'none'],
    ]);
    expect(requiredApprovals(example[1]!, { risk_tags: ['prod', 'write'] })).toBe(1);
    expect(requiredApprovals(example[1]!, { risk_tags: ['prod', 'write', 'SCHEMA'] })).toBe(2);
  });

  it.each([
    ['a route that lists no approvers', 'routes:\n  - name: d\n    channel: C0A\n', 'routes.yml:2:5: routes.0.approvers: required: list user and user group IDs, or say "approvers: anyone"'],
    ['an approvers list that is empty', 'routes:\n  - name: d\n    channel: C0A\n    approvers: []\n', 'routes.yml:4:16: routes.0.approvers: must list at least one approver, or say "anyone"'],
    ['a channel name instead of an ID', 'routes:\n  - name: d\n    channel: "#ops"\n    approvers: anyone\n', 'routes.yml:3:14: routes.0.channel: must be a channel ID such as C0123ABCD'],
    ['a default route that is not last', 'routes:\n  - name: d\n    channel: C0A\n    approvers: anyone\n  - name: p\n    match: { risk_tags: [prod] }\n    channel: C0B\n    approvers: anyone\n', 'the last route must be the default route: remove its match'],
    ['an unknown key', 'routes:\n  - name: d\n    channel: C0A\n    approvers: anyone\n    expires: 1h\n', 'routes.yml:2:5: routes.0: Unrecognized key: "expires"'],
    ['an approver that is not an ID', 'routes:\n  - name: d\n    channel: C0A\n    approvers: [alice]\n', 'routes.yml:4:17: routes.0.approvers.0: must be a Slack user ID (U…/W…) or user group ID (S…)'],
    ['broken YAML', 'routes:\n  - name: d\n   channel: C0A\n', 'routes.yml:3:'],
  ])('refuses %s, naming the file, line and problem', (_what, yaml, expected) => {
    expect(errorOf(yaml)).toContain(expected);
  });

  it.each<[string, string[], string | undefined, string]>([
    ['secrets go to security', ['secrets', 'prod'], 'key-rotation', 'secrets'],
    ['a prod write goes to the prod route', ['prod', 'write'], 'incident-triage', 'prod-writes'],
    ['tags match whatever their case', ['PROD', 'Write'], undefined, 'prod-writes'],
    ['prod alone is not a prod write', ['prod'], 'incident-triage', 'default'],
    ['no tags: the default route', [], undefined, 'default'],
  ])('%s', (_what, risk_tags, workflow, expected) => {
    expect(matchRoute(example, { risk_tags, ...(workflow ? { workflow } : {}) }).name).toBe(expected);
  });

  it('matches on workflow too', () => {
    const routes = parseRoutes(
      'routes:\n  - name: wf\n    match: { workflow: [deploy], risk_tags: [prod] }\n    channel: C0A\n    approvers: anyone\n  - name: d\n    channel: C0B\n    approvers: anyone\n',
      'r.yml',
    );
    expect(matchRoute(routes, { risk_tags: ['prod'], workflow: 'deploy' }).name).toBe('wf');
    expect(matchRoute(routes, { risk_tags: ['prod'], workflow: 'other' }).name).toBe('d');
  });

  it('without a file, APPROVERS and APPROVALS_CHANNEL make one route', () => {
    expect(shorthandRoutes('C0APPROVALS', ['U0ALICE'])).toEqual([
      { name: 'default', channel: 'C0APPROVALS', approvers: ['U0ALICE'], required_approvals: 1, deny_self_approval: true, fallback_to_route_channel: false, expires_in: 86_400, allow_guests: false, allow_external_teams: [], required_approvals_for_tags: {}, confirm: 'none' },
    ]);
    expect(shorthandRoutes(undefined, undefined)[0]!.approvers).toBe('anyone');
  });
});

describe('expiry and reminders', () => {
  const route = (keys: string): Route => parseRoutes(`routes:\n  - name: r\n    channel: C0A\n    approvers: anyone\n${keys}`, 'r.yml')[0]!;
  const T0 = Date.UTC(2026, 10, 25, 10, 0);

  it('reads durations as seconds, minutes, hours and days, and defaults to 24 hours', () => {
    expect(route('    expires_in: 90s\n').expires_in).toBe(90);
    expect(route('    expires_in: 15m\n').expires_in).toBe(900);
    expect(route('    expires_in: 4h\n').expires_in).toBe(14_400);
    expect(route('    expires_in: 2d\n').expires_in).toBe(172_800);
    expect(route('    expires_in: never\n').expires_in).toBe('never');
    expect(route('').expires_in).toBe(86_400);
    expect(() => route('    expires_in: soon\n')).toThrow('must be a duration such as 30s, 15m, 4h or 2d');
    expect(() => route('    expires_in: 1h\n    remind_before: 2h\n')).toThrow('remind_before: must be shorter than expires_in');
  });

  it.each<[string, string, number | undefined, number | undefined]>([
    ['the route default', '    expires_in: 1h\n', undefined, T0 + 3_600_000],
    ['less time when the request asks', '    expires_in: 1h\n', 60, T0 + 60_000],
    ['never more than the route allows', '    expires_in: 1h\n', 86_400, T0 + 3_600_000],
    ['never, when the route says so', '    expires_in: never\n', undefined, undefined],
    ['what the request asks, under a never-expiring route', '    expires_in: never\n', 600, T0 + 600_000],
  ])('expires after %s', (_what, keys, requested, expected) => {
    expect(expiresAt(route(keys), requested ? { expires_in_sec: requested } : {}, T0)).toBe(expected);
  });

  it('escalates after escalate_after, to escalate_to; the two go together, and escalating must come before expiry', () => {
    const r = route('    expires_in: 1h\n    escalate_after: 15m\n    escalate_to: [S0LEADS, U0CAROL]\n');
    expect(escalateAt(r, T0)).toBe(T0 + 900_000);
    expect(escalateAt(route('    expires_in: 1h\n'), T0)).toBeUndefined();
    expect(() => route('    escalate_after: 15m\n')).toThrow('escalate_to: escalate_after and escalate_to go together');
    expect(() => route('    escalate_to: [S0LEADS]\n')).toThrow('escalate_after: escalate_after and escalate_to go together');
    expect(() => route('    expires_in: 10m\n    escalate_after: 15m\n    escalate_to: [S0LEADS]\n')).toThrow('escalate_after: must be shorter than expires_in');
    expect(() => route('    escalate_after: 15m\n    escalate_to: [C0CHANNEL]\n')).toThrow('must be a Slack user ID (U…/W…) or user group ID (S…)');
  });

  it('reminds before expiry and then every interval, never after expiry', () => {
    const r = route('    expires_in: 1h\n    remind_before: 10m\n    remind_every: 20m\n');
    const expiry = T0 + 3_600_000;
    expect(nextReminderAt(r, T0, expiry, T0)).toBe(T0 + 1_200_000);
    expect(nextReminderAt(r, T0, expiry, T0 + 1_200_000)).toBe(T0 + 2_400_000);
    expect(nextReminderAt(r, T0, expiry, T0 + 2_400_000)).toBe(T0 + 3_000_000);
    expect(nextReminderAt(r, T0, expiry, T0 + 3_000_000)).toBeUndefined();
    expect(nextReminderAt(route('    expires_in: never\n    remind_every: 1h\n'), T0, undefined, T0 + 7_200_000)).toBe(T0 + 10_800_000);
    expect(nextReminderAt(route(''), T0, T0 + 86_400_000, T0)).toBeUndefined();
  });
});

describe('approvers and user groups', () => {
  const emulator = new SlackEmulator({ botToken: 'xoxb-groups' });
  let slack: WebClient;
  beforeAll(async () => {
    await emulator.start();
    slack = new WebClient('xoxb-groups', { slackApiUrl: emulator.apiUrl, retryConfig: { retries: 0 } });
  });
  afterAll(() => emulator.stop());
  const route = (approvers: Route['approvers']): Route => ({ ...example[2]!, approvers });

  it('counts listed users and members of listed groups, and no one else', async () => {
    emulator.setUserGroup('S0ONCALL', ['U0ALICE']);
    const directory = createApproverDirectory(slack);
    expect(await directory.isApprover(route(['U0CAROL', 'S0ONCALL']), 'U0CAROL')).toBe(true);
    expect(await directory.isApprover(route(['U0CAROL', 'S0ONCALL']), 'U0ALICE')).toBe(true);
    expect(await directory.isApprover(route(['U0CAROL', 'S0ONCALL']), 'U0MALLORY')).toBe(false);
    expect(await directory.isApprover(route('anyone'), 'U0MALLORY')).toBe(true);
  });

  it('decides with members Slack gave at most 5 seconds ago: a removed member loses the right, a new one gains it, within that', async () => {
    let now = 0;
    emulator.setUserGroup('S0NEW', ['U0ALICE']);
    const directory = createApproverDirectory(slack, { now: () => now });
    const calls = () => emulator.callsOf('usergroups.users.list').length;
    const before = calls();
    expect(await directory.isApprover(route(['S0NEW']), 'U0ALICE')).toBe(true);
    now = 4_999;
    expect(await directory.isApprover(route(['S0NEW']), 'U0ALICE')).toBe(true);
    expect(calls() - before).toBe(1);

    emulator.setUserGroup('S0NEW', ['U0BOB']);
    expect(await directory.isApprover(route(['S0NEW']), 'U0BOB')).toBe(false);
    now = 5_001;
    expect(await directory.isApprover(route(['S0NEW']), 'U0ALICE')).toBe(false);
    expect(await directory.isApprover(route(['S0NEW']), 'U0BOB')).toBe(true);
    expect(calls() - before).toBe(2);
  });

  it('asks Slack again when the caller needs members fetched since a given instant, and shares one call among concurrent questions', async () => {
    let now = 1_000;
    emulator.setUserGroup('S0FRESH', ['U0ALICE', 'U0BOB']);
    const directory = createApproverDirectory(slack, { now: () => now });
    const calls = () => emulator.callsOf('usergroups.users.list').length;
    const before = calls();
    expect(await Promise.all(['U0ALICE', 'U0BOB', 'U0CAROL'].map((id) => directory.isApprover(route(['S0FRESH']), id)))).toEqual([true, true, false]);
    expect(calls() - before).toBe(1);
    emulator.setUserGroup('S0FRESH', ['U0BOB']);
    now = 1_001;
    expect(await directory.isApprover(route(['S0FRESH']), 'U0ALICE', { since: 1_001 })).toBe(false);
    expect(calls() - before).toBe(2);
  });

  it('fails when Slack cannot say who is in a group, so the click is refused', async () => {
    const directory = createApproverDirectory(slack);
    await expect(directory.isApprover(route(['S0MISSING']), 'U0ALICE')).rejects.toThrow('no_such_subteam');
  });
});
