/**
 * Bounds on a JSON value from an engine, checked without recursion, before anything recursive
 * (canonicalization, hashing, pretty-printing) touches it.
 */

/**
 * Keys refused in every object the contract copies (`constraints`, and anywhere in `job`).
 * JavaScript gives them a meaning of their own: zod's record parsing and object spreads drop
 * `__proto__` or set a prototype with it, and code that reads `obj.constructor` or
 * `obj.prototype` finds something the engine did not send. The decision would then not echo the
 * request exactly, and the job hash could be computed over something other than what was shown.
 */
export const RESERVED_KEYS: ReadonlySet<string> = new Set(['__proto__', 'constructor', 'prototype']);

/** Why a key is refused, for a problem message. */
export function reservedKeyMessage(key: string): string {
  return `"${key}" is a reserved key (JavaScript gives it a meaning of its own, so it could not be echoed or hashed exactly): rename it`;
}

export interface JsonBounds {
  /** Most levels of arrays and objects, the value itself being level 1. */
  maxDepth: number;
  /** Most bytes as canonical (RFC 8785) JSON; the walk stops once a lower bound of the size passes it. */
  maxBytes: number;
}

interface Frame {
  value: unknown;
  key: string | number | undefined;
  parent: Frame | undefined;
  depth: number;
}

// Unpaired UTF-16 surrogates: valid in JS strings and JSON text, but RFC 8785 cannot write them.
const LONE_SURROGATE = /[\uD800-\uDFFF]/u;
// The path in a message keeps this many leading keys and the last one; each key this many characters.
const PATH_HEAD = 3;
const KEY_CHARS = 40;

/**
 * The first problem that keeps `value` (named `field` in messages) within the contract, or undefined:
 * nested deeper than `maxDepth`, larger than `maxBytes` as canonical JSON, a reserved key, a number
 * that is not finite, an unpaired surrogate, or something that is not JSON at all. Iterative (an
 * explicit stack), so no depth overflows the call stack; it visits at most about `maxBytes` nodes,
 * since each one adds at least a byte to the canonical size it keeps as a lower bound.
 * @returns e.g. `job: nested deeper than 64 levels at job.a.b.c.….z`, or `job.steps.0.__proto__: "__proto__" is a reserved key…`
 */
export function findJsonProblem(value: unknown, field: string, bounds: JsonBounds): string | undefined {
  const stack: Frame[] = [{ value, key: undefined, parent: undefined, depth: 1 }];
  const tooBig = `${field}: must be at most ${bounds.maxBytes} bytes as canonical JSON`;
  let bytes = 0;
  while (stack.length > 0) {
    const frame = stack.pop()!;
    const v = frame.value;
    if (v === null || v === true) bytes += 4;
    else if (v === false) bytes += 5;
    else if (typeof v === 'number') {
      if (!Number.isFinite(v)) return `${pathOf(frame, field)}: must be a finite number`;
      bytes += 1;
    } else if (typeof v === 'string') {
      if (LONE_SURROGATE.test(v)) return `${pathOf(frame, field)}: ${UNPAIRED}`;
      bytes += v.length + 2;
    } else if (typeof v === 'object') {
      if (frame.depth > bounds.maxDepth) return `${field}: nested deeper than ${bounds.maxDepth} levels at ${shortPath(frame, field)}`;
      const keys: (string | number)[] = Array.isArray(v) ? Array.from(v.keys()) : Object.keys(v);
      bytes += 1 + keys.length;
      // Pushed last first, so problems are found in the order they appear.
      for (let i = keys.length - 1; i >= 0; i -= 1) {
        const key = keys[i]!;
        if (typeof key === 'string') {
          if (RESERVED_KEYS.has(key)) return `${pathOf({ value: undefined, key, parent: frame, depth: 0 }, field)}: ${reservedKeyMessage(key)}`;
          if (LONE_SURROGATE.test(key)) return `${pathOf(frame, field)}: a key is not well-formed text: ${UNPAIRED}`;
          bytes += key.length + 3;
          if (bytes > bounds.maxBytes) return tooBig;
        }
        stack.push({ value: (v as Record<string | number, unknown>)[key], key, parent: frame, depth: frame.depth + 1 });
      }
    } else {
      return `${pathOf(frame, field)}: must be JSON (a string, number, boolean, null, array or object)`;
    }
    if (bytes > bounds.maxBytes) return tooBig;
  }
  return undefined;
}

const UNPAIRED = 'contains an unpaired UTF-16 surrogate, which RFC 8785 JSON cannot represent';

function keysOf(frame: Frame): (string | number)[] {
  const keys: (string | number)[] = [];
  for (let f: Frame | undefined = frame; f?.key !== undefined; f = f.parent) keys.push(f.key);
  return keys.reverse();
}

function pathOf(frame: Frame, field: string): string {
  return [field, ...keysOf(frame)].join('.');
}

/** The path, with long keys cut and the middle of a long path left out: `job.a.b.c.….z`. */
function shortPath(frame: Frame, field: string): string {
  const keys = keysOf(frame).map((key) => (typeof key === 'string' && key.length > KEY_CHARS ? `${key.slice(0, KEY_CHARS - 1)}…` : String(key)));
  const shown = keys.length > PATH_HEAD + 2 ? [...keys.slice(0, PATH_HEAD), '…', keys.at(-1)!] : keys;
  return [field, ...shown].join('.');
}
