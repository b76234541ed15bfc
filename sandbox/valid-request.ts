import canonicalize from 'canonicalize';
import { sha256Hex } from '../src/domain/contract.js';

let counter = 0;

/**
 * A valid request as an engine would send it, unique per call unless run_id/step_id are given.
 * Its job_hash matches its job unless the overrides set job_hash.
 */
export function validRequest(overrides: Record<string, unknown> = {}): Record<string, unknown> {
  counter += 1;
  const job = 'job' in overrides ? overrides.job : { action: 'UPDATE orders SET status = $1 WHERE id = $2', params: ['shipped', counter] };
  const jobHash = job === undefined ? sha256Hex(`no job ${counter}`) : sha256Hex(canonicalize(job)!);
  const request: Record<string, unknown> = {
    run_id: `run_${process.pid}_${counter}`,
    step_id: 'remediate',
    workflow: 'incident-triage',
    requested_by: 'workflow.incident-triage',
    reason: 'prod write detected',
    policy_snapshot: '7f3d1a2b9c0e4f5a6b7c8d9e0f1a2b3c',
    policy_rule: 'prod-writes-need-approval',
    job_hash: `sha256:${jobHash}`,
    risk_tags: ['prod', 'write'],
    constraints: { max_lines_changed: 500, max_runtime_sec: 900 },
    ...overrides,
  };
  if (job === undefined) delete request.job;
  else request.job = job;
  return request;
}
