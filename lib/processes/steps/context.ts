/**
 * What a process step (lib/processes/steps) gets from the node that runs it, and what it answers. A step reads and
 * writes a msg as Node-RED carries it (a plain object) and never touches Node-RED: the node only dispatches.
 */
import type { FabricServices } from '../../fabric/services';
import { positiveSetting } from '../../fabric/settings';
import type { BusinessKeys } from '../../telemetry';
import { routingTable, type ErpRoutingTable } from '../common';
import { parseDirectory, type Directory } from '../quote-to-project';

 
export type StepMsg = Record<string, any>;
/** One msg (single output), or one entry per output (a msg, an array of msgs, or null for nothing). */
export type StepOutput = StepMsg | Array<StepMsg | StepMsg[] | null>;

export interface StepSettings {
  routing: ErpRoutingTable;
  /** q2p-plan: the firm's people (quote-to-project parseDirectory); empty = the CRM's email only. */
  directory: Directory;
  /** q2p-write: which planned write (erpCustomer, psaProject, jiraProject, jiraEpic, notify). */
  write?: string;
  batchSize: number;
  maxLines: number;
  retrySeconds: number;
  maxWaits: number;
  /** The CloudEvent `source` of the events the step publishes. */
  source: string;
}

export interface StepContext {
  services: FabricServices;
  settings: StepSettings;
  /** Who acts, for audit entries and auto-resolved exceptions (`node:<id>`). */
  actor: string;
}

/** A status message key (the node's catalog, `status.<key>`) and its substitutions, when a step has one to show. */
export interface StepStatus {
  key: string;
  subs?: Record<string, unknown>;
}

export interface StepResult {
  out: StepOutput;
  status?: StepStatus;
  /**
   * The business records the step worked on that no msg names on its own (the time entries of a batch): the node
   * marks one span each below the step's span, so a record's id finds its trace. A function, called only while
   * tracing is on.
   */
  records?: () => BusinessKeys[];
}

/** A msg (or config) a step cannot work with; `key` names the message in the node's catalog (`errors.<key>`). */
export class StepInputError extends Error {
  constructor(readonly key: string, readonly subs: Record<string, unknown> = {}, message = key) {
    super(message);
    this.name = 'StepInputError';
  }
}

/** The node's config as saved by the editor (strings for numbers; empty = default). */
export interface StepConfig {
  step: string;
  write?: string;
  /** JSON override of the ERP routing table (lib/processes/erp-routing.default.json). */
  routing?: string;
  /** q2p-plan: the firm's people as a JSON array. */
  directory?: string;
  batchSize?: string | number;
  maxLines?: string | number;
  retrySeconds?: string | number;
  maxWaits?: string | number;
  source?: string;
}

/** The defaults of the numeric settings: the editor dialog shows the same (nodes/process-step/process-step.html). */
export const STEP_DEFAULTS = { batchSize: 50, maxLines: 500, retrySeconds: 30, maxWaits: 6 } as const;

const PROCESS_OF_PREFIX: Array<[string, string]> = [['q2p', 'quote-to-project'], ['t2c', 'time-to-cash'], ['co', 'change-order-to-billing']];

/** The process a step belongs to, as its CloudEvents source names it. */
export function processOfStep(step: string): string {
  return PROCESS_OF_PREFIX.find(([prefix]) => step.startsWith(prefix))?.[1] ?? 'performance-to-reporting';
}


function jsonSetting(text: string | undefined): unknown {
  return text && text.trim() ? JSON.parse(text) : undefined;
}

/** Reads a step's config; a setting that does not parse is a StepInputError (`badRouting`, `badDirectory`). */
export function stepSettings(config: StepConfig): StepSettings {
  let routing: ErpRoutingTable;
  try {
    routing = routingTable(jsonSetting(config.routing) as Parameters<typeof routingTable>[0]);
  } catch (err) {
    throw new StepInputError('badRouting', { error: (err as Error).message }, `the ERP routing table is not valid JSON: ${(err as Error).message}`);
  }
  let directory: Directory = [];
  if (config.step === 'q2p-plan') {
    try {
      directory = parseDirectory(jsonSetting(config.directory));
    } catch (err) {
      throw new StepInputError('badDirectory', { error: (err as Error).message }, `the people directory is not valid: ${(err as Error).message}`);
    }
  }
  return {
    routing,
    directory,
    write: config.write,
    batchSize: positiveSetting(config.batchSize, STEP_DEFAULTS.batchSize),
    maxLines: positiveSetting(config.maxLines, STEP_DEFAULTS.maxLines),
    retrySeconds: positiveSetting(config.retrySeconds, STEP_DEFAULTS.retrySeconds),
    maxWaits: positiveSetting(config.maxWaits, STEP_DEFAULTS.maxWaits),
    source: config.source || `/psfabric/flows/${processOfStep(config.step)}`,
  };
}
