/**
 * `business-central-config`: one Business Central company (tenant, environment, company, Entra client
 * credentials, quota) registered with the outbox of the named `fabric-store`.
 */
import { registerNode, type NodeAPI } from '../node-red-api';
import { BusinessCentralConnector, BC_DEMO_TABLES, type BcNumbering, type BusinessCentralMappingTables } from '../../lib/connectors/business-central';
import { checkBcNumberSeries, checkBcWebServices, checkSetup } from '../../lib/connectors/business-central/setup-check';
import { connectToStore, type BusinessCentralConnection } from '../connection-config';
import { BUSINESS_CENTRAL_CONFIG, type BusinessCentralConfigDef } from './config';
import { positiveSetting } from '../settings';

export = function (RED: NodeAPI) {
  function BusinessCentralConfig(this: BusinessCentralConnection, config: BusinessCentralConfigDef) {
    RED.nodes.createNode(this, config);
    const node = this;
    const creds = node.credentials ?? {};
    node.connectionName = `bc:${config.name || `${config.tenantId}/${config.environment}/${config.company}`}`;
    try {
      const tables: Partial<BusinessCentralMappingTables> = typeof config.tables === 'string' && config.tables.trim() ? JSON.parse(config.tables) : ((config.company && BC_DEMO_TABLES[config.company]) || {});
      node.connector = new BusinessCentralConnector({
        tenantId: config.tenantId ?? '', environment: config.environment || BUSINESS_CENTRAL_CONFIG.defaults.environment, company: config.company ?? '',
        clientId: creds.clientId ?? '', clientSecret: creds.clientSecret ?? '',
        baseUrl: config.baseUrl || undefined, tokenUrl: config.tokenUrl || undefined, scope: config.scope || undefined,
        timeoutMs: positiveSetting(config.timeoutMs, BUSINESS_CENTRAL_CONFIG.defaults.timeoutMs), tables,
        // the connector refuses anything but series / manual with a clear error
        numbering: (config.numbering || BUSINESS_CENTRAL_CONFIG.defaults.numbering) as BcNumbering,
        projectTask: config.projectTaskNumber ? { number: String(config.projectTaskNumber) } : undefined,
        webServices: checkBcWebServices(typeof config.webServices === 'string' && config.webServices.trim() ? JSON.parse(config.webServices) : undefined),
      });
      node.numberSeries = checkBcNumberSeries(typeof config.numberSeries === 'string' && config.numberSeries.trim() ? JSON.parse(config.numberSeries) : undefined);
    } catch (err) {
      node.configError = RED._('business-central-config.errors.badConfig', { error: (err as Error).message });
    }
    connectToStore(RED, node, config, { type: BUSINESS_CENTRAL_CONFIG.type, executor: () => node.connector, defaults: BUSINESS_CENTRAL_CONFIG.defaults, setupCheck: () => checkSetup(node.connector, { company: config.company ?? '', ...node.numberSeries }) });
  }
  registerNode(RED, BUSINESS_CENTRAL_CONFIG.type, BusinessCentralConfig, BUSINESS_CENTRAL_CONFIG);
};
