/**
 * `business-central-config`: one Business Central company (tenant, environment, company, Entra client
 * credentials, quota) registered with the outbox of the named `fabric-store`.
 */
import type { NodeAPI } from '../node-red-api';
import { BusinessCentralConnector, BC_DEMO_TABLES, type BusinessCentralMappingTables } from '../../lib/connectors/business-central';
import { connectToStore } from '../connection-config';
import { checkBcNumberSeries, checkBcWebServices, checkSetup } from '../../lib/connectors/business-central/setup-check';

export = function (RED: NodeAPI) {
  function BusinessCentralConfig(this: any, config: any) {
    RED.nodes.createNode(this, config);
    const node = this;
    const creds = node.credentials ?? {};
    node.connectionName = `bc:${config.name || `${config.tenantId}/${config.environment}/${config.company}`}`;
    try {
      const tables: Partial<BusinessCentralMappingTables> = typeof config.tables === 'string' && config.tables.trim() ? JSON.parse(config.tables) : (BC_DEMO_TABLES[config.company] ?? {});
      node.connector = new BusinessCentralConnector({
        tenantId: config.tenantId, environment: config.environment || 'production', company: config.company,
        clientId: creds.clientId ?? '', clientSecret: creds.clientSecret ?? '',
        baseUrl: config.baseUrl || undefined, tokenUrl: config.tokenUrl || undefined, scope: config.scope || undefined,
        timeoutMs: Number(config.timeoutMs) || 60000, tables,
        numbering: config.numbering || 'series',
        projectTask: config.projectTaskNumber ? { number: String(config.projectTaskNumber) } : undefined,
        webServices: checkBcWebServices(typeof config.webServices === 'string' && config.webServices.trim() ? JSON.parse(config.webServices) : undefined),
      });
      node.numberSeries = checkBcNumberSeries(typeof config.numberSeries === 'string' && config.numberSeries.trim() ? JSON.parse(config.numberSeries) : undefined);
    } catch (err) {
      node.configError = RED._('business-central-config.errors.badConfig', { error: (err as Error).message });
    }
    connectToStore(RED, node, config, { type: 'business-central-config', executor: () => node.connector, defaults: { ratePerSecond: 5, concurrency: 5, maxAttempts: 8 }, setupCheck: () => checkSetup(node.connector, { company: config.company, ...node.numberSeries }) });
  }
  RED.nodes.registerType('business-central-config', BusinessCentralConfig, {
    credentials: { clientId: { type: 'text' }, clientSecret: { type: 'password' } },
  });
};
