export { SalesforceClient, soqlDateTime, soqlString } from './client';
export type { SalesforceAuth, SalesforceConfig, SaveResult, QueryPage, CompositeRequest, CompositeResponse, CompositeSubrequest, ReadGate } from './client';
export { SalesforceExecutor, SALESFORCE_WRITE_OPERATIONS } from './executor';
export type { SalesforceWriteOperation } from './executor';
export { pollChanges, parseWatermark, buildPollSoql } from './poller';
export type { PollOptions, PollResult, PollWatermark } from './poller';
export { CdcSubscriber } from './cdc';
export type { ChangeEvent, ChangeEventHeader, CdcState, CdcSubscriberOptions } from './cdc';
export { toFabricError } from './errors';
