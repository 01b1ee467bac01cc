/**
 * HTTP hardening shared by the experience APIs: security headers, refusal of path tricks in ids and URLs,
 * and of prototype-pollution keys in bodies. Pure functions, no express import.
 */

/** Headers every experience-API response carries (written by hand: no helmet-style dependency yet). */
export const SECURITY_HEADERS: Readonly<Record<string, string>> = Object.freeze({
  'X-Content-Type-Options': 'nosniff',
  'X-Frame-Options': 'DENY',
  'Content-Security-Policy': "default-src 'none'; frame-ancestors 'none'",
  'Referrer-Policy': 'no-referrer',
  'Cache-Control': 'no-store',
  'Cross-Origin-Resource-Policy': 'same-origin',
});

/** The part of an express/Node response we need. */
export interface HeaderTarget {
  setHeader(name: string, value: string | number | readonly string[]): unknown;
  removeHeader(name: string): unknown;
}

/** Sets the security headers (plus any extra ones) and removes `X-Powered-By`. */
export function applyHeaders(res: HeaderTarget, extra: Record<string, string> = {}): void {
  for (const [k, v] of Object.entries(SECURITY_HEADERS)) res.setHeader(k, v);
  for (const [k, v] of Object.entries(extra)) res.setHeader(k, v);
  res.removeHeader('X-Powered-By');
}

const FORBIDDEN_KEYS = new Set(['__proto__', 'constructor', 'prototype']);
const MAX_DEPTH = 32;

/** JSON pointers of every `__proto__`/`constructor`/`prototype` key in `value`, plus a note if it nests too deep. */
export function findHostileKeys(value: unknown, maxDepth = MAX_DEPTH): Array<{ path: string; message: string }> {
  const out: Array<{ path: string; message: string }> = [];
  const walk = (v: unknown, path: string, depth: number) => {
    if (out.length >= 20) return;
    if (v === null || typeof v !== 'object') return;
    if (depth > maxDepth) {
      out.push({ path: path || '/', message: `nests deeper than ${maxDepth} levels` });
      return;
    }
    if (Array.isArray(v)) {
      v.forEach((item, i) => walk(item, `${path}/${i}`, depth + 1));
      return;
    }
    for (const key of Object.keys(v)) {
      const p = `${path}/${key.replace(/~/g, '~0').replace(/\//g, '~1')}`;
      if (FORBIDDEN_KEYS.has(key)) out.push({ path: p, message: `key "${key}" is not allowed` });
      else walk((v as Record<string, unknown>)[key], p, depth + 1);
    }
  };
  walk(value, '', 0);
  return out;
}

/** Why a raw request URL is refused (dot segments, encoded slashes/backslashes/dots/NULs), or undefined. */
export function urlTrick(rawUrl: string): string | undefined {
  const pathPart = rawUrl.split('?')[0];
  if (/%(2f|5c|00|2e)/i.test(pathPart)) return 'encoded "/", "\\", "." or NUL characters are not allowed in the path';
  if (/%25/i.test(pathPart)) return 'double-encoded characters are not allowed in the path';
  if (pathPart.split('/').some((seg) => seg === '..' || seg === '.')) return 'dot segments are not allowed in the path';
  if (pathPart.includes('\\')) return 'backslashes are not allowed in the path';
  // eslint-disable-next-line no-control-regex -- control characters are exactly what this check refuses
  if (/[\u0000-\u001f\u007f]/.test(pathPart)) return 'control characters are not allowed in the path';
  return undefined;
}

/** An id usable in a path segment: the canonical id alphabet without `/`, no dot segments, at most 128 characters. */
const ID_RE = /^[A-Za-z0-9][A-Za-z0-9._:-]{0,127}$/;

/** Why an id (already URL-decoded) is refused, or undefined when it is safe. */
export function idProblem(id: unknown): string | undefined {
  if (typeof id !== 'string' || id === '') return 'is required';
  if (FORBIDDEN_KEYS.has(id)) return `"${id}" is not allowed as an id`;
  if (id.includes('..')) return 'must not contain ".."';
  if (/[/\\]/.test(id)) return 'must not contain "/" or "\\"';
  if (!ID_RE.test(id)) return 'must be 1-128 letters, digits and . _ : - starting with a letter or digit';
  return undefined;
}
