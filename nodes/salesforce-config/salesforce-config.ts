/**
 * `salesforce-config`: one Salesforce org (login URL, API version, OAuth 2.0 client credentials / JWT bearer /
 * username-password) with one SalesforceClient (one session, reused) registered with the outbox of the named
 * `fabric-store`. Users read through `node.client` (its reads pass `node.handle.call`), write through
 * `node.handle.submit`, and follow `node.onState` for connection and circuit state. Secrets stay in credentials.
 */
import { registerNode, type NodeAPI } from '../node-red-api';
import { SalesforceClient, SalesforceExecutor, checkSalesforceNames, type SalesforceAuth } from '../../lib/connectors/salesforce';
import { checkSetup } from '../../lib/connectors/salesforce/setup-check';
import { connectToStore, type SalesforceConnection, type SalesforceConnectionState } from '../connection-config';
import { SALESFORCE_CONFIG, type SalesforceConfigDef } from './config';

export = function (RED: NodeAPI) {
  function SalesforceConfig(this: SalesforceConnection, config: SalesforceConfigDef) {
    RED.nodes.createNode(this, config);
    const node = this;
    const creds = node.credentials ?? {};
    const t = (k: string, s?: Record<string, unknown>) => RED._(`salesforce-config.${k}`, s);
    node.connectionName = `salesforce:${config.name || node.id}`;
    const listeners = new Set<(s: SalesforceConnectionState) => void>();
    const state: SalesforceConnectionState = { connection: 'idle', circuit: 'closed' };
    const publish = () => {
      for (const l of listeners) {
        try {
          l({ ...state });
        } catch {
          // a user's status update must not break the others
        }
      }
    };
    node.onState = (listener: (s: SalesforceConnectionState) => void): (() => void) => {
      listeners.add(listener);
      listener({ ...state });
      return () => listeners.delete(listener);
    };
    const users = new Set<unknown>();
    node.register = (user: unknown) => users.add(user);
    node.deregister = (user: unknown) => users.delete(user);

    try {
      const authType = config.authType || SALESFORCE_CONFIG.defaults.authType;
      const auth: SalesforceAuth =
        authType === 'jwt'
          ? { type: 'jwt', clientId: creds.clientId ?? '', username: creds.username ?? '', privateKey: creds.privateKey ?? '', audience: config.audience || undefined }
          : authType === 'password'
            ? { type: 'password', clientId: creds.clientId ?? '', clientSecret: creds.clientSecret ?? '', username: creds.username ?? '', password: creds.password ?? '' }
            : { type: 'client-credentials', clientId: creds.clientId ?? '', clientSecret: creds.clientSecret ?? '' };
      node.client = new SalesforceClient({ loginUrl: config.loginUrl ?? '', instanceUrl: config.instanceUrl || undefined, apiVersion: config.apiVersion || SALESFORCE_CONFIG.defaults.apiVersion, auth });
      // The org's names of the custom fields / objects the closed-won bundle reads (empty = the default names).
      node.fieldNames = checkSalesforceNames(typeof config.fieldNames === 'string' && config.fieldNames.trim() ? JSON.parse(config.fieldNames) : undefined);
      node.client.on((event: string, detail?: any) => {
        state.connection = event === 'login-failed' ? 'failed' : 'connected';
        state.error = event === 'login-failed' ? String(detail?.message ?? detail) : undefined;
        publish();
      });
    } catch (err) {
      node.configError = t('errors.badConfig', { error: (err as Error).message });
    }
    let unsubscribeCircuit: (() => void) | undefined;
    connectToStore(RED, node, config, {
      type: SALESFORCE_CONFIG.type,
      executor: () => new SalesforceExecutor(node.client),
      defaults: SALESFORCE_CONFIG.defaults,
      connected: () => {
        const handle = node.handle!;
        node.client.readGate = (fn) => handle.call(fn);
        state.circuit = handle.circuitState();
        state.backlog = 0;
        // circuit and outbox backlog (lib/connectors/glue.ts withStatus), fanned out to the salesforce nodes
        unsubscribeCircuit = handle.onStatus((st: { circuit: string; backlog: number }) => {
          if (st.circuit === state.circuit && st.backlog === state.backlog) return;
          state.circuit = st.circuit;
          state.backlog = st.backlog;
          publish();
        });
      },
      // what the deployed salesforce nodes of this connection do to an object, so the check covers their object
      // permissions (the check knows which operations are writes)
      setupCheck: () => {
        const writes: Array<{ sobject: string; operation: string }> = [];
        RED.nodes.eachNode((n: any) => {
          if (n.type === 'salesforce' && n.salesforce === node.id && typeof n.operation === 'string' && n.sobject) writes.push({ sobject: n.sobject, operation: n.operation });
        });
        return checkSetup(node.client, { names: node.fieldNames, writes });
      },
      release: () => {
        unsubscribeCircuit?.();
        listeners.clear();
        return node.client?.close();
      },
    });
  }
  registerNode(RED, SALESFORCE_CONFIG.type, SalesforceConfig, SALESFORCE_CONFIG);
};
