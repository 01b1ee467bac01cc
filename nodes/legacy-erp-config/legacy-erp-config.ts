/**
 * `legacy-erp-config`: the legacy on-prem ERP (company FR01) as an outbox connection. Invoice postings go through
 * `node.handle.submit({operation: 'postInvoice', request: {invoice}})`; the executor (`LegacyErpClient`,
 * lib/connectors/legacy-erp/client.ts) publishes the IH/IL lines at QoS 1 and resolves on the ERP's `AK` line:
 * `OK` -> delivered with the ERP document number, `ER` -> permanent (exception queue, ERP code + message),
 * no ack within the timeout -> transient (the outbox retries; the ERP acknowledges a re-posted number with the
 * document it already booked). Broker: empty URL = the runtime's embedded broker (its internal user when it needs one).
 */
import type { NodeAPI } from '../node-red-api';
import { LegacyErpClient } from '../../lib/connectors/legacy-erp/client';
import { limitsFrom, registerConnection } from '../../lib/connectors/glue';
import { getEmbeddedBroker } from '../../lib/broker/registry';
import { activeOwnershipMatrix } from '../../lib/governance/write-ownership';

/** Invoices' owner team in the active ownership matrix (finance-ops in the default one). */
function invoiceOwnerTeam(): string {
  try {
    return activeOwnershipMatrix().ownerTeam('Invoice') || 'finance-ops';
  } catch {
    return 'finance-ops';
  }
}

export = function (RED: NodeAPI) {
  function LegacyErpConfig(this: any, config: any) {
    RED.nodes.createNode(this, config);
    const node = this;
    const creds = node.credentials ?? {};
    node.connectionName = `legacy:${config.name || config.company || node.id}`;
    let url = String(config.url ?? '').trim();
    let username: string | undefined = creds.username || undefined;
    let password: string | undefined = creds.password || undefined;
    if (!url) {
      const embedded = getEmbeddedBroker();
      if (!embedded) node.configError = RED._('legacy-erp-config.errors.noBroker');
      else {
        url = embedded.url;
        if (!username && embedded.username) {
          username = embedded.username;
          password = embedded.password;
        }
      }
    }
    const storeNode = RED.nodes.getNode(config.store);
    if (!node.configError && !storeNode?.store) node.configError = RED._('legacy-erp-config.errors.noStore');
    if (!node.configError) {
      try {
        const ackTimeoutMs = Number(config.ackTimeoutMs) > 0 ? Number(config.ackTimeoutMs) : 15000;
        node.client = new LegacyErpClient({ url, username, password, ackTimeoutMs, ownerTeam: invoiceOwnerTeam });
        node.store = storeNode.store;
        // an attempt lasts up to the ack timeout: the outbox's attempt timeout must be longer
        node.handle = registerConnection(storeNode.store, storeNode.services, node.connectionName, node.client.executor(), { ...limitsFrom(config, { ratePerSecond: 20, concurrency: 10, maxAttempts: 8 }), attemptTimeoutMs: ackTimeoutMs + 15000 } as never);
        storeNode.register?.(node);
      } catch (err) {
        node.configError = (err as Error).message;
      }
    }
    if (node.configError) node.error(node.configError);
    node.on('close', (_removed: boolean, done: () => void) => {
      storeNode?.deregister?.(node);
      const h = node.handle;
      const c = node.client;
      node.handle = undefined;
      node.client = undefined;
      (h ? h.close() : Promise.resolve()).catch(() => {}).then(() => c?.close()).then(() => done(), () => done());
    });
  }
  RED.nodes.registerType('legacy-erp-config', LegacyErpConfig, {
    credentials: { username: { type: 'text' }, password: { type: 'password' } },
  });
};
