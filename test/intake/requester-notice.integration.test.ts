import { describe, expect, it } from 'vitest';
import { ACTION_APPROVE, ACTION_DENY } from '../../src/views/cards.js';
import { useGates, type Gate } from '../helpers/gate.js';
import { waitFor } from '../helpers/wait.js';

const gates = useGates();
const REQUESTER = 'U0CAROL';

const dms = (g: Gate) => g.emulator.directMessagesTo(REQUESTER).map((m) => m.text);
const dmCount = (g: Gate, count: number) => waitFor(`${count} DMs to the requester`, () => dms(g).length >= count && dms(g));

describe('the person who started the run hears about it', () => {
  it('gets a DM with a link when the card is posted, once however often the request comes, and one when it is approved', async () => {
    const g = await gates.open();
    const { request, card } = await g.post({ initiated_by: REQUESTER, workflow: 'incident-triage' });
    const [posted] = await dmCount(g, 1);
    expect(posted).toBe(
      `:hourglass: Your run \`${String(request.run_id)}\`, step \`incident-triage\` › \`remediate\` is waiting for approval in <#C0APPROVALS>: ` +
        `<https://sandbox.slack.local/archives/C0APPROVALS/p${card.ts.replace('.', '')}|open the card>.`,
    );
    await g.finished(await g.requests.add('request', request));
    expect(dms(g)).toHaveLength(1);

    await g.emulator.click({ channel: card.channel, ts: card.ts, actionId: ACTION_APPROVE, user: 'U0ALICE' });
    const [, ended] = await dmCount(g, 2);
    expect(ended).toMatch(/^Your run `run_\w+`, step `incident-triage` › `remediate`: :white_check_mark: \*Approved\* by <@U0ALICE> <!date\^\d+\^/);
  });

  it('hears a deny with its reason', async () => {
    const g = await gates.open();
    const { card } = await g.post({ initiated_by: REQUESTER });
    await dmCount(g, 1);
    await g.emulator.chooseOverflow({ channel: card.channel, ts: card.ts, actionId: 'approval_more', optionPrefix: 'deny', user: 'U0BOB' });
    await waitFor('the modal', () => g.emulator.views.opened.length > 0);
    await g.emulator.submitView({ user: 'U0BOB', values: { approval_comment: { comment: 'not during the freeze\n<!channel>' } } });
    const [, ended] = await dmCount(g, 2);
    expect(ended).toContain(':no_entry: *Denied* by <@U0BOB>');
    expect(ended).toContain('\n&gt; not during the freeze\n&gt; &lt;!channel&gt;');
  });

  it('hears when the approval expires, goes stale under a new policy, or is cancelled', async () => {
    const g = await gates.open();
    await g.post({ initiated_by: REQUESTER, step_id: 'expires', expires_in_sec: 1 });
    await g.post({ initiated_by: REQUESTER, step_id: 'goes-stale' });
    const cancelled = await g.post({ initiated_by: REQUESTER, step_id: 'cancelled' });
    await dmCount(g, 3);
    await waitFor('the expiry', () => dms(g).some((t) => t.includes('› `expires`: :hourglass: *Expired*')));
    await g.finished(await g.requests.add('cancel', { run_id: cancelled.request.run_id, step_id: 'cancelled', reason: 'incident resolved' }));
    await g.finished(await g.requests.add('policy', { policy_snapshot: 'sha256:0123456789abcdef0123456789abcdef' }));
    const all = await dmCount(g, 6);
    const endingOf = (step: string) => all.filter((t) => t.includes(`› \`${step}\``) && !t.includes('is waiting for approval'));
    expect(endingOf('cancelled')).toEqual([expect.stringContaining(':no_entry_sign: *Cancelled* by the workflow')]);
    expect(endingOf('cancelled')[0]).toMatch(/: incident resolved$/);
    expect(endingOf('goes-stale')).toEqual([expect.stringContaining('*Not decided: the policy changed since the request*')]);
    expect(endingOf('expires')).toEqual([expect.stringContaining(':hourglass: *Expired*')]);
  });

  it('nobody is messaged when the request names no initiated_by', async () => {
    const g = await gates.open();
    const { card } = await g.post();
    await g.emulator.click({ channel: card.channel, ts: card.ts, actionId: ACTION_DENY, user: 'U0ALICE' });
    await waitFor('the decision', async () => (await g.decisions()).length === 1);
    expect(g.emulator.callsOf('chat.postMessage').filter((c) => String(c.args.channel).startsWith('U'))).toEqual([]);
  });
});
