/**
 * `business-central-config`: one Business Central company (tenant, environment, company, Entra client
 * credentials, quota) registered with the outbox of the named `fabric-store`.
 */
import { registerNode, type NodeAPI } from '../node-red-api';
import { BusinessCentralConnector, BC_DEMO_TABLES, type BcNumbering, type BusinessCentralMappingTables } from '../../lib/connectors/business-central';
import { checkBcNumberSeries, checkBcWebServices, checkSetup } from '../../lib/connectors/business-central/setup-check';
import { connectToStore, type BusinessCentralConnection, type ConnectionConfigDef } from '../connection-config';

interface BusinessCentralConfigDef extends ConnectionConfigDef {
  tenantId?: string;
  environment?: string;
  company?: string;
  baseUrl?: string;
  tokenUrl?: string;
  scope?: string;
  timeoutMs?: string | number;
  tables?: string;
  numbering?: string;
  projectTaskNumber?: string | number;
  webServices?: string;
  numberSeries?: string;
}

export = function (RED: NodeAPI) {
  function BusinessCentralConfig(this: BusinessCentralConnection, config: BusinessCentralConfigDef) {
    RED.nodes.createNode(this, config);
    const node = this;
    const creds = node.credentials ?? {};
    node.connectionName = `bc:${config.name || `${config.tenantId}/${config.environment}/${config.company}`}`;
    try {
      const tables: Partial<BusinessCentralMappingTables> = typeof config.tables === 'string' && config.tables.trim() ? JSON.parse(config.tables) : ((config.company && BC_DEMO_TABLES[config.company]) || {});
      node.connector = new BusinessCentralConnector({
        tenantId: config.tenantId ?? '', environment: config.environment || 'production', company: config.company ?? '',
        clientId: creds.clientId ?? '', clientSecret: creds.clientSecret ?? '',
        baseUrl: config.baseUrl || undefined, tokenUrl: config.tokenUrl || undefined, scope: config.scope || undefined,
        timeoutMs: Number(config.timeoutMs) || 60000, tables,
        // the connector refuses anything but series / manual with a clear error
        numbering: (config.numbering || 'series') as BcNumbering,
        projectTask: config.projectTaskNumber ? { number: String(config.projectTaskNumber) } : undefined,
        webServices: checkBcWebServices(typeof config.webServices === 'string' && config.webServices.trim() ? JSON.parse(config.webServices) : undefined),
      });
      node.numberSeries = checkBcNumberSeries(typeof config.numberSeries === 'string' && config.numberSeries.trim() ? JSON.parse(config.numberSeries) : undefined);
    } catch (err) {
      node.configError = RED._('business-central-config.errors.badConfig', { error: (err as Error).message });
    }
    connectToStore(RED, node, config, { type: 'business-central-config', executor: () => node.connector, defaults: { ratePerSecond: 5, concurrency: 5, maxAttempts: 8 }, setupCheck: () => checkSetup(node.connector, { company: config.company ?? '', ...node.numberSeries }) });
  }
  registerNode(RED, 'business-central-config', BusinessCentralConfig, {
    credentials: { clientId: { type: 'text' }, clientSecret: { type: 'password' } },
  });
};
