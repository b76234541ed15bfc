import { spawn } from 'node:child_process';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { ACTION_APPROVE, ACTION_DENY, CARD_EVENT_TYPE } from '../../src/views/cards.js';
import { useGates, type Gate } from '../helpers/gate.js';
import { TEST_KEY_ID, TEST_PUBLIC_KEY } from '../helpers/signing-key.js';
import { waitFor } from '../helpers/wait.js';

/** examples/engine.ts, run as its header says, against a gate: it uses only the client. */

const gates = useGates();
const publicKeyFile = join(mkdtempSync(join(tmpdir(), 'example-engine-')), 'gate.pub.pem');
writeFileSync(publicKeyFile, TEST_PUBLIC_KEY.export({ type: 'spki', format: 'pem' }));

function runExample(gate: Gate) {
  const { REDIS_URL, REQUEST_QUEUE, RESUME_QUEUE, STATE_PREFIX, POLICY_SNAPSHOT_KEY } = gate.env;
  const env = { PATH: process.env.PATH ?? '', REDIS_URL: REDIS_URL!, REQUEST_QUEUE: REQUEST_QUEUE!, RESUME_QUEUE: RESUME_QUEUE!, STATE_PREFIX: STATE_PREFIX!, POLICY_SNAPSHOT_KEY: POLICY_SNAPSHOT_KEY!, DECISION_PUBLIC_KEY_FILE: publicKeyFile, DECISION_SIGNING_KEY_ID: TEST_KEY_ID };
  const child = spawn(process.execPath, ['node_modules/tsx/dist/cli.mjs', 'examples/engine.ts'], { env, stdio: ['ignore', 'pipe', 'pipe'] });
  let output = '';
  child.stdout.on('data', (chunk) => (output += String(chunk)));
  child.stderr.on('data', (chunk) => (output += String(chunk)));
  return { code: new Promise<number | null>((resolve) => child.once('close', resolve)), output: () => output };
}

async function clickTheCard(gate: Gate, actionId: string, user: string) {
  const card = await waitFor('the example’s card', () => gate.emulator.messagesIn().find((m) => m.metadata?.event_type === CARD_EVENT_TYPE), 30_000);
  await gate.emulator.click({ channel: card.channel, ts: card.ts, actionId, user });
}

describe('the example engine', () => {
  it('runs the job once a person approved it in Slack and the signed decision checks out', async () => {
    const gate = await gates.open();
    const engine = runExample(gate);
    await clickTheCard(gate, ACTION_APPROVE, 'U0ALICE');
    expect(await engine.code).toBe(0);
    expect(engine.output()).toMatch(/asked for approval of run example-\d+, step refund; waiting/);
    expect(engine.output()).toContain('approved by alice: running the job within {"max_rows":1}');
  });

  it('does not run the job when it is denied', async () => {
    const gate = await gates.open();
    const engine = runExample(gate);
    await clickTheCard(gate, ACTION_DENY, 'U0BOB');
    expect(await engine.code).toBe(1);
    expect(engine.output()).toContain('not running the job: not_approved (the decision is denied)');
  });
});
