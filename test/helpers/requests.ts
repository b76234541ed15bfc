import canonicalize from 'canonicalize';
import { sha256Hex } from '../../src/contract.js';

let counter = 0;

/** A valid request as an engine would send it, unique per call unless run_id/step_id are given. */
export function validRequest(overrides: Record<string, unknown> = {}): Record<string, unknown> {
  counter += 1;
  const job = (overrides.job as unknown) ?? { action: 'UPDATE orders SET status = $1 WHERE id = $2', params: ['shipped', counter] };
  return {
    run_id: `run_${process.pid}_${counter}`,
    step_id: 'remediate',
    workflow: 'incident-triage',
    requested_by: 'workflow.incident-triage',
    reason: 'prod write detected',
    policy_snapshot: '7f3d1a2b9c0e4f5a6b7c8d9e0f1a2b3c',
    policy_rule: 'prod-writes-need-approval',
    job_hash: `sha256:${sha256Hex(canonicalize(job)!)}`,
    job,
    risk_tags: ['prod', 'write'],
    constraints: { max_lines_changed: 500, max_runtime_sec: 900 },
    ...overrides,
  };
}
