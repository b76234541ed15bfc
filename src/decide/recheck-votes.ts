import type { DroppedVote } from '../domain/approval.js';
import type { Vote } from '../domain/contract.js';
import { assessIdentity } from '../domain/identity.js';
import type { Route } from '../domain/routes.js';
import type { ClickDeps } from './deps.js';

/**
 * Which approvals counted earlier no longer stand, asked of Slack afresh when an approval would
 * complete: each voter must still be one of the route's approvers (user groups fetched now, not
 * from the cache that decides clicks) and still pass the identity rules (users.info called now: not
 * deactivated, a guest, a bot, or in another workspace). An approval given hours ago counts only
 * if its voter could give it now.
 *
 * @returns the votes that no longer stand, with why; empty when all stand.
 * @throws when Slack cannot answer for a voter: nothing may complete on a vote that was not checked.
 */
export async function recheckVotes(deps: Pick<ClickDeps, 'users' | 'directory' | 'homeTeamId' | 'now'>, route: Route, votes: Vote[]): Promise<DroppedVote[]> {
  const since = deps.now?.() ?? Date.now();
  const checked = await Promise.all(
    votes.map(async (vote): Promise<DroppedVote | undefined> => {
      try {
        const refusal = assessIdentity(await deps.users.lookup(vote.id, undefined, { since }), deps.homeTeamId, route);
        if (refusal) return { vote, reason: refusal };
        return (await deps.directory.isApprover(route, vote.id, { since })) ? undefined : { vote, reason: 'not_approver' };
      } catch (err) {
        throw new Error(`could not re-check the approval of ${vote.id} with Slack before completing: ${err instanceof Error ? err.message : String(err)}`, { cause: err });
      }
    }),
  );
  return checked.filter((dropped): dropped is DroppedVote => dropped !== undefined);
}
