/**
 * The delivery engine's view of Salesforce: one write per outbox item. Operations and their requests:
 *   create    { sobject, record }
 *   update    { sobject, id, record }
 *   upsert    { sobject, externalIdField, externalId?, record }   externalId defaults to record[externalIdField],
 *                                                                  then to the item's idempotency key
 *   delete    { sobject, id }
 *   composite { allOrNone?, compositeRequest: [...] }
 * A composite whose subrequests failed is an error: transient when a subrequest got 5xx/429, otherwise
 * permanent with the whole composite response kept for the exception queue.
 */
import { classify, FabricError, isTransientStatus, isVendorLimit, PermanentError, TransientError, ValidationError } from '../../delivery/errors';
import type { ConnectionExecutor, ExecutionContext, RequestGate } from '../../delivery/types';
import type { Json } from '../../store/store';
import type { CompositeRequest, SalesforceClient } from './client';

export const SALESFORCE_WRITE_OPERATIONS = ['create', 'update', 'upsert', 'delete', 'composite'] as const;
export type SalesforceWriteOperation = (typeof SALESFORCE_WRITE_OPERATIONS)[number];

type Req = Record<string, any>;

function need(req: Req, key: string, op: string): any {
  const v = req?.[key];
  if (v === undefined || v === null || v === '') throw new ValidationError(`Salesforce ${op}: request.${key} is required`, [{ path: `/${key}`, message: 'required' }]);
  return v;
}

export class SalesforceExecutor implements ConnectionExecutor {
  constructor(private readonly client: SalesforceClient) {}

  /** One rate-limit token per Salesforce API call (each jsforce call in `SalesforceClient.invoke`). */
  attachRequestGate(gate: RequestGate): () => void {
    this.client.requestGate = gate;
    return () => {
      if (this.client.requestGate === gate) this.client.requestGate = undefined;
    };
  }

  async execute(operation: string, request: Json, ctx: ExecutionContext): Promise<Json> {
    const req = (request ?? {}) as Req;
    try {
      switch (operation) {
        case 'create':
          return (await this.client.create(need(req, 'sobject', operation), need(req, 'record', operation))) as unknown as Json;
        case 'update':
          return (await this.client.update(need(req, 'sobject', operation), need(req, 'id', operation), need(req, 'record', operation))) as unknown as Json;
        case 'delete':
          return (await this.client.delete(need(req, 'sobject', operation), need(req, 'id', operation))) as unknown as Json;
        case 'upsert': {
          const field = need(req, 'externalIdField', operation) as string;
          const record = need(req, 'record', operation) as Record<string, unknown>;
          const value = req.externalId ?? record[field] ?? ctx.idempotencyKey;
          return (await this.client.upsert(need(req, 'sobject', operation), field, String(value), record)) as unknown as Json;
        }
        case 'composite': {
          const res = await this.client.composite(req as CompositeRequest);
          const failed = res.compositeResponse.filter((r) => r.httpStatusCode >= 400);
          if (failed.length === 0) return res as unknown as Json;
          const real = failed.filter((r) => !JSON.stringify(r.body).includes('PROCESSING_HALTED'));
          const worst = (real.length ? real : failed)[0];
          const transient = failed.some((r) => isTransientStatus(r.httpStatusCode) || isVendorLimit(r.httpStatusCode, r.body));
          const message = `Salesforce composite: subrequest ${worst.referenceId} failed with HTTP ${worst.httpStatusCode}: ${summarise(worst.body)}`;
          if (transient) throw new TransientError(message, { status: worst.httpStatusCode, response: res as unknown as Json });
          throw new PermanentError(message, { errorClass: worst.httpStatusCode === 404 ? 'not-found' : worst.httpStatusCode === 401 || worst.httpStatusCode === 403 ? 'auth' : 'validation', status: worst.httpStatusCode, response: res as unknown as Json });
        }
        default:
          throw new ValidationError(`Salesforce: unknown write operation ${JSON.stringify(operation)} (expected one of ${SALESFORCE_WRITE_OPERATIONS.join(', ')})`, [{ path: '/operation', message: 'unknown' }]);
      }
    } catch (e) {
      throw e instanceof FabricError ? e : classify(e);
    }
  }
}

function summarise(body: unknown): string {
  if (Array.isArray(body)) return body.map((b) => (b && typeof b === 'object' ? `${(b as Req).errorCode ?? ''}: ${(b as Req).message ?? ''}` : String(b))).join('; ');
  return JSON.stringify(body);
}
