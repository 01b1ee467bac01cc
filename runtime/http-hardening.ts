/**
 * Security headers and request-body limits for the runtime's HTTP endpoints, as Node-RED middleware settings
 * (runtime/settings-builder.ts):
 *
 *  - `httpNodeMiddleware` (every `http in` node route, e.g. the experience APIs): `X-Content-Type-Options: nosniff`,
 *    `X-Frame-Options: DENY` + `Content-Security-Policy: frame-ancestors 'none'`, `Referrer-Policy: no-referrer`,
 *    no `X-Powered-By`; and the JSON body parsed HERE, before Node-RED's own parser, with a limit
 *    (FABRIC_HTTP_MAX_LENGTH, default 1mb) so an oversized body gets 413 and malformed JSON 400 with a clear JSON
 *    message. (Node-RED's http-in parser would answer both with a bare 500 and log a warning; Node-RED 4.1 has no
 *    separate http-in size setting: its parser uses `apiMaxLength`.)
 *  - `httpAdminMiddleware` (editor + admin API, which see every request first since both roots are `/`): nosniff, `X-Frame-Options: SAMEORIGIN` + `frame-ancestors 'self'`
 *    (the editor may frame its own pages; nobody else may frame it), `Referrer-Policy: same-origin`. No full CSP on the
 *    editor: it needs inline scripts and Monaco's workers.
 */
import express from 'express';

type Req = express.Request;
type Res = express.Response;
type Next = express.NextFunction;

export const NODE_HEADERS: Readonly<Record<string, string>> = Object.freeze({
  'X-Content-Type-Options': 'nosniff',
  'X-Frame-Options': 'DENY',
  'Content-Security-Policy': "frame-ancestors 'none'",
  'Referrer-Policy': 'no-referrer',
});

export const ADMIN_HEADERS: Readonly<Record<string, string>> = Object.freeze({
  'X-Content-Type-Options': 'nosniff',
  'X-Frame-Options': 'SAMEORIGIN',
  'Content-Security-Policy': "frame-ancestors 'self'",
  'Referrer-Policy': 'same-origin',
});

function headers(values: Readonly<Record<string, string>>) {
  return (_req: Req, res: Res, next: Next) => {
    for (const [k, v] of Object.entries(values)) if (!res.getHeader(k)) res.setHeader(k, v);
    res.removeHeader('X-Powered-By');
    next();
  };
}

/** The JSON error answer for a body-parser failure (413 too large, 400 malformed, 415 charset), with the node headers. */
function bodyError(err: { type?: string; status?: number; statusCode?: number; limit?: number; message?: string }, res: Res): void {
  const status = err.status ?? err.statusCode ?? 400;
  for (const [k, v] of Object.entries(NODE_HEADERS)) res.setHeader(k, v);
  res.setHeader('Cache-Control', 'no-store');
  if (err.type === 'entity.too.large' || status === 413) {
    res.status(413).json({ error: `request body larger than ${err.limit ?? 'the limit'} bytes` });
  } else if (err.type === 'entity.parse.failed') {
    // body-parser's message names the position, never echoes the body
    res.status(400).json({ error: 'malformed JSON body', errors: [{ path: '/', message: String(err.message ?? 'invalid JSON').slice(0, 200) }] });
  } else if (err.type === 'charset.unsupported' || err.type === 'encoding.unsupported' || status === 415) {
    res.status(415).json({ error: String(err.message ?? 'unsupported encoding').slice(0, 200) });
  } else {
    res.status(status >= 400 && status < 500 ? status : 400).json({ error: 'invalid request body' });
  }
}

/** `httpNodeMiddleware`: headers, then JSON bodies parsed with `limit` (bytes or '1mb'); parse errors answered here. */
export function httpNodeMiddleware(limit: string | number = '1mb'): Array<(req: Req, res: Res, next: Next) => void> {
  const json = express.json({ limit, strict: true, type: ['application/json', 'application/*+json'] });
  return [
    headers(NODE_HEADERS),
    (req, res, next) => {
      json(req, res, (err?: unknown) => {
        if (err) return bodyError(err as Parameters<typeof bodyError>[0], res);
        next();
      });
    },
  ];
}

/**
 * `httpAdminMiddleware`: headers for the editor and the admin API, and the JSON body parsed with the admin limit
 * (`apiMaxLength`). With `httpAdminRoot` and `httpNodeRoot` both `/`, the admin app sees every request first and its
 * own parser would answer a malformed body with express' HTML error page (stack trace included); parsing here answers
 * 400/413 as JSON instead. A parsed body is not parsed again (body-parser marks `req._body`), so http-in routes get it.
 */
export function httpAdminMiddleware(limit: string | number = '5mb'): Array<(req: Req, res: Res, next: Next) => void> {
  const json = express.json({ limit, strict: true, type: ['application/json', 'application/*+json'] });
  return [
    headers(ADMIN_HEADERS),
    (req, res, next) => {
      json(req, res, (err?: unknown) => {
        if (err) return bodyError(err as Parameters<typeof bodyError>[0], res);
        next();
      });
    },
  ];
}
