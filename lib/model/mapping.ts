/**
 * Declarative mappings (vendor record -> canonical entity) as JSONata expressions, compiled once
 * and evaluated with a time and depth guard.
 */
import jsonata from 'jsonata';

export const DEFAULT_MAPPING_TIMEOUT_MS = 1000;
export const DEFAULT_MAPPING_MAX_DEPTH = 500;

export interface MappingOptions {
  /** Evaluation time limit in ms (checked at every evaluation step). Default 1000. */
  timeoutMs?: number;
  /** Evaluation depth limit (guards runaway recursion). Default 500. */
  maxDepth?: number;
}

interface JsonataErrorLike {
  code?: string;
  position?: number;
  token?: string;
  message?: string;
  value?: unknown;
}

function where(expression: string, position: number | undefined): string {
  if (typeof position !== 'number' || position < 0) return '';
  // jsonata positions point just past the offending token; report 1-based line/column of the position
  const upto = expression.slice(0, position);
  const lines = upto.split('\n');
  return `line ${lines.length}, column ${lines[lines.length - 1].length} (position ${position})`;
}

/** A JSONata syntax error in a mapping, with where it is. */
export class MappingCompileError extends Error {
  readonly code?: string;
  readonly position?: number;
  readonly token?: string;
  constructor(
    readonly expression: string,
    err: JsonataErrorLike,
  ) {
    const at = where(expression, err.position);
    const near = err.token !== undefined ? ` near "${err.token}"` : '';
    super(`JSONata syntax error${at ? ` at ${at}` : ''}${near}: ${err.message ?? String(err)}${err.code ? ` [${err.code}]` : ''}`);
    this.name = 'MappingCompileError';
    this.code = err.code;
    this.position = err.position;
    this.token = err.token;
  }
}

/** A mapping that failed on one input (runtime error, timeout, too deep). */
export class MappingEvaluationError extends Error {
  readonly code?: string;
  readonly position?: number;
  readonly token?: string;
  constructor(expression: string, err: JsonataErrorLike) {
    let detail = err.message ?? String(err);
    if (err.code === 'D1012') detail = `took longer than ${String(err.value)} ms (infinite loop?)`;
    if (err.code === 'D1011') detail = `recursed deeper than ${String(err.value)} levels (non-terminating recursion?)`;
    const at = where(expression, err.position);
    super(`mapping failed${at ? ` at ${at}` : ''}${err.token !== undefined ? ` near "${err.token}"` : ''}: ${detail}${err.code ? ` [${err.code}]` : ''}`);
    this.name = 'MappingEvaluationError';
    this.code = err.code;
    this.position = err.position;
    this.token = err.token;
  }
}

export interface Mapping {
  /** The source expression ('' for the identity mapping). */
  readonly expression: string;
  /** True when the expression is empty: `evaluate` returns its input unchanged. */
  readonly identity: boolean;
  /**
   * Maps one input. Resolves to plain JSON data (JSONata sequences become arrays, undefined values are dropped);
   * `undefined` when the expression matched nothing. Rejects with MappingEvaluationError.
   */
  evaluate(input: unknown, bindings?: Record<string, unknown>): Promise<unknown>;
}

let compiles = 0;
/** How many JSONata expressions compileMapping has compiled in this process (nodes compile once per deploy). */
export function mappingCompileCount(): number {
  return compiles;
}

function toPlain(value: unknown): unknown {
  if (value === undefined) return undefined;
  const json = JSON.stringify(value);
  return json === undefined ? undefined : JSON.parse(json);
}

/**
 * Compiles a JSONata mapping once. An empty (or whitespace-only) expression is the identity mapping.
 * Throws MappingCompileError with line, column, position and token for a syntax error.
 */
export function compileMapping(expression: string, options: MappingOptions = {}): Mapping {
  const source = typeof expression === 'string' ? expression : '';
  if (typeof expression !== 'string' && expression !== undefined && expression !== null) {
    throw new MappingCompileError(String(expression), { message: `the mapping must be a JSONata expression string (got ${typeof expression})` });
  }
  if (source.trim() === '') {
    return { expression: '', identity: true, evaluate: async (input) => input };
  }
  const timeout = options.timeoutMs ?? DEFAULT_MAPPING_TIMEOUT_MS;
  const stack = options.maxDepth ?? DEFAULT_MAPPING_MAX_DEPTH;
  let compiled: jsonata.Expression;
  try {
    compiled = jsonata(source, { timeout, stack });
  } catch (err) {
    throw new MappingCompileError(source, err as JsonataErrorLike);
  }
  compiles++;
  return {
    expression: source,
    identity: false,
    async evaluate(input: unknown, bindings?: Record<string, unknown>): Promise<unknown> {
      try {
        return toPlain(await compiled.evaluate(input, bindings));
      } catch (err) {
        throw new MappingEvaluationError(source, err as JsonataErrorLike);
      }
    },
  };
}
