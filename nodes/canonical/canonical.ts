/**
 * The `canonical` node: maps msg.payload to a canonical entity with a JSONata expression (compiled once per deploy),
 * validates it, and wraps it in a CloudEvents envelope. Output 1: valid envelope; output 2: the original payload
 * with msg.error listing field-level errors. Thin: everything else is lib/model.
 */
import {
  CURRENT_VERSION,
  ENTITIES,
  EntityName,
  FieldError,
  Mapping,
  checkValueSafely,
  compileMapping,
  getCanonicalModel,
  normalizeEntity,
  parseJsonSafely,
  requireEventName,
  summarizeErrors,
  toEnvelope,
  topicFor,
  defaultIdempotencyKey,
} from '../../lib/model';

import { registerNode, type Node, type NodeAPI } from '../node-red-api';
import { CANONICAL, type CanonicalConfig } from './config';
import { positiveSetting } from '../settings';

/** What msg.error carries on output 2. */
interface CanonicalErrorInfo {
  message: string;
  errors: FieldError[];
  entity: string;
  stage: 'config' | 'input' | 'mapping' | 'validation' | 'envelope';
  recordId?: string;
}

function kindOf(value: unknown): string {
  if (value === null) return 'null';
  if (Array.isArray(value)) return 'array';
  return typeof value;
}

function recordIdOf(...candidates: unknown[]): string | undefined {
  for (const c of candidates) {
    if (c && typeof c === 'object' && !Array.isArray(c)) {
      const id = (c as Record<string, unknown>).id;
      if (typeof id === 'string' && id) return id;
      if (typeof id === 'number') return String(id);
    }
  }
  return undefined;
}

function t(RED: NodeAPI, key: string, subs?: Record<string, unknown>): string {
  const text = RED._(`canonical.${key}`, subs);
  // When the catalog is not loaded (e.g. in node-red-node-test-helper), `_` returns the key: show something readable.
  if (!text || text === `canonical.${key}`) return subs ? `${key} ${JSON.stringify(subs)}` : key;
  return text;
}

