/** The shared config nodes (flows/_config.json): fixed ids every template refers to. */
import { config, STORE, type FlowNode, type SettingsOf } from './kit';

/** The store every template uses (SQLite in the user dir; docs/store-and-guarantees.md). The dashboard carries it too. */
export const STORE_SETTINGS: SettingsOf<'fabric-store'> = { name: 'PS Fabric store', kind: 'sqlite', path: '', retentionDays: 7 };

export function sharedConfig(): FlowNode[] {
  return [
    config('fabric-store', STORE, STORE_SETTINGS),
    config('fabric-broker', 'psf-broker', { name: 'PS Fabric broker', mode: 'embedded', url: '', clientId: '', clean: false, protocolVersion: '4', keepalive: 60 }),
    config('ownership-config', 'psf-ownership', { name: 'PS Fabric ownership', source: 'default', matrix: '' }),
    config('salesforce-config', 'psf-salesforce', { name: 'Salesforce', loginUrl: '${FABRIC_SALESFORCE_URL}', instanceUrl: '', apiVersion: '62.0', authType: 'client-credentials', audience: '', store: 'psf-store', ratePerSecond: 20, concurrency: 10, maxAttempts: 8 }),
    config('netsuite-config', 'psf-netsuite', { name: 'NetSuite (NWA-US)', accountId: '${FABRIC_NETSUITE_ACCOUNT}', baseUrl: '${FABRIC_NETSUITE_URL}', authType: 'oauth2-m2m', algorithm: 'PS256', tables: '', store: 'psf-store', ratePerSecond: 5, concurrency: 5, maxAttempts: 8, timeoutMs: 60000 }),
    config('business-central-config', 'psf-bc-uk', { name: 'Business Central (NWA UK)', tenantId: '${FABRIC_BC_TENANT}', environment: '${FABRIC_BC_ENVIRONMENT}', company: 'NWA UK', baseUrl: '${FABRIC_BC_URL}', tokenUrl: '${FABRIC_BC_TOKEN_URL}', scope: '', tables: '', numbering: 'series', projectTaskNumber: '1000', webServices: '', store: 'psf-store', ratePerSecond: 5, concurrency: 5, maxAttempts: 8, timeoutMs: 60000 }),
    config('business-central-config', 'psf-bc-de', { name: 'Business Central (NWA DE)', tenantId: '${FABRIC_BC_TENANT}', environment: '${FABRIC_BC_ENVIRONMENT}', company: 'NWA DE', baseUrl: '${FABRIC_BC_URL}', tokenUrl: '${FABRIC_BC_TOKEN_URL}', scope: '', tables: '', numbering: 'series', projectTaskNumber: '1000', webServices: '', store: 'psf-store', ratePerSecond: 5, concurrency: 5, maxAttempts: 8, timeoutMs: 60000 }),
    config('kantata-config', 'psf-kantata', { name: 'Kantata PSA', authType: 'token', baseUrl: '${FABRIC_KANTATA_URL}', tokenUrl: '', store: 'psf-store', ratePerSecond: 10, concurrency: 4, maxAttempts: 8, timeoutMs: 30000 }),
    config('legacy-erp-config', 'psf-legacy-fr01', { name: 'FR01', company: 'FR01', url: '', store: 'psf-store', ackTimeoutMs: 15000, ratePerSecond: 20, concurrency: 10, maxAttempts: 8 }),
    config('teams-config', 'psf-teams-delivery', { name: 'Teams: delivery channel', mode: 'workflows', teamId: '', channelId: '', authorityHost: '', graphUrl: '', store: 'psf-store', ratePerSecond: 1, concurrency: 1, maxAttempts: 6, timeoutMs: 30000 }),
    config('jira-config', 'psf-jira', { name: 'Jira', baseUrl: '${FABRIC_JIRA_URL}', authType: 'basic', store: 'psf-store', ratePerSecond: 5, concurrency: 2, maxAttempts: 8, timeoutMs: 30000 }),
  ];
}
