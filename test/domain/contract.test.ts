import canonicalize from 'canonicalize';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { approvalIdOf, LIMITS, normalizeHash, parseRequest, rawSizeProblem, sha256Hex, shortHash } from '../../src/domain/contract.js';
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

  it.each([
    ['a workflow on a run id in the MCP namespace', { run_id: 'mcp-1a2b3c', requested_by: 'workflow.deploy' }, 'run_id: must not start with "mcp-"'],
    ['an MCP requester on a workflow’s run id', { run_id: 'run_42', requested_by: 'mcp:claude-code' }, 'requested_by: must not start with "mcp:"'],
  ])('refuses %s, so neither can supersede the other’s card', (_name, overrides, expected) => {
    expect(problemsOf(validRequest(overrides))).toEqual([expect.stringContaining(expected)]);
  });

  it('accepts an MCP requester on an MCP run id, and a workflow on its own', () => {
    expect(problemsOf(validRequest({ run_id: 'mcp-1a2b3c', requested_by: 'mcp:claude-code' }))).toEqual([]);
    expect(problemsOf(validRequest({ run_id: 'MCP-is-not-the-prefix', requested_by: 'workflow.deploy' }))).toEqual([]);
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

/** A request as the bot receives it: JSON text parsed, so `__proto__` is a key like any other. */
function fromJson(request: Record<string, unknown>, replace: Record<string, string> = {}): unknown {
  let text = JSON.stringify(request);
  for (const [placeholder, json] of Object.entries(replace)) text = text.replace(JSON.stringify(placeholder), json);
  return JSON.parse(text);
}

/** JSON as Python's json.dumps writes it by default: every character outside ASCII escaped as \uXXXX. */
function asciiJson(value: unknown): string {
  return JSON.stringify(value).replace(/[\u007f-\uffff]/g, (c) => `\\u${c.charCodeAt(0).toString(16).padStart(4, '0')}`);
}

describe('hostile requests', () => {
  it('a job nested 2,000 levels deep is refused at once, naming where', () => {
    const deep = '['.repeat(2000) + ']'.repeat(2000);
    const problems = problemsOf(fromJson(validRequest({ job: 'JOB' }), { JOB: deep }));
    expect(problems).toEqual([expect.stringMatching(/^job: nested deeper than 64 levels at job\.0\.0\.0\.….0$/)]);
  });

  it('names the path of a deep object by its keys, shortened', () => {
    let job: unknown = 1;
    for (let i = 0; i < 100; i += 1) job = { [`level${100 - i}`]: job };
    const [problem] = problemsOf(validRequest({ job }));
    expect(problem).toBe('job: nested deeper than 64 levels at job.level1.level2.level3.….level64');
  });

  it('accepts a job exactly 64 levels deep', () => {
    let job: unknown = 'bottom';
    for (let i = 0; i < 64; i += 1) job = [job];
    expect(parseRequest(validRequest({ job })).ok).toBe(true);
  });

  it.each([
    ['constraints', { constraints: 'CONSTRAINTS' }, { CONSTRAINTS: '{"__proto__":"read_only","constructor":"c","max_rows":5}' }, ['constraints.__proto__', 'constraints.constructor']],
    ['job', { job: 'JOB' }, { JOB: '{"config":{"prototype":{"admin":true}},"steps":[{"__proto__":{"x":1}}]}' }, ['job.config.prototype']],
  ])('refuses keys that JavaScript treats specially in %s, naming them', (_where, overrides, replace, names) => {
    const request = fromJson(validRequest(overrides), replace as Record<string, string>);
    const problems = problemsOf(request);
    for (const name of names) expect(problems).toContainEqual(expect.stringMatching(new RegExp(`^${name.replace(/[.]/g, '\\.')}: "\\w+" is a reserved key`)));
  });

  it.each([
    ['expires_in_sec beyond 365 days', { expires_in_sec: 9e12 }, 'expires_in_sec: must be at most 31536000 seconds (365 days)'],
    ['a constraint number beyond 2^53', { constraints: { rows: 2 ** 60 } }, 'constraints.rows: must be'],
    ['a channel ID longer than any Slack ID', { channel: `C${'0'.repeat(64)}` }, 'channel: must be a Slack channel ID'],
  ])('refuses %s', (_what, overrides, expected) => {
    expect(problemsOf(validRequest(overrides)).join('\n')).toContain(expected);
  });

  it('refuses a number in the job that JSON.parse made infinite, naming it', () => {
    const request = fromJson(validRequest({ job: { limits: { rows: 'ROWS' } } }), { ROWS: '1e999' });
    expect(problemsOf(request)).toEqual(['job.limits.rows: must be a finite number']);
  });

  it('refuses a job over 64 KiB as canonical JSON, however it is spread', () => {
    const wide = Object.fromEntries(Array.from({ length: 200_000 }, (_, i) => [`key${i}`, i]));
    const long = ['x'.repeat(70_000)];
    for (const job of [wide, long]) expect(problemsOf({ ...validRequest(), job })).toEqual(['job: must be at most 65536 bytes as canonical JSON']);
  });

  it('answers for any JSON as job, with unpaired surrogates too: valid or problems, never an exception', () => {
    fc.assert(
      fc.property(fc.jsonValue({ stringUnit: fc.nat(0xffff).map((code) => String.fromCharCode(code)) }), (job) => {
        const parsed = parseRequest({ ...validRequest(), job });
        expect(typeof parsed.ok).toBe('boolean');
      }),
    );
  });

  it('a request at every field’s maximum, written with every non-ASCII character escaped, is valid and within the raw limit', () => {
    const wide = (units: number) => 'é'.repeat(units);
    // The widest job: characters outside the BMP, 4 bytes each as canonical JSON, 12 escaped.
    const job = '😀'.repeat((LIMITS.jobCanonicalBytes - 2) / 4);
    const request = {
      ...validRequest({ job }),
      run_id: wide(LIMITS.id),
      step_id: wide(LIMITS.id),
      workflow: wide(LIMITS.name),
      requested_by: wide(LIMITS.name),
      policy_rule: wide(LIMITS.name),
      reason: wide(LIMITS.reason),
      policy_snapshot: `sha256:${'a'.repeat(128)}`,
      risk_tags: Array.from({ length: LIMITS.riskTags }, () => wide(LIMITS.riskTag)),
      constraints: Object.fromEntries(Array.from({ length: LIMITS.constraints }, (_, i) => [`${String(i).padStart(2, '0')}${wide(LIMITS.constraintKey - 2)}`, wide(LIMITS.constraintValue)])),
      channel: `C${'A'.repeat(LIMITS.slackId - 1)}`,
      thread_ts: '999999999999.99999999',
      initiated_by: `U${'A'.repeat(LIMITS.slackId - 1)}`,
      expires_in_sec: LIMITS.expiresInSec,
    };
    const text = asciiJson(request);
    expect(parseRequest(JSON.parse(text))).toMatchObject({ ok: true });
    expect(Buffer.byteLength(text)).toBeGreaterThan(LIMITS.rawRequestBytes * 0.9);
    expect(rawSizeProblem(text)).toBeUndefined();
    expect(rawSizeProblem(text + ' '.repeat(LIMITS.rawRequestBytes))).toMatch(/^request: (at least )?\d+ bytes of JSON, more than the limit of 655360 bytes/);
  });
});
