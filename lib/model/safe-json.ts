/**
 * Safe handling of untrusted input: size limit, nesting limit, prototype-pollution keys and malformed
 * JSON, each reported as field-level errors ({ path, message }) instead of exceptions.
 */
import type { FieldError } from './validator';

export const DEFAULT_MAX_BYTES = 1024 * 1024;
export const DEFAULT_MAX_DEPTH = 64;
export const FORBIDDEN_KEYS: readonly string[] = ['__proto__', 'constructor', 'prototype'];

export interface SafeInputOptions {
  /** Largest accepted input in bytes (UTF-8 for text, serialised JSON for values). Default 1 MB. */
  maxBytes?: number;
  /** Deepest accepted nesting of objects/arrays. Default 64. */
  maxDepth?: number;
  /** Keys refused anywhere in the input. Default `__proto__`, `constructor`, `prototype`. */
  forbiddenKeys?: readonly string[];
  /** At most this many key errors are listed (default 20). */
  maxErrors?: number;
}

export type SafeParseResult<T = unknown> = { ok: true; value: T; bytes: number } | { ok: false; errors: FieldError[] };

function formatBytes(n: number): string {
  if (n >= 1024 * 1024) return `${(n / (1024 * 1024)).toFixed(n % (1024 * 1024) === 0 ? 0 : 1)} MB`;
  if (n >= 1024) return `${(n / 1024).toFixed(n % 1024 === 0 ? 0 : 1)} KB`;
  return `${n} bytes`;
}

function tooLarge(bytes: number, max: number): FieldError {
  return { path: '', message: `is too large: ${bytes} bytes (${formatBytes(bytes)}); the limit is ${max} bytes (${formatBytes(max)})` };
}

