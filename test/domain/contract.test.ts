import canonicalize from 'canonicalize';
import { describe, expect, it } from 'vitest';
import { approvalIdOf, normalizeHash, parseRequest, sha256Hex, shortHash } from '../../src/domain/contract.js';
import { validRequest } from '../../sandbox/valid-request.js';

function problemsOf(data: unknown): string[] {
  const parsed = parseRequest(data);
  return parsed.ok ? [] : parsed.problems;
}

describe('the request contract', () => {
  it('accepts a complete request', () => {
    expect(parseRequest(validRequest()).ok).toBe(true);
  });

  it('accepts a minimal request with only the required fields', () => {
    const minimal = { run_id: 'r', step_id: 's', requested_by: 'engine', reason: 'why', policy_snapshot: 'abcdef12', job_hash: 'ABCDEF1234', risk_tags: [] };
    expect(parseRequest(minimal)).toEqual({ ok: true, request: minimal });
  });

  it.each([
    ['reason missing', { reason: undefined }, 'reason: required'],
    ['run_id empty', { run_id: '  ' }, 'run_id: must not be empty'],
    ['risk_tags not an array', { risk_tags: 'prod' }, 'risk_tags: must be an array of strings'],
    ['risk_tags missing', { risk_tags: undefined }, 'risk_tags: required'],
    ['policy_snapshot not hex', { policy_snapshot: 'not-a-hash' }, 'policy_snapshot: must be a hex string'],
    ['job_hash too short', { job_hash: 'abc', job: undefined }, 'job_hash: must be a hex string'],
    ['channel a name instead of an ID', { channel: '#incident' }, 'channel: must be a Slack channel ID'],
    ['thread_ts malformed', { thread_ts: 'yesterday' }, 'thread_ts: must be a Slack message ts'],
    ['a constraint value that is an object', { constraints: { limit: { max: 1 } } }, 'constraints.limit: must be a string'],
    ['a reason over the limit', { reason: 'x'.repeat(10_001) }, 'reason: must be at most 10000 characters'],
  ])('rejects a request with %s', (_name, overrides, expected) => {
    expect(problemsOf(validRequest(overrides)).join('\n')).toContain(expected);
  });

  it('names every bad field at once', () => {
    const problems = problemsOf({ run_id: 'r', step_id: 's' });
    expect(problems).toEqual(
      expect.arrayContaining(['requested_by: required', 'reason: required', 'policy_snapshot: required', 'job_hash: required', 'risk_tags: required']),
    );
  });

  it('rejects data that is not an object', () => {
    expect(problemsOf('hello')).toEqual(['request: must be a JSON object']);
    expect(problemsOf(null)).toEqual(['request: must be a JSON object']);
  });

  it('rejects a job whose hash is not the SHA-256 of its RFC 8785 canonical JSON', () => {
    const job = { b: 2, a: 1 };
    const problems = problemsOf(validRequest({ job, job_hash: sha256Hex(JSON.stringify(job)) }));
    expect(problems.join()).toContain(`job_hash: does not match job: SHA-256 of its RFC 8785 canonical JSON is ${sha256Hex('{"a":1,"b":2}')}`);
  });

  it('accepts the job hash with or without the sha256: prefix, in any case', () => {
    const job = { b: [1, 'two'], a: { z: null, y: 1.5 } };
    const hex = sha256Hex(canonicalize(job)!);
    expect(parseRequest(validRequest({ job, job_hash: hex })).ok).toBe(true);
    expect(parseRequest(validRequest({ job, job_hash: `sha256:${hex.toUpperCase()}` })).ok).toBe(true);
  });

  it('normalizes and shortens hashes for display and comparison', () => {
    expect(normalizeHash('sha256:ABCDEF0123')).toBe('abcdef0123');
    expect(shortHash('sha256:ABCDEF0123456789')).toBe('abcdef012345');
  });

  it('derives one approval id per run and step, safe as a BullMQ job id', () => {
    const id = approvalIdOf({ run_id: 'run:1', step_id: 'a' });
    expect(id).toMatch(/^ap[0-9a-f]{32}$/);
    expect(approvalIdOf({ run_id: 'run:1', step_id: 'a' })).toBe(id);
    expect(approvalIdOf({ run_id: 'run:1a', step_id: '' })).not.toBe(id);
  });
});
