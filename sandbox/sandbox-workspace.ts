import type { EmulatedChannel } from './workspace.js';
import type { SlackUser } from './interactions.js';

/**
 * The workspace `npm run sandbox` emulates: a few people with different rights, the channels of
 * examples/sandbox.yml and two user groups. Roles are shown in the page's "You are" picker.
 */

export const SANDBOX_TEAM_ID = 'T0SANDBOX';

export interface SandboxUser extends SlackUser {
  role: string;
}

const person = (id: string, name: string, role: string, flags: Partial<SlackUser> = {}): SandboxUser => ({
  id,
  username: name.toLowerCase(),
  real_name: name,
  team_id: SANDBOX_TEAM_ID,
  role,
  ...flags,
});

export const SANDBOX_USERS: SandboxUser[] = [
  person('U0ALICE', 'Alice', 'on-call: approves prod writes'),
  person('U0BOB', 'Bob', 'on-call: approves prod writes'),
  person('U0RILEY', 'Riley', 'on-call; started the sample runs'),
  person('U0CAROL', 'Carol', 'security: approves secrets access'),
  person('U0DAVE', 'Dave', 'security: approves secrets access'),
  person('U0MALLORY', 'Mallory', 'engineer: not an approver'),
  person('U0GINA', 'Gina', 'guest in the security group', { is_restricted: true }),
  person('U0PAT', 'Pat', 'from a partner workspace (Slack Connect)', { team_id: 'T0PARTNER' }),
];

export const SANDBOX_USER_GROUPS: { id: string; handle: string; members: string[] }[] = [
  { id: 'S0ONCALL', handle: 'oncall', members: ['U0ALICE', 'U0BOB', 'U0RILEY'] },
  { id: 'S0SECURITY', handle: 'security', members: ['U0CAROL', 'U0DAVE', 'U0GINA'] },
];

export const SANDBOX_CHANNELS: EmulatedChannel[] = [
  { id: 'C0APPROVALS', name: 'approvals', botIsMember: true },
  { id: 'C0PRODAPPROVALS', name: 'prod-approvals', botIsMember: true },
  { id: 'C0SECURITY', name: 'security-approvals', botIsMember: true },
  { id: 'C0INCIDENT42', name: 'incident-42', botIsMember: true },
];
