import { hashTagOf, keySlot } from './key-slot.js';

/** Where the gate's keys are: the names every key is built from (see the README's Configuration). */
export interface KeyLayout {
  /** QUEUE_PREFIX: BullMQ's keys are `<prefix>:<queue>:<suffix>`. */
  queuePrefix: string;
  /** The queue names under it (REQUEST_QUEUE, RESUME_QUEUE, the timers queue). */
  queues: string[];
  /** STATE_PREFIX: the bot's own keys are `<prefix>:<suffix>`. */
  statePrefix: string;
  /** POLICY_SNAPSHOT_KEY, a whole key. */
  policySnapshotKey: string;
}

/** The tag suggested when the settings name none. */
const SUGGESTED_TAG = 'approval-gate';

/**
 * Whether every key the gate, its queues and its engines build lands in one Redis Cluster slot. A
 * key family is safe only when its hash tag closes within the part every key of the family shares
 * (the prefix, the queue name): then no suffix (an approval id, a job id, a Lua-built key) can move
 * it. One slot for everything lets the store read a record with the policy snapshot in one
 * transaction, and lets keys added later under STATE_PREFIX follow without a change here.
 * Pure.
 * @returns undefined when the layout is safe; otherwise what is wrong and the settings that fix it
 *   (a sentence to follow "REDIS_CLUSTER_NODES is set, so ").
 */
export function clusterLayoutProblem(layout: KeyLayout): string | undefined {
  const families = [
    ...layout.queues.map((queue) => ({ setting: 'QUEUE_PREFIX', shared: `${layout.queuePrefix}:${queue}:` })),
    { setting: 'STATE_PREFIX', shared: `${layout.statePrefix}:` },
    { setting: 'POLICY_SNAPSHOT_KEY', shared: layout.policySnapshotKey },
  ];
  const untagged = families.filter((family) => hashTagOf(family.shared) === undefined);
  const slots = new Map(families.filter((family) => !untagged.includes(family)).map((family) => [family.shared, keySlot(family.shared)]));
  const distinct = new Set(slots.values());
  if (untagged.length === 0 && distinct.size <= 1) return undefined;
  const problems: string[] = [];
  // One line per setting: the first queue's keys stand for the others under the same QUEUE_PREFIX.
  for (const family of untagged.filter((f, i) => untagged.findIndex((g) => g.setting === f.setting) === i)) {
    problems.push(`${family.setting} gives keys "${family.shared}…" with no hash tag ({…}) that every key shares, so they spread over the whole cluster`);
  }
  if (distinct.size > 1) problems.push(`the hash tags put keys in ${distinct.size} slots: ${[...slots].map(([shared, slot]) => `"${shared}…" in slot ${slot}`).join(', ')}`);
  const tag = families.map((family) => hashTagOf(family.shared)).find((found) => found !== undefined) ?? SUGGESTED_TAG;
  return (
    'every key of the gate must be in one cluster slot (a script or transaction over keys of two slots fails with CROSSSLOT): ' +
    `${problems.join('; ')}. Fix: begin QUEUE_PREFIX, STATE_PREFIX and POLICY_SNAPSHOT_KEY with one hash tag, e.g. ` +
    `QUEUE_PREFIX={${tag}} STATE_PREFIX={${tag}}:approvals POLICY_SNAPSHOT_KEY={${tag}}:policy-snapshot, and give the engines' clients the same settings`
  );
}
