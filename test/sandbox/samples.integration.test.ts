import { describe, expect, it } from 'vitest';
import { parseRequest } from '../../src/domain/contract.js';
import { renderSample, SAMPLES, type SampleName } from '../../sandbox/samples.js';
import { POLICY_SNAPSHOT, useGates } from '../helpers/gate.js';

const names = Object.keys(SAMPLES) as SampleName[];
const gates = useGates();

describe('the sandbox samples', () => {
  it.each(names)('%s is a request the contract accepts, bound to the snapshot given', (name) => {
    const parsed = parseRequest(renderSample(name, 'sha256:abcdef0123456789', 'run_1'));
    expect(parsed.ok ? parsed.request : parsed.problems).toMatchObject({ run_id: 'run_1', policy_snapshot: 'sha256:abcdef0123456789', initiated_by: 'U0RILEY' });
  });

  it('each becomes a card in the channel of its sandbox route, the oversized and hostile ones included', async () => {
    const g = await gates.open({ env: { APPROVALS_CONFIG: 'examples/sandbox.yml', APPROVALS_CHANNEL: '' } });
    const channels: Record<string, string> = {};
    for (const name of names) {
      const job = await g.finished(await g.requests.add('request', renderSample(name, POLICY_SNAPSHOT, `run_${name}`)));
      expect(job.failedReason, name).toBeUndefined();
      channels[name] = (job.returnvalue as { channel: string }).channel;
    }
    expect(channels).toEqual({
      'prod-write': 'C0INCIDENT42',
      'schema-change': 'C0PRODAPPROVALS',
      secrets: 'C0SECURITY',
      network: 'C0APPROVALS',
      oversized: 'C0PRODAPPROVALS',
      hostile: 'C0APPROVALS',
    });
    const hostile = g.emulator.messagesIn('C0APPROVALS').find((m) => m.text.includes('cleanup'))!;
    expect(JSON.stringify(hostile.blocks)).not.toMatch(/<!(channel|here|everyone)>|<@U0ALICE>|<https:\/\/evil/);
  });
});
