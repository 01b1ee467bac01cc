/**
 * Posting invoices to the legacy ERP over MQTT as a ConnectionExecutor: `postInvoice` {invoice}
 * (canonical Invoice, or a LegacyInvoice under `legacy`) publishes the flat posting on
 * `legacy/fr01/invoice/in` with QoS 1 and resolves when the ERP's `AK` line arrives on
 * `legacy/fr01/invoice/ack`: `OK` -> delivered (the ERP document number is returned), `ER` -> permanent
 * ValidationError with the ERP's code and message, no ack within `ackTimeoutMs` -> TransientError (the outbox
 * retries; the ERP treats a re-posted invoice number as a duplicate and acknowledges it again with the same document).
 */
import mqtt, { MqttClient, IClientOptions } from 'mqtt';
import type { Json } from '../../store/store';
import type { ConnectionExecutor, ExecutionContext } from '../../delivery/types';
import { PermanentError, TransientError, ValidationError } from '../../delivery/errors';
import { decodeAck, encodeInvoice, fromCanonicalInvoice, LegacyAck, LegacyInvoice, TOPICS } from './codec';

/** The operations `execute` writes (through the outbox); the legacy-erp node's write list. */
export const LEGACY_ERP_WRITE_OPERATIONS = ['postInvoice'] as const;

export interface LegacyErpClientOptions {
  url: string;
  username?: string;
  password?: string;
  clientId?: string;
  ackTimeoutMs?: number;
  topics?: Partial<typeof TOPICS>;
  /**
   * Owner team of the exceptions a posting raises (an `ER` ack, no ack after the retries): the team that owns
   * invoices in the ownership matrix. Default finance-ops.
   */
  ownerTeam?: string | (() => string);
}

export class LegacyErpClient {
  private client?: MqttClient;
  private waiting = new Map<string, { resolve(a: LegacyAck): void; timer: NodeJS.Timeout }[]>();
  readonly topics: typeof TOPICS;

  constructor(readonly opts: LegacyErpClientOptions) {
    this.topics = { ...TOPICS, ...(opts.topics ?? {}) } as typeof TOPICS;
  }

  async connect(): Promise<void> {
    if (this.client) return;
    const o: IClientOptions = { clientId: this.opts.clientId ?? `psfabric-legacy-${process.pid}-${Math.random().toString(16).slice(2, 8)}`, clean: true, username: this.opts.username, password: this.opts.password, reconnectPeriod: 1000, connectTimeout: 10000 };
    const client = mqtt.connect(this.opts.url, o);
    this.client = client;
    client.on('message', (_topic, payload) => {
      const { ack } = decodeAck(payload);
      if (!ack) return;
      const list = this.waiting.get(ack.invoiceNo);
      if (!list) return;
      this.waiting.delete(ack.invoiceNo);
      for (const w of list) {
        clearTimeout(w.timer);
        w.resolve(ack);
      }
    });
    await new Promise<void>((resolve, reject) => {
      client.once('connect', () => resolve());
      client.once('error', reject);
    });
    await client.subscribeAsync(this.topics.invoiceAck, { qos: 1 });
  }

  /** Publishes one posting and waits for its acknowledgement. */
  async postInvoice(inv: LegacyInvoice): Promise<LegacyAck> {
    await this.connect();
    const timeoutMs = this.opts.ackTimeoutMs ?? 15000;
    const ack = new Promise<LegacyAck>((resolve, reject) => {
      const timer = setTimeout(() => {
        const list = (this.waiting.get(inv.invoiceNo) ?? []).filter((w) => w.timer !== timer);
        if (list.length) this.waiting.set(inv.invoiceNo, list);
        else this.waiting.delete(inv.invoiceNo);
        reject(this.owned(new TransientError(`legacy ERP did not acknowledge invoice ${inv.invoiceNo} within ${timeoutMs} ms`)));
      }, timeoutMs);
      const list = this.waiting.get(inv.invoiceNo) ?? [];
      list.push({ resolve, timer });
      this.waiting.set(inv.invoiceNo, list);
    });
    try {
      await this.client!.publishAsync(this.topics.invoiceIn, encodeInvoice(inv), { qos: 1 });
    } catch (err) {
      throw this.owned(new TransientError(`publishing invoice ${inv.invoiceNo} failed: ${(err as Error).message}`, { cause: err }));
    }
    return ack;
  }

  executor(): ConnectionExecutor {
    return {
      execute: async (operation: string, request: Json, _ctx: ExecutionContext): Promise<Json> => {
        if (operation !== 'postInvoice') throw new PermanentError(`unknown legacy ERP operation "${operation}" (expected postInvoice)`, { errorClass: 'validation' });
        const req = (request ?? {}) as Record<string, any>;
        const inv: LegacyInvoice = req.legacy ?? fromCanonicalInvoice(req.invoice ?? req);
        const ack = await this.postInvoice(inv);
        if (!ack.ok) throw this.owned(new ValidationError(`legacy ERP rejected invoice ${ack.invoiceNo}: ${ack.reference} ${ack.message}`, [{ path: '/invoice', message: `${ack.reference}: ${ack.message}` }], { ...ack } as unknown as Json));
        return { invoiceNo: ack.invoiceNo, erpDocumentNo: ack.reference, message: ack.message };
      },
    };
  }

  private owned<E extends TransientError | ValidationError>(err: E): E {
    const o = this.opts.ownerTeam;
    err.ownerTeam = (typeof o === 'function' ? o() : o) || 'finance-ops';
    return err;
  }

  async close(): Promise<void> {
    for (const list of this.waiting.values()) for (const w of list) clearTimeout(w.timer);
    this.waiting.clear();
    const c = this.client;
    this.client = undefined;
    if (c) await c.endAsync();
  }
}
