import { describe, expect, it } from 'vitest';
import { ACTION_MORE } from '../../src/views/cards.js';
import { useGates } from '../helpers/gate.js';
import { waitFor } from '../helpers/wait.js';

/** The card's ⋯ menu opens its modal within the trigger's 3 seconds, or tells the reviewer it could not. */

const gates = useGates();

describe('the overflow menu', () => {
  it('when the modal cannot be opened in time (the trigger expired), the reviewer is told nothing was decided', async () => {
    const g = await gates.open();
    const { card } = await g.post();
    // Slack answers views.open after the trigger's 3 seconds: expired_trigger_id.
    g.emulator.injectFaults('views.open', { delayMs: 3200 });
    await g.emulator.chooseOverflow({ channel: card.channel, ts: card.ts, actionId: ACTION_MORE, optionPrefix: 'approve', user: 'U0ALICE' });
    const reply = await waitFor('the reply', () => g.emulator.ephemeralsFor('U0ALICE')[0], 10_000);
    expect(reply).toMatch(/nothing was decided/i);
    expect(reply).toMatch(/try again/i);
    expect(g.emulator.views.opened).toEqual([]);
    expect(g.emulator.callsOf('views.open').map((call) => call.answered)).toEqual(['expired_trigger_id']);
    expect(await g.decisions()).toEqual([]);
  });
});