export = function register(RED: NodeAPI): void {
  function CanonicalNode(this: Node, config: CanonicalConfig): void {
    RED.nodes.createNode(this, config);
    const node = this;
    const counts = { valid: 0, invalid: 0 };

    let entity: EntityName | undefined;
    let event = '';
    let mapping: Mapping | undefined;
    let subjectExpr: Mapping | undefined;
    let keyExpr: Mapping | undefined;
    let configError: string | undefined;
    const maxBytes = positiveSetting(config.maxBytes, CANONICAL.defaults.maxBytes);
    const correlationProperty = (config.correlationProperty ?? CANONICAL.defaults.correlationProperty).trim();
    const source = (config.source ?? '').trim() || `/psfabric/nodes/canonical/${node.id}`;

    try {
      entity = normalizeEntity(config.entity ?? '');
      if (!entity) throw new Error(t(RED, 'errors.entity', { entity: config.entity ?? '' }));
      event = requireEventName((config.event ?? '').trim());
      getCanonicalModel(); // compile the schemas now (once per process), not on the first message
      mapping = compileMapping(config.mapping ?? '');
      if ((config.subject ?? '').trim()) subjectExpr = compileMapping(config.subject as string);
      if ((config.idempotencyKey ?? '').trim()) keyExpr = compileMapping(config.idempotencyKey as string);
    } catch (err) {
      configError = (err as Error).message;
      node.error(t(RED, 'errors.config', { error: configError }));
      node.status({ fill: 'red', shape: 'ring', text: t(RED, 'status.configError') });
    }

    const showCounts = (): void => {
      node.status({
        fill: counts.invalid ? 'yellow' : 'green',
        shape: 'dot',
        text: t(RED, 'status.counts', { valid: counts.valid, invalid: counts.invalid }),
      });
    };
    if (!configError) node.status({ fill: 'grey', shape: 'ring', text: t(RED, 'status.ready') });

    const entityTitle = entity ? ENTITIES[entity].title : String(config.entity ?? '');

    node.on('input', (msg, send, done) => {
      const original = msg.payload;
      const invalid = (stage: CanonicalErrorInfo['stage'], errors: FieldError[], recordId?: string): void => {
        counts.invalid++;
        const info: CanonicalErrorInfo = {
          message: `${entityTitle || 'record'}${recordId ? ` ${recordId}` : ''} ${t(RED, `errors.stage.${stage}`)}: ${summarizeErrors(errors)}`,
          errors,
          entity: entity ?? String(config.entity ?? ''),
          stage,
          ...(recordId ? { recordId } : {}),
        };
        msg.payload = original;
        msg.error = info;
        showCounts();
        send([null, msg]);
        done();
      };

      const run = async (): Promise<void> => {
        if (configError || !entity || !mapping) return invalid('config', [{ path: '', message: configError ?? 'not configured' }]);

        // 1. the input: an object, or JSON text (string/Buffer) parsed safely
        let input: unknown;
        if (typeof original === 'string' || Buffer.isBuffer(original)) {
          const parsed = parseJsonSafely(original, { maxBytes });
          if (!parsed.ok) return invalid('input', parsed.errors);
          input = parsed.value;
        } else if (original !== null && typeof original === 'object' && !Array.isArray(original)) {
          const checked = checkValueSafely(original, { maxBytes });
          if (!checked.ok) return invalid('input', checked.errors, recordIdOf(original));
          input = original;
        } else {
          return invalid('input', [{ path: '', message: t(RED, 'errors.payloadType', { kind: kindOf(original) }) }]);
        }

        // 2. map
        let data: unknown;
        try {
          data = await mapping.evaluate(input);
        } catch (err) {
          return invalid('mapping', [{ path: '', message: (err as Error).message }], recordIdOf(input));
        }
        if (data === undefined) return invalid('mapping', [{ path: '', message: t(RED, 'errors.mappingEmpty') }], recordIdOf(input));
        if (!mapping.identity) {
          const checked = checkValueSafely(data, { maxBytes });
          if (!checked.ok) return invalid('mapping', checked.errors, recordIdOf(data, input));
        }

        // 3. validate
        const result = getCanonicalModel().validate(entity, data);
        if (!result.ok) return invalid('validation', result.errors, recordIdOf(data, input));

        // 4. envelope
        const record = data as Record<string, unknown>;
        let subject: string | undefined;
        let idempotencykey: string;
        try {
          if (subjectExpr) {
            const s = await subjectExpr.evaluate(record);
            if (s !== undefined && s !== null && s !== '') subject = String(s);
          }
          const k = keyExpr ? await keyExpr.evaluate(record) : undefined;
          idempotencykey = k !== undefined && k !== null && k !== '' ? String(k) : defaultIdempotencyKey(entity, record);
        } catch (err) {
          return invalid('envelope', [{ path: '', message: (err as Error).message }], recordIdOf(record));
        }
        const incoming = correlationProperty ? msg[correlationProperty] : undefined;
        const correlationid = typeof incoming === 'string' && incoming ? incoming : undefined;
        const envelope = toEnvelope({ entity, event, version: CURRENT_VERSION, source, subject, data: record, correlationid, idempotencykey });
        msg.payload = envelope;
        msg.topic = topicFor(entity, event);
        if (correlationProperty) msg[correlationProperty] = envelope.correlationid;
        counts.valid++;
        showCounts();
        send([msg, null]);
        done();
      };

      run().catch((err: unknown) => {
        // unexpected (a bug, not bad data): let Catch nodes see it
        done(err instanceof Error ? err : new Error(String(err)));
      });
    });

    node.on('close', (_removed, done) => {
      node.status({});
      done();
    });
  }

  registerNode(RED, CANONICAL.type, CanonicalNode, CANONICAL);
};
