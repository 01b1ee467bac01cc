/** The settings of a `process-step` node (its editor dialog), as the node and the template builders (templates/) read them. */
export interface StepConfig {
  id: string;
  name?: string;
  store?: string;
  step: string;
  /** q2p-write: which planned write (erpCustomer, psaProject, jiraProject, jiraEpic, notify). */
  write?: string;
  /** JSON override of the ERP routing table (lib/processes/erp-routing.default.json). */
  routing?: string;
  /** q2p-plan: the firm's people as a JSON array (lib/processes/quote-to-project parseDirectory); empty = the CRM's email only. */
  directory?: string;
  batchSize?: string | number;
  maxLines?: string | number;
  retrySeconds?: string | number;
  maxWaits?: string | number;
  source?: string;
}
