import type { WebClient } from '@slack/web-api';
import { createApproval, type Approval } from '../../src/domain/approval.js';
import { parseRequest } from '../../src/domain/contract.js';
import type { Store } from '../../src/store/store.js';
import { validRequest } from '../../sandbox/valid-request.js';

/**
 * An approval for `job` on step `deploy` of run `runId`: every call for one run gives the same
 * approval id, as a step cancelled and asked for again does.
 */
export function approvalOnStep(runId: string, job: unknown): Approval {
  const parsed = parseRequest(validRequest({ run_id: runId, step_id: 'deploy', job }));
  if (!parsed.ok) throw new Error(parsed.problems.join());
  return createApproval(parsed.request, Date.now());
}

/**
 * Claims the approval's card, posts it to `C0APPROVALS` and records it, as the request worker does.
 * @param version the request's enqueue order ('<ms>:<job id>').
 * @returns the card's ts.
 * @throws when the claim is not granted (its kind is the message).
 */
export async function postStepCard(store: Store, slack: WebClient, approval: Approval, version: string): Promise<string> {
  const claim = await store.claimCard(approval, version);
  if (claim.kind !== 'claimed') throw new Error(claim.kind);
  const posted = await slack.chat.postMessage({ channel: 'C0APPROVALS', text: 'card' });
  await store.saveCard(approval, claim.lease, { channel: posted.channel!, ts: posted.ts! }, Date.now());
  return posted.ts!;
}
