/**
 * An example engine that uses only the client: it asks for approval of a production write, waits
 * for a person to decide in Slack, checks the gate's signature and binding, and runs the job only
 * if all of that holds. Against the sandbox (`npm run sandbox` prints this line with its values):
 *
 *   REDIS_URL=… REQUEST_QUEUE=sandbox-requests RESUME_QUEUE=sandbox-decisions STATE_PREFIX=sandbox \
 *   POLICY_SNAPSHOT_KEY=sandbox:policy-snapshot DECISION_PUBLIC_KEY_FILE=… npx tsx examples/engine.ts
 *
 * In an engine of your own, import from 'slack-approval-gate/client' (this file imports the source,
 * so that it runs without a build).
 */
import { readFileSync } from 'node:fs';
import { createApprovalClient, DecisionTimeoutError, verifyDecision } from '../src/client/index.js';

const env = (name: string, fallback: string) => process.env[name] || fallback;
const say = (line: string) => process.stdout.write(`${line}\n`);
const publicKeyFile = process.env.DECISION_PUBLIC_KEY_FILE;
if (!publicKeyFile) throw new Error('set DECISION_PUBLIC_KEY_FILE to the gate\'s public key (npm run sandbox prints where it is)');
// The key id the gate signs with (DECISION_SIGNING_KEY_ID; the sandbox's is "sandbox").
const publicKeys = { [env('DECISION_SIGNING_KEY_ID', 'sandbox')]: readFileSync(publicKeyFile, 'utf8') };

const gate = createApprovalClient({
  connection: env('REDIS_URL', 'redis://127.0.0.1:6379'),
  requestQueue: env('REQUEST_QUEUE', 'approval-requests'),
  resumeQueue: env('RESUME_QUEUE', 'approval-resume'),
  policySnapshotKey: env('POLICY_SNAPSHOT_KEY', 'approvals:policy-snapshot'),
  statePrefix: env('STATE_PREFIX', 'approvals'),
  publicKeys,
});

const runId = `example-${Date.now()}`;
const job = { tool: 'postgres.execute', sql: 'UPDATE orders SET status = $1 WHERE id = $2', params: ['refunded', 4711] };
try {
  const handle = await gate.requestApproval({
    run_id: runId,
    step_id: 'refund',
    workflow: 'example-engine',
    requested_by: 'workflow.example-engine',
    reason: 'Refund order 4711: the customer was charged twice',
    job,
    risk_tags: ['prod', 'write'],
    constraints: { max_rows: 1 },
  });
  say(`asked for approval of run ${handle.run_id}, step ${handle.step_id}; waiting for a decision in Slack…`);
  const decision = await handle.decision({ timeoutMs: Number(env('WAIT_MS', String(15 * 60_000))) });
  // Checked now, against the snapshot in force now: a policy change since the click voids the approval.
  const check = verifyDecision(decision, { job, policySnapshot: (await gate.policySnapshot()) ?? '', publicKeys, step: handle });
  if (check.ok) {
    say(`approved by ${decision.decided_by.name}: running the job within ${JSON.stringify(decision.constraints)}`);
  } else {
    say(`not running the job: ${check.reason} (${check.detail})`);
    process.exitCode = 1;
  }
} catch (err) {
  process.stderr.write(`${err instanceof DecisionTimeoutError ? err.message : `the engine failed: ${(err as Error).message}`}\n`);
  process.exitCode = 1;
} finally {
  await gate.close();
}
