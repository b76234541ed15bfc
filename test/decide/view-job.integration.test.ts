import { describe, expect, it } from 'vitest';
import { ACTION_VIEW_JOB } from '../../src/views/job-preview.js';
import { FOREIGN_BUTTON_REPLY, JOB_NOT_SHOWN_REPLY } from '../../src/views/replies.js';
import { useGates } from '../helpers/gate.js';
import { waitFor } from '../helpers/wait.js';

const gates = useGates();

describe('View job', () => {
  it('opens a modal with the stored job and the job hash it was checked against, and decides nothing', async () => {
    const g = await gates.open();
    const job = { sql: 'UPDATE orders SET status = $1 WHERE id = $2', params: ['shipped', 42] };
    const { request, card } = await g.post({ job });
    const before = g.emulator.views.opened.length;
    const response = await g.emulator.click({ channel: card.channel, ts: card.ts, actionId: ACTION_VIEW_JOB, user: 'U0ALICE' });
    expect(response.status).toBe(200);
    const opened = await waitFor('the modal', () => g.emulator.views.opened.length > before && g.emulator.views.opened.at(-1)!);
    const text = JSON.stringify(opened.view);
    expect(text).toContain('UPDATE orders SET status = $1 WHERE id = $2');
    expect(text).toContain(String(request.job_hash).replace(/^sha256:/, ''));
    await g.bot.waitForLog((l) => l.msg === 'job shown');
    expect(await g.decisions()).toEqual([]);
  });

  it('a View job click that claims to come from another channel than the card’s shows nothing', async () => {
    const g = await gates.open();
    const { card } = await g.post();
    const before = g.emulator.views.opened.length;
    await g.emulator.click({
      channel: card.channel,
      ts: card.ts,
      actionId: ACTION_VIEW_JOB,
      user: 'U0ALICE',
      payload: (payload) => ({ ...payload, channel: { id: 'C0PRIVATE', name: 'private' } }),
    });
    await g.bot.waitForLog((l) => l.msg === 'view job refused');
    expect(g.emulator.views.opened.length).toBe(before);
    await waitFor('the reply', () => g.emulator.ephemeralsFor('U0ALICE').includes(FOREIGN_BUTTON_REPLY));
  });

  it('when the modal cannot open in time (Slack slower than the trigger’s 3 s), the clicker is told the job was not shown', async () => {
    const g = await gates.open();
    const { card } = await g.post();
    g.emulator.injectFaults('views.open', { delayMs: 3500 });
    const before = g.emulator.views.opened.length;
    const response = await g.emulator.click({ channel: card.channel, ts: card.ts, actionId: ACTION_VIEW_JOB, user: 'U0ALICE' });
    expect(response.elapsedMs).toBeLessThan(3000);
    await waitFor('the reply', () => g.emulator.ephemeralsFor('U0ALICE').includes(JOB_NOT_SHOWN_REPLY), 15_000);
    expect(g.emulator.views.opened.length).toBe(before);
    expect(await g.decisions()).toEqual([]);
  });
});
