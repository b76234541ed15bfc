import { z } from 'zod';
import { CancelSchema, DecisionSchema, PolicySchema, RequestSchema } from './contract.js';

/**
 * The contract as JSON Schema (draft 2020-12), for engines in other languages: made from the same
 * zod schemas the bot checks jobs with, so the two cannot drift (a test compares the committed files).
 */

const DESCRIPTIONS = {
  request: {
    title: 'Approval request',
    description:
      'A job named "request" on REQUEST_QUEUE. Beyond this schema the bot checks that the data is at most 640 KiB as JSON text (before parsing it); that job_hash is the SHA-256 of the RFC 8785 canonical JSON of job (when job is sent); that job is at most 64 KiB as canonical JSON and 64 levels deep, with finite numbers and well-formed strings; and that no key of constraints or job is "__proto__", "constructor" or "prototype".',
  },
  cancel: { title: 'Cancel', description: 'A job named "cancel" on REQUEST_QUEUE: the engine no longer needs the approval.' },
  policy: { title: 'Policy change', description: 'A job named "policy" on REQUEST_QUEUE: the policy snapshot now in force.' },
  decision: { title: 'Decision', description: 'A job named "decision" on RESUME_QUEUE, with job id "decision-<approval id>".' },
} as const;

/** File name → JSON Schema, for `schemas/`. */
export function renderJsonSchemas(): Record<string, unknown> {
  const render = (name: keyof typeof DESCRIPTIONS, schema: z.ZodType, io: 'input' | 'output') => {
    const { $schema, ...rest } = z.toJSONSchema(schema, { io, unrepresentable: 'any' }) as Record<string, unknown>;
    return [`${name}.schema.json`, { $schema, ...DESCRIPTIONS[name], ...rest }] as const;
  };
  return Object.fromEntries([
    // What an engine may send (before the bot trims strings), and what it receives.
    render('request', RequestSchema, 'input'),
    render('cancel', CancelSchema, 'input'),
    render('policy', PolicySchema, 'input'),
    render('decision', DecisionSchema, 'output'),
  ]);
}
