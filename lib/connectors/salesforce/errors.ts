/**
 * Turns what jsforce throws into PS Fabric's typed errors. jsforce's HttpApiError carries the vendor's
 * error body (`data`, `errorCode`) but not the HTTP status or headers, so the client records the last
 * response of each operation (see client.ts) and this module hands `classify` an HTTP-shaped error.
 */
import { classify, FabricError, PermanentError, TransientError } from '../../delivery/errors';
import type { Json } from '../../store/store';

export interface CapturedResponse {
  status: number;
  headers: Record<string, string>;
  body: string;
}

/** OAuth token endpoint errors (`{ error, error_description }`), which jsforce throws with `name = error`. */
const OAUTH_ERRORS = new Set(['invalid_grant', 'invalid_client', 'invalid_client_id', 'unsupported_grant_type', 'invalid_request', 'inactive_user', 'inactive_org', 'unauthorized_client', 'invalid_scope', 'invalid_app_access']);

function parseBody(text: string): unknown {
  try {
    return JSON.parse(text);
  } catch {
    return text;
  }
}

export function toFabricError(err: unknown, last?: CapturedResponse): FabricError {
  if (err instanceof FabricError) return err;
  const e = (err ?? {}) as { name?: string; message?: string; code?: string; errorCode?: string; data?: unknown; cause?: { code?: string } };
  if (e.name && OAUTH_ERRORS.has(e.name)) {
    return new PermanentError(`Salesforce login failed: ${e.name}: ${e.message ?? ''}`.trim(), { errorClass: 'auth', status: last?.status ?? 400, response: { error: e.name, error_description: e.message ?? '' }, cause: err });
  }
  if (e.name === 'Error' && /^Unable to refresh session due to: /.test(e.message ?? '')) {
    return new PermanentError(`Salesforce session could not be refreshed: ${(e.message ?? '').replace(/^Unable to refresh session due to: /, '')}`, { errorClass: 'auth', status: 401, response: last ? (parseBody(last.body) as Json) : undefined, cause: err });
  }
  if (last && last.status >= 400) {
    return classify({ message: e.message, response: { status: last.status, data: parseBody(last.body), headers: last.headers } });
  }
  // 300 Multiple Choices from an upsert or a get by external id: a conflict a person has to resolve.
  if (e.errorCode === 'MULTIPLE_CHOICES') return new PermanentError(`Salesforce: more than one record matches the external id (${JSON.stringify(e.data)})`, { errorClass: 'conflict', status: 300, response: e.data as Json, cause: err });
  const code = e.code ?? e.cause?.code;
  if (code) return classify(Object.assign(new Error(e.message ?? String(err)), { code }));
  if (e.name === 'AbortError' || /timed? ?out/i.test(e.message ?? '')) return new TransientError(`Salesforce request timed out: ${e.message ?? ''}`, { cause: err });
  return classify(err);
}
