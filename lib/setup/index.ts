export type { SetupProblem, CheckStep, ConnectionCheck, VendorCheckResult, CheckSetup, RegisteredConnection } from './types';
export { SetupReport, errorText, errorStatus } from './report';
export { SetupChecks, setupChecks, CHECK_TIMEOUT_MS, type SetupSummary } from './registry';