function escapePointer(key: string): string {
  return key.replace(/~/g, '~0').replace(/\//g, '~1');
}

function lineCol(text: string, pos: number): string {
  let line = 1;
  let col = 1;
  for (let i = 0; i < pos && i < text.length; i++) {
    if (text.charCodeAt(i) === 10) {
      line++;
      col = 1;
    } else col++;
  }
  return `line ${line}, column ${col} (position ${pos})`;
}

/** Deepest nesting in JSON text, stopping at the first position beyond `limit`. Ignores brackets inside strings. */
function scanDepth(text: string, limit: number): { exceededAt?: number } {
  let depth = 0;
  let inString = false;
  for (let i = 0; i < text.length; i++) {
    const c = text.charCodeAt(i);
    if (inString) {
      if (c === 92) i++; // backslash: skip the escaped char
      else if (c === 34) inString = false;
    } else if (c === 34) inString = true;
    else if (c === 123 || c === 91) {
      depth++;
      if (depth > limit) return { exceededAt: i };
    } else if (c === 125 || c === 93) depth--;
  }
  return {};
}

/** Finds where JSON text goes wrong (only called after JSON.parse failed; nesting is already bounded). */
function locateSyntaxError(text: string): { pos: number; expected: string } {
  let i = 0;
  const ws = () => {
    while (i < text.length && ' \t\n\r'.includes(text[i])) i++;
  };
  class Stop {
    constructor(
      readonly pos: number,
      readonly expected: string,
    ) {}
  }
  const fail = (expected: string): never => {
    throw new Stop(i, expected);
  };
  const str = () => {
    if (text[i] !== '"') fail('a string in double quotes');
    i++;
    for (;;) {
      if (i >= text.length) fail('a closing double quote');
      const c = text.charCodeAt(i);
      if (c === 34) {
        i++;
        return;
      }
      if (c < 32) fail('no control characters inside a string (escape them, e.g. \\n)');
      if (c === 92) {
        const n = text[i + 1];
        if (n === 'u') {
          if (!/^[0-9a-fA-F]{4}$/.test(text.slice(i + 2, i + 6))) {
            i++;
            fail('four hex digits after \\u');
          }
          i += 6;
          continue;
        }
        if (n === undefined || !'"\\/bfnrt'.includes(n)) {
          i++;
          fail('a valid escape (\\" \\\\ \\/ \\b \\f \\n \\r \\t \\uXXXX)');
        }
        i += 2;
        continue;
      }
      i++;
    }
  };
  const value = (): void => {
    ws();
    const c = text[i];
    if (c === '{') {
      i++;
      ws();
      if (text[i] === '}') {
        i++;
        return;
      }
      for (;;) {
        ws();
        str();
        ws();
        if (text[i] !== ':') fail('":" after a property name');
        i++;
        value();
        ws();
        if (text[i] === ',') {
          i++;
          continue;
        }
        if (text[i] === '}') {
          i++;
          return;
        }
        fail('"," or "}" after a property value');
      }
    }
    if (c === '[') {
      i++;
      ws();
      if (text[i] === ']') {
        i++;
        return;
      }
      for (;;) {
        value();
        ws();
        if (text[i] === ',') {
          i++;
          continue;
        }
        if (text[i] === ']') {
          i++;
          return;
        }
        fail('"," or "]" after an array item');
      }
    }
    if (c === '"') return str();
    const num = /^-?(?:0|[1-9][0-9]*)(?:\.[0-9]+)?(?:[eE][+-]?[0-9]+)?/.exec(text.slice(i, i + 400));
    if (num && num[0].length > 0 && num[0] !== '-') {
      i += num[0].length;
      return;
    }
    for (const lit of ['true', 'false', 'null']) {
      if (text.startsWith(lit, i)) {
        i += lit.length;
        return;
      }
    }
    fail('a value (object, array, string, number, true, false or null)');
  };
  try {
    value();
    ws();
    if (i < text.length) fail('the end of the text');
    return { pos: text.length, expected: 'valid JSON' };
  } catch (e) {
    if (e instanceof Stop) return { pos: e.pos, expected: e.expected };
    throw e;
  }
}

interface WalkOptions {
  maxDepth: number;
  forbidden: ReadonlySet<string>;
  maxErrors: number;
  detectCycles: boolean;
}

/** Iterative walk: forbidden keys (with their path), nesting depth, cycles. */
function walk(root: unknown, o: WalkOptions): FieldError[] {
  const errors: FieldError[] = [];
  const stack: Array<{ v: unknown; path: string; depth: number }> = [{ v: root, path: '', depth: 0 }];
  const seen = o.detectCycles ? new Set<object>() : undefined;
  let more = 0;
  while (stack.length) {
    const { v, path, depth } = stack.pop()!;
    if (v === null || typeof v !== 'object') continue;
    if (depth + 1 > o.maxDepth) {
      errors.push({ path, message: `nests deeper than ${o.maxDepth} levels of objects/arrays` });
      break;
    }
    if (seen) {
      if (seen.has(v)) continue; // shared or circular reference: checked once (JSON.stringify reports a cycle)
      seen.add(v);
    }
    if (Array.isArray(v)) {
      for (let i = v.length - 1; i >= 0; i--) stack.push({ v: v[i], path: `${path}/${i}`, depth: depth + 1 });
      continue;
    }
    const keys = Object.keys(v);
    for (let k = keys.length - 1; k >= 0; k--) {
      const key = keys[k];
      const childPath = `${path}/${escapePointer(key)}`;
      if (o.forbidden.has(key)) {
        if (errors.length < o.maxErrors) errors.push({ path: childPath, message: `uses the forbidden key "${key}" (refused to prevent prototype pollution); rename or remove it` });
        else more++;
        continue;
      }
      stack.push({ v: (v as Record<string, unknown>)[key], path: childPath, depth: depth + 1 });
    }
  }
  if (more) errors.push({ path: '', message: `... and ${more} more forbidden keys` });
  return errors;
}

function opts(options: SafeInputOptions) {
  return {
    maxBytes: options.maxBytes ?? DEFAULT_MAX_BYTES,
    maxDepth: options.maxDepth ?? DEFAULT_MAX_DEPTH,
    forbidden: new Set(options.forbiddenKeys ?? FORBIDDEN_KEYS),
    maxErrors: options.maxErrors ?? 20,
  };
}

/**
 * Parses untrusted JSON text (string or Buffer, UTF-8). Never throws: refuses oversize input (with its size),
 * nesting deeper than maxDepth (with the position), malformed JSON (with line, column and position) and
 * forbidden keys such as `__proto__` (with the JSON Pointer of each).
 */
export function parseJsonSafely<T = unknown>(text: string | Buffer | Uint8Array, options: SafeInputOptions = {}): SafeParseResult<T> {
  const o = opts(options);
  let s: string;
  let bytes: number;
  if (typeof text === 'string') {
    bytes = Buffer.byteLength(text, 'utf8');
    if (bytes > o.maxBytes) return { ok: false, errors: [tooLarge(bytes, o.maxBytes)] };
    s = text;
  } else if (text instanceof Uint8Array) {
    bytes = text.byteLength;
    if (bytes > o.maxBytes) return { ok: false, errors: [tooLarge(bytes, o.maxBytes)] };
    s = Buffer.from(text.buffer, text.byteOffset, text.byteLength).toString('utf8');
  } else {
    const got = text === null ? 'null' : Array.isArray(text) ? 'array' : typeof text;
    return { ok: false, errors: [{ path: '', message: `must be JSON text (got ${got})` }] };
  }
  if (s.charCodeAt(0) === 0xfeff) s = s.slice(1); // byte order mark
  if (s.trim() === '') return { ok: false, errors: [{ path: '', message: 'is empty; expected JSON text' }] };
  const depth = scanDepth(s, o.maxDepth);
  if (depth.exceededAt !== undefined) {
    return { ok: false, errors: [{ path: '', message: `nests deeper than ${o.maxDepth} levels of objects/arrays (at ${lineCol(s, depth.exceededAt)})` }] };
  }
  let value: unknown;
  try {
    value = JSON.parse(s);
  } catch {
    const { pos, expected } = locateSyntaxError(s);
    const found = pos >= s.length ? 'the end of the text' : JSON.stringify(s[pos]);
    return { ok: false, errors: [{ path: '', message: `is not valid JSON: found ${found} at ${lineCol(s, pos)}, expected ${expected}` }] };
  }
  const errors = walk(value, { ...o, detectCycles: false });
  return errors.length ? { ok: false, errors } : { ok: true, value: value as T, bytes };
}

/**
 * Checks a value already in memory (e.g. an object `msg.payload`) by the same rules: forbidden keys, nesting,
 * cycles, and size of its JSON serialisation. Never throws.
 */
export function checkValueSafely(value: unknown, options: SafeInputOptions = {}): { ok: true; bytes: number } | { ok: false; errors: FieldError[] } {
  const o = opts(options);
  const errors = walk(value, { ...o, detectCycles: true });
  if (errors.length) return { ok: false, errors };
  let json: string | undefined;
  try {
    json = JSON.stringify(value);
  } catch (err) {
    const msg = (err as Error).message;
    const circular = /circular/i.test(msg);
    return { ok: false, errors: [{ path: '', message: circular ? 'contains a circular reference (cannot be serialised as JSON)' : `cannot be serialised as JSON: ${msg}` }] };
  }
  const bytes = json === undefined ? 0 : Buffer.byteLength(json, 'utf8');
  if (bytes > o.maxBytes) return { ok: false, errors: [tooLarge(bytes, o.maxBytes)] };
  return { ok: true, bytes };
}
