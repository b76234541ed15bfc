import { Redis } from 'ioredis';
import { describe, expect, it } from 'vitest';
import { ACTION_APPROVE } from '../../src/views/cards.js';
import { useGates } from '../helpers/gate.js';
import { waitFor } from '../helpers/wait.js';

const gates = useGates();

/** The ACL rules SECURITY.md recommends for the bot's Redis user, with the default names. */
const BOT_ACL = ['~approvals:*', '~bull:approval-requests:*', '~bull:approval-requests-timers:*', '~bull:approval-resume:*', '+@all', '-@dangerous', '+info', '+client|setname', '+client|getname'];

describe('Redis with a user limited to the bot’s own keys', () => {
  it('is all the bot needs: a card is posted, a click decides, the decision reaches the resume queue', async () => {
    const server = await gates.redisServer();
    const admin = new Redis(server.url);
    await admin.call('ACL', 'SETUSER', 'approval-gate', 'on', '>bot-password-0123456789', ...BOT_ACL);
    admin.disconnect();
    const url = server.url.replace('redis://', 'redis://approval-gate:bot-password-0123456789@');
    const g = await gates.open(
      { env: { REQUEST_QUEUE: 'approval-requests', RESUME_QUEUE: 'approval-resume', STATE_PREFIX: 'approvals', POLICY_SNAPSHOT_KEY: 'approvals:policy-snapshot' } },
      url,
    );
    const { card } = await g.post();
    await g.emulator.click({ channel: card.channel, ts: card.ts, actionId: ACTION_APPROVE, user: 'U0ALICE' });
    const [decision] = await waitFor('the decision', async () => (await g.decisions()).length > 0 && g.decisions());
    expect(decision).toMatchObject({ decision: 'approved', decided_by: { id: 'U0ALICE' } });
    expect(g.bot.logs.filter((line) => JSON.stringify(line).includes('NOPERM'))).toEqual([]);
    // CONFIG is a dangerous command: the bot says it could not check the settings, and runs.
    expect(g.bot.logs).toContainEqual(expect.objectContaining({ level: 40, msg: expect.stringContaining('could not read maxmemory-policy (CONFIG GET refused)') }));
  });
});
