import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { parse } from 'yaml';

interface Manifest {
  display_information: { name: string; description?: string };
  features: { bot_user: { display_name: string }; slash_commands: { command: string; url?: string; description: string; should_escape?: boolean }[] };
  oauth_config: { scopes: { bot: string[] } };
  settings: { interactivity: { is_enabled: boolean; request_url?: string }; socket_mode_enabled: boolean };
}

const manifest = parse(readFileSync('manifest.yml', 'utf8')) as Manifest;

describe('the Slack app manifest', () => {
  it('fits the manifest schema limits Slack documents', () => {
    expect(manifest.display_information.name.length).toBeLessThanOrEqual(35);
    expect(manifest.display_information.description!.length).toBeLessThanOrEqual(140);
    expect(manifest.features.bot_user.display_name).toMatch(/^[a-z0-9._-]{1,80}$/);
    for (const command of manifest.features.slash_commands) {
      expect(command.command).toMatch(/^\/[a-z0-9_-]{1,31}$/);
      expect(command.description.length).toBeGreaterThan(0);
    }
  });

  it('sends interactivity and the /approvals command to the bot’s one endpoint', () => {
    expect(manifest.settings.interactivity).toMatchObject({ is_enabled: true, request_url: expect.stringMatching(/^https:\/\/.+\/slack\/events$/) });
    expect(manifest.features.slash_commands).toContainEqual(expect.objectContaining({ command: '/approvals', url: manifest.settings.interactivity.request_url }));
    expect(manifest.settings.socket_mode_enabled).toBe(false);
  });

  it('asks for every scope the bot’s Slack calls need, and no more', () => {
    expect([...manifest.oauth_config.scopes.bot].sort()).toEqual(
      [
        'channels:history',
        'channels:read',
        'chat:write',
        'chat:write.public',
        'commands',
        'groups:history',
        'groups:read',
        'im:history',
        'im:read',
        'mpim:history',
        'mpim:read',
        'usergroups:read',
        'users:read',
        'users:read.email',
      ].sort(),
    );
  });

  it('says truly how many URL lines Socket Mode deletes', () => {
    const text = readFileSync('manifest.yml', 'utf8');
    const lines = (text.match(/^\s+(url|request_url):/gm) ?? []).length;
    expect(/delete the (\w+) lines/.exec(text)?.[1]).toBe(['no', 'one', 'two', 'three', 'four'][lines]);
  });
});
