/**
 * The deployed connections' setup checks: each config node registers how to run its check (`register`), the admin
 * route and the deploy-time run call `run`, and node status and the dashboard read the last results (`results`,
 * `on('result')`). Process-wide, like lib/triggers/runs: the admin route and the ops-feed find the checks without
 * knowing the config nodes. A check that throws or does not answer becomes a failed result, never an exception out.
 */
import { EventEmitter } from 'node:events';
import type { ConnectionCheck, RegisteredConnection } from './types';
import { errorText } from './report';

/** A vendor that does not answer within this is reported as such (each client has its own, usually shorter, timeout). */
export const CHECK_TIMEOUT_MS = 60_000;

export interface SetupSummary {
  /** The delivery connection name (`salesforce:<name>`), the key of the dashboard's connection rows. */
  connection: string;
  id: string;
  vendor: string;
  ok: boolean;
  errors: number;
  warnings: number;
  checkedAt: string;
  /** One line: `setup OK` or the first problem's what. */
  text: string;
}

interface Entry extends RegisteredConnection {
  /** The delivery connection name. */
  connectionName: string;
}

export class SetupChecks extends EventEmitter {
  private readonly entries = new Map<string, Entry>();
  private readonly last = new Map<string, ConnectionCheck>();
  private readonly running = new Map<string, Promise<ConnectionCheck>>();

  /** Registers a deployed connection's check; returns the function that removes it (and its result). */
  register(entry: Entry): () => void {
    this.entries.set(entry.connection, entry);
    this.last.delete(entry.connection);
    return () => {
      if (this.entries.get(entry.connection) !== entry) return;
      this.entries.delete(entry.connection);
      this.last.delete(entry.connection);
      this.emit('change');
    };
  }

  has(id: string): boolean {
    return this.entries.has(id);
  }

  ids(): string[] {
    return [...this.entries.keys()];
  }

  /** Runs the check of one connection (joins a run in progress). Undefined when no such connection is registered. */
  run(id: string): Promise<ConnectionCheck> | undefined {
    const entry = this.entries.get(id);
    if (!entry) return undefined;
    const inProgress = this.running.get(id);
    if (inProgress) return inProgress;
    const p = this.runOne(entry).finally(() => this.running.delete(id));
    this.running.set(id, p);
    return p;
  }

  /** Runs every registered check, in parallel (each vendor is a different system). */
  runAll(): Promise<ConnectionCheck[]> {
    return Promise.all(this.ids().map((id) => this.run(id)!));
  }

  result(id: string): ConnectionCheck | undefined {
    return this.last.get(id);
  }

  results(): ConnectionCheck[] {
    return [...this.last.values()];
  }

  /** One row per checked connection, for the dashboard's connection table. */
  summaries(): SetupSummary[] {
    return [...this.last.values()].map((r) => {
      const entry = this.entries.get(r.connection);
      const errors = r.problems.filter((p) => p.severity === 'error').length;
      const warnings = r.problems.length - errors;
      const first = r.problems.find((p) => p.severity === 'error') ?? r.problems[0];
      const text = r.ok ? (warnings ? `setup OK, ${warnings} warning(s): ${first!.what}` : 'setup OK') : `${errors} setup problem(s): ${first?.what ?? r.checks.find((c) => !c.ok)?.detail ?? 'check failed'}`;
      return { connection: entry?.connectionName ?? r.name, id: r.connection, vendor: r.vendor, ok: r.ok, errors, warnings, checkedAt: r.checkedAt, text };
    });
  }

  private async runOne(entry: Entry): Promise<ConnectionCheck> {
    let timer: NodeJS.Timeout | undefined;
    const base = { connection: entry.connection, name: entry.name, vendor: entry.vendor };
    let result: ConnectionCheck;
    try {
      const timeout = new Promise<never>((_r, reject) => {
        timer = setTimeout(() => reject(new Error(`${entry.vendor} did not answer the setup check within ${CHECK_TIMEOUT_MS / 1000} s`)), CHECK_TIMEOUT_MS);
      });
      const r = await Promise.race([entry.run(), timeout]);
      result = { ...base, ...r, vendor: entry.vendor, checkedAt: new Date().toISOString() };
    } catch (err) {
      result = {
        ...base,
        ok: false,
        checkedAt: new Date().toISOString(),
        checks: [{ check: 'run', ok: false, detail: errorText(err) }],
        problems: [{ check: 'run', what: `The setup check of ${entry.name} could not run: ${errorText(err)}`, fix: 'Check that the system is reachable from this runtime (URL, network, proxy) and press Check setup again.', severity: 'error' }],
      };
    } finally {
      clearTimeout(timer);
    }
    // a result of a connection removed (redeployed) while its check ran is not kept
    if (this.entries.get(entry.connection) === entry) {
      this.last.set(entry.connection, result);
      this.emit('result', result);
      this.emit('change');
    }
    return result;
  }
}

export const setupChecks = new SetupChecks();
