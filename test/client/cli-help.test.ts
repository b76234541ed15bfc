import { describe, expect, it } from 'vitest';
import { runCli } from '../../src/client/cli/main.js';

describe('approval-gate --help', () => {
  it('prints the usage on stdout and exits 0; an unknown command still exits 2', async () => {
    for (const flag of ['--help', '-h', 'help']) {
      const out: string[] = [];
      const err: string[] = [];
      expect(await runCli([flag], { out: (line) => void out.push(line), err: (line) => void err.push(line) })).toBe(0);
      expect(out.join('\n')).toMatch(/approval-gate request FILE\.json/);
      expect(err).toEqual([]);
    }
    const err: string[] = [];
    expect(await runCli(['--halp'], { out: () => undefined, err: (line) => void err.push(line) })).toBe(2);
    expect(err.join('\n')).toMatch(/^unknown command "--halp"/);
  });
});
