import { describe, expect, it } from 'vitest';
import { boundFields, JOB_FIELD_MAX_CHARS } from '../../src/intake/bounded-worker.js';

/** A job hash as BullMQ's fetch returns it: field, value, field, value… */
const hashOf = (fields: Record<string, string>) => Object.entries(fields).flat();

describe('bounding a fetched job hash before BullMQ parses it', () => {
  it('leaves a hash whose every field is within its bound untouched', () => {
    const hash = hashOf({ name: 'request', data: '{"run_id":"r"}', opts: '{"attempts":3}', progress: '0', timestamp: '1764000000000' });
    const before = [...hash];
    expect(boundFields(hash)).toBeUndefined();
    expect(hash).toEqual(before);
  });

  it.each([
    ['name', 'x'.repeat(JOB_FIELD_MAX_CHARS + 1)],
    ['opts', `{"bulky":"${'x'.repeat(JOB_FIELD_MAX_CHARS)}"}`],
    ['progress', `[${'1,'.repeat(JOB_FIELD_MAX_CHARS)}1]`],
    ['parent', `{"id":"${'x'.repeat(JOB_FIELD_MAX_CHARS)}"}`],
    ['stacktrace', `["${'x'.repeat(JOB_FIELD_MAX_CHARS)}"]`],
  ])('empties an oversized %s and names it with its size', (field, value) => {
    const hash = hashOf({ name: 'request', data: '{}', [field]: value });
    expect(boundFields(hash)).toBe(
      `job field "${field}": ${value.length} characters, more than the limit of ${JOB_FIELD_MAX_CHARS} (64 KiB) for any field but data, so the job was not read`,
    );
    expect(hash[hash.indexOf(field) + 1]).toBe('');
  });

  it('allows any field up to 64 Ki characters', () => {
    expect(boundFields(hashOf({ name: 'x'.repeat(JOB_FIELD_MAX_CHARS) }))).toBeUndefined();
  });

  it('replaces oversized data with {} and names it as the data limit does; the first refusal is the one reported', () => {
    const hash = hashOf({ data: 'x'.repeat(700_000), opts: 'y'.repeat(JOB_FIELD_MAX_CHARS + 1) });
    expect(boundFields(hash)).toMatch(/^request: at least 700000 bytes of JSON, more than the limit of 655360 bytes \(640 KiB\)/);
    expect(hash).toEqual(['data', '{}', 'opts', '']);
  });

  it('cuts a long field name in the reason, so the reason stays short', () => {
    const reason = boundFields(hashOf({ ['k'.repeat(1000)]: 'v'.repeat(JOB_FIELD_MAX_CHARS + 1) }));
    expect(reason).toContain(`job field "${'k'.repeat(40)}"`);
    expect(reason!.length).toBeLessThan(200);
  });
});
