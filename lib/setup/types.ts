/**
 * The setup check's shapes, shared by every vendor's `lib/connectors/<vendor>/setup-check.ts`, the registry that the
 * deployed config nodes register with, the admin route and the dashboard's connection rows. No Node-RED here.
 */

/** One thing the tenant lacks, said so that the firm's administrator can fix it without reading our code. */
export interface SetupProblem {
  /** The check that found it (one of the `checks[].check` names, e.g. `auth`, `api-version`, `fields`, `permissions`, `quota`). */
  check: string;
  /** What is missing or wrong, naming the vendor's object/field/permission (e.g. "Opportunity.Billing_Model__c does not exist"). */
  what: string;
  /** What to create or grant, in the vendor's own words (e.g. "Create the field in Setup > Object Manager > Opportunity > Fields & Relationships"). */
  fix: string;
  /** Where in the vendor's UI or which setting of the config node (optional when `fix` already says it). */
  where?: string;
  /** `error`: a template will fail; `warning`: it degrades (documented behaviour) or headroom is low. */
  severity: 'error' | 'warning';
}

export interface CheckStep {
  check: string;
  ok: boolean;
  detail?: string;
}

export interface ConnectionCheck {
  /** The config node's id. */
  connection: string;
  /** The config node's name (its connection name). */
  name: string;
  /** Config node type without `-config`, e.g. `salesforce`, `jira`, `netsuite`, `business-central`, `kantata`. */
  vendor: string;
  /** True when no problem has severity `error`. */
  ok: boolean;
  /** ISO 8601. */
  checkedAt: string;
  checks: CheckStep[];
  problems: SetupProblem[];
  /** Quota figures when the vendor reports them, e.g. `{ dailyApiRequests: { max, remaining } }`. */
  headroom?: Record<string, unknown>;
}

/** What a vendor's `checkSetup(client, settings)` returns; the registry adds connection, name and checkedAt. */
export type VendorCheckResult = Omit<ConnectionCheck, 'connection' | 'name' | 'checkedAt'>;

/** The signature every `lib/connectors/<vendor>/setup-check.ts` exports as `checkSetup`. */
export type CheckSetup<Client, Settings> = (client: Client, settings: Settings) => Promise<VendorCheckResult>;

/** What a deployed config node registers with the registry (lib/setup/registry.ts): how to run its check. */
export interface RegisteredConnection {
  connection: string;
  name: string;
  vendor: string;
  run: () => Promise<VendorCheckResult>;
}
