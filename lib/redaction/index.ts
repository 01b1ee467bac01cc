/**
 * Removes secrets from anything PS Fabric persists (exceptions, audit, outbox responses) or logs.
 *
 * `redact(value)` returns a deep JSON copy: values under secret-looking keys become "[redacted]",
 * credentials embedded in strings (Bearer/Basic, URL user-info, `?access_token=`, JWTs) are masked.
 * It never throws on hostile input: cycles, `__proto__`/`constructor` keys, deep nesting, Buffers,
 * BigInts and functions all give a plain, JSON-serialisable result.
 */
import type { Json } from '../store/store';

export const REDACTED = '[redacted]';

/** Deeper than this is cut off: hostile payloads nest deeply to exhaust the stack. */
const MAX_DEPTH = 64;

/**
 * Key fragments (lower-case, separators removed) that mark a secret. Matched as substrings of the
 * normalised key, so `X-Api-Key`, `client_secret`, `refreshToken`, `Set-Cookie` are all caught.
 */
const SECRET_KEY_FRAGMENTS = [
  'password',
  'passwd',
  'passphrase',
  'secret',
  'token',
  'authorization',
  'apikey',
  'privatekey',
  'signature',
  'cookie',
  'credential',
  'sessionid',
  'consumerkey',
];
/** Keys that are secrets only as a whole word (substring matching them would hit ordinary fields). */
const SECRET_KEYS_EXACT = new Set(['pwd', 'pass', 'auth', 'sig', 'jwt', 'otp', 'pin']);

function normaliseKey(key: string): string {
  return key.toLowerCase().replace(/[^a-z0-9]/g, '');
}

/** True when a property named `key` holds something that must never be stored or logged. */
export function isSecretKey(key: string): boolean {
  const norm = normaliseKey(key);
  if (SECRET_KEYS_EXACT.has(norm)) return true;
  return SECRET_KEY_FRAGMENTS.some((fragment) => norm.includes(fragment));
}

// A key name, as it appears in `key=value`, `key: value` or `"key": "value"` text. The parts around the secret word are
// bounded (64 characters): unbounded, a long run of name characters (hostile input such as 60 KB of "a.a.a." or
// "passwordpassword...") was re-scanned from every position, quadratic (10 s for 60 KB, reliability scenario 7).
const SECRET_NAME_PATTERN =
  '[A-Za-z0-9_.-]{0,64}(?:password|passwd|passphrase|secret|token|authorization|api[_-]?key|private[_-]?key|signature|cookie|credential|session[_-]?id)[A-Za-z0-9_.-]{0,64}';

const SCHEME = '(?:Bearer|Basic|Digest|Token)';

const STRING_RULES: Array<[RegExp, string]> = [
  // Authorization schemes: keep the scheme so a reader knows what kind of credential was there.
  [/\b(Bearer|Basic|Digest|Token)\s+[A-Za-z0-9\-._~+/]+=*/gi, `$1 ${REDACTED}`],
  // user:password@host in URLs (connection strings for brokers, databases, SFTP).
  // The scheme starts where a run of scheme characters starts and is at most 32 long: without both, a long run of
  // letters (a hostile 60 KB payload) was scanned from every position, quadratic (7 s for 57 KB, reliability scenario 7).
  [/(?<![a-z0-9+.-])([a-z][a-z0-9+.-]{0,31}:\/\/[^\s:/@]+):[^\s@/]+@/gi, `$1:${REDACTED}@`],
  // JSON Web Tokens wherever they appear.
  [/\beyJ[A-Za-z0-9_-]{5,}\.[A-Za-z0-9_-]{5,}\.[A-Za-z0-9_-]*/g, REDACTED],
  // Query strings and form bodies: ?access_token=..., &client_secret=..., password=...
  [new RegExp(`(^|[?&;,(\\s])(${SECRET_NAME_PATTERN})=([^&\\s#;,)]*)`, 'gi'), `$1$2=${REDACTED}`],
];

// Log-line rules on top: `password: x`, `"client_secret":"x"`, `Authorization: Basic ...`.
const LOG_RULES: Array<[RegExp, string]> = [
  [new RegExp(`("(${SECRET_NAME_PATTERN})"\\s*:\\s*)"(?:[^"\\\\]|\\\\.)*"`, 'gi'), `$1"${REDACTED}"`],
  // The look-ahead skips values an earlier rule already masked (`Authorization: Bearer [redacted]`).
  [
    new RegExp(`(\\b(${SECRET_NAME_PATTERN})\\s*:\\s*)(?!(?:${SCHEME}\\s+)?\\[redacted\\])((?:${SCHEME}\\s+)?)[^\\s,;"'}]+`, 'gi'),
    `$1$3${REDACTED}`,
  ],
];

function applyRules(text: string, rules: Array<[RegExp, string]>): string {
  let out = text;
  for (const [pattern, replacement] of rules) out = out.replace(pattern, replacement);
  return out;
}

function redactValueString(text: string): string {
  return applyRules(text, STRING_RULES);
}

/** Masks credentials in a free-text line (log messages, error messages from vendors). */
export function redactString(text: string): string {
  return applyRules(applyRules(text, STRING_RULES), LOG_RULES);
}

/** Sets an own, enumerable data property even for `__proto__` (plain assignment would change the prototype). */
function defineOwn(target: { [key: string]: Json }, key: string, value: Json): void {
  Object.defineProperty(target, key, { value, enumerable: true, writable: true, configurable: true });
}

function redactInner(value: unknown, depth: number, ancestors: Set<object>): Json | undefined {
  switch (typeof value) {
    case 'string':
      return redactValueString(value);
    case 'number':
      return Number.isFinite(value) ? value : null;
    case 'boolean':
      return value;
    case 'bigint':
      return value.toString();
    case 'undefined':
    case 'function':
    case 'symbol':
      return undefined;
  }
  if (value === null) return null;
  const obj = value as object;
  if (depth >= MAX_DEPTH) return '[truncated: nested too deeply]';
  if (ancestors.has(obj)) return '[circular]';
  if (Buffer.isBuffer(obj) || ArrayBuffer.isView(obj)) return `[binary ${(obj as ArrayBufferView).byteLength} bytes]`;
  if (obj instanceof Date) return Number.isNaN(obj.getTime()) ? null : obj.toISOString();
  if (obj instanceof Error) {
    return { name: obj.name, message: redactString(obj.message) };
  }
  ancestors.add(obj);
  try {
    if (Array.isArray(obj) || obj instanceof Set) {
      return Array.from(obj as Iterable<unknown>).map((item) => {
        const copy = redactInner(item, depth + 1, ancestors);
        return copy === undefined ? null : copy;
      });
    }
    const source: object = obj instanceof Map ? Object.fromEntries(obj) : obj;
    const out: { [key: string]: Json } = {};
    for (const key of Object.keys(source)) {
      const raw = (source as Record<string, unknown>)[key];
      if (isSecretKey(key) && raw !== null && raw !== undefined && raw !== '') {
        defineOwn(out, key, REDACTED);
        continue;
      }
      const copy = redactInner(raw, depth + 1, ancestors);
      if (copy !== undefined) defineOwn(out, key, copy);
    }
    return out;
  } finally {
    ancestors.delete(obj);
  }
}

/** A redacted deep copy of `value` as plain JSON (undefined and functions dropped, as JSON.stringify does). */
export function redact(value: unknown): Json {
  const copy = redactInner(value, 0, new Set());
  return copy === undefined ? null : copy;
}
