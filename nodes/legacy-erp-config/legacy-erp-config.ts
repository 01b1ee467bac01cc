/**
 * `legacy-erp-config`: the legacy on-prem ERP (company FR01) as an outbox connection. Invoice postings go through
 * `node.handle.submit({operation: 'postInvoice', request: {invoice}})`; the executor (`LegacyErpClient`,
 * lib/connectors/legacy-erp/client.ts) publishes the IH/IL lines at QoS 1 and resolves on the ERP's `AK` line:
 * `OK` -> delivered with the ERP document number, `ER` -> permanent (exception queue, ERP code + message),
 * no ack within the timeout -> transient (the outbox retries; the ERP acknowledges a re-posted number with the
 * document it already booked). Broker: empty URL = the runtime's embedded broker (its internal user when it needs one).
 */
import { registerNode, type NodeAPI } from '../node-red-api';
import { LegacyErpClient } from '../../lib/connectors/legacy-erp/client';
import { connectToStore, type LegacyErpConnection } from '../connection-config';
import { getEmbeddedBroker } from '../../lib/broker/registry';
import { activeOwnershipMatrix } from '../../lib/governance/write-ownership';
import { LEGACY_ERP_CONFIG, type LegacyErpConfigDef } from './config';
import { positiveSetting } from '../settings';

/** Invoices' owner team in the active ownership matrix (finance-ops in the default one). */
function invoiceOwnerTeam(): string {
  try {
    return activeOwnershipMatrix().ownerTeam('Invoice') || 'finance-ops';
  } catch {
    return 'finance-ops';
  }
}

export = function (RED: NodeAPI) {
  function LegacyErpConfig(this: LegacyErpConnection, config: LegacyErpConfigDef) {
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
    const ackTimeoutMs = positiveSetting(config.ackTimeoutMs, LEGACY_ERP_CONFIG.defaults.ackTimeoutMs);
    connectToStore(RED, node, config, {
      type: LEGACY_ERP_CONFIG.type,
      executor: () => {
        node.client = new LegacyErpClient({ url, username, password, ackTimeoutMs, ownerTeam: invoiceOwnerTeam });
        return node.client.executor();
      },
      defaults: LEGACY_ERP_CONFIG.defaults,
      // an attempt lasts up to the ack timeout: the outbox's attempt timeout must be longer
      extraLimits: { attemptTimeoutMs: ackTimeoutMs + 15000 },
      release: () => {
        const c = node.client;
        node.client = undefined;
        return c?.close();
      },
    });
  }
  registerNode(RED, LEGACY_ERP_CONFIG.type, LegacyErpConfig, LEGACY_ERP_CONFIG);
};
