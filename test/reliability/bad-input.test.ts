/**
 * Bad input: the real runtime (fabric-mqtt-in -> canonical -> outbox delivery; fabric-mqtt-in's invalid output and
 * canonical's invalid output both wired to fabric-exception) receives >= 1,000 generated malformed or hostile messages
 * (broken JSON, not JSON, wrong types, missing fields, over the size limit, deeply nested, `__proto__` / `constructor` /
 * `prototype` keys, injection strings in ids, non-object payloads) interleaved with valid time entries.
 * The runtime stays up (/healthz 200 throughout), every bad message is in the exception queue once with a reason naming
 * its field or problem, every valid one reaches the target exactly once, and no inbox entry is left unprocessed.
 */
import assert from 'node:assert/strict';
import http from 'node:http';
import path from 'node:path';
import Database from 'better-sqlite3';
import mqtt, { type MqttClient } from 'mqtt';
import { startBroker, type RunningBroker } from '../../lib/broker';
import { record } from './support/report';
import { kill9, terminate, knob } from './support/child';
import { startTarget, type RunningTarget } from './support/target';
import { prepareUserDir, reliabilityFlow, startRuntime, subscribed, timeEntry, type RuntimeChild } from './support/runtime';
import { tempDir } from '../support/tmp';
import { waitFor } from '../support/wait';

const MAX_BYTES = 16 * 1024;
const INJECTION_IDS = [
  "'; DROP TABLE inbox; --",
  '<script>alert(1)</script>',
  '../../etc/passwd',
  '${7*7}',
  '{{7*7}}',
  '$(rm -rf /)',
  'TE\u0000NUL',
  'x'.repeat(300),
  ' ',
  '%00%27',
  'TE-1 OR 1=1',
  '\u202eRTL',
];

interface Bad {
  marker: string;
  kind: string;
  text: string;
  /** What the exception's reason must name. */
  reason: RegExp;
  /** The fabric-exception node expected to record it. */
  step: 'mqtt-in' | 'canonical';
}

function deep(depth: number, marker: string): string {
  return `{"marker":"${marker}","a":${'{"a":'.repeat(depth)}1${'}'.repeat(depth)}}`;
}

/** The n-th bad message; every one carries its own marker (BAD-<n>) so its exception can be found. */
function badMessage(n: number): Bad {
  const marker = `BAD-${n}`;
  const id = `TE-BI-BAD-${n}`;
  const entry = (extra: Record<string, unknown> = {}, drop: string[] = []) => {
    const e: Record<string, unknown> = { ...timeEntry(id, { projectId: marker }), ...extra };
    for (const k of drop) delete e[k];
    return e;
  };
  switch (n % 14) {
    case 0:
      return { marker, kind: 'broken JSON', text: JSON.stringify(entry()).slice(0, 60 + (n % 40)), reason: /JSON/i, step: 'mqtt-in' };
    case 1:
      return { marker, kind: 'not JSON', text: `<timeEntry id="${marker}"><hours>7.5</hours></timeEntry>`, reason: /JSON/i, step: 'mqtt-in' };
    case 2:
      return { marker, kind: 'wrong type (hours)', text: JSON.stringify(entry({ hours: 'seven and a half' })), reason: /hours/, step: 'canonical' };
    case 3:
      return { marker, kind: 'wrong type (billable)', text: JSON.stringify(entry({ billable: 'yes' })), reason: /billable/, step: 'canonical' };
    case 4:
      return { marker, kind: 'wrong type (date)', text: JSON.stringify(entry({ date: 20261102 })), reason: /date/, step: 'canonical' };
    case 5:
      return { marker, kind: 'missing field', text: JSON.stringify(entry({}, ['person'])), reason: /person/, step: 'canonical' };
    case 6:
      return { marker, kind: 'unknown field', text: JSON.stringify(entry({ discount: 100 })), reason: /discount/, step: 'canonical' };
    case 7:
      return { marker, kind: 'over the size limit', text: JSON.stringify({ marker, ...entry(), note: 'x'.repeat(MAX_BYTES + 1024 * (n % 64)) }), reason: /too large/i, step: 'mqtt-in' };
    case 8:
      return { marker, kind: 'deeply nested', text: deep(100 + (n % 400), marker), reason: /deep|nest|depth/i, step: 'mqtt-in' };
    case 9:
      return { marker, kind: '__proto__ key', text: `{"__proto__":{"polluted":"${marker}"},${JSON.stringify(entry()).slice(1)}`, reason: /__proto__/, step: 'mqtt-in' };
    case 10:
      return { marker, kind: 'constructor key', text: `{"constructor":{"prototype":{"polluted":"${marker}"}},${JSON.stringify(entry()).slice(1)}`, reason: /constructor/, step: 'mqtt-in' };
    case 11:
      return { marker, kind: 'injection id', text: JSON.stringify(entry({ id: `${INJECTION_IDS[n % INJECTION_IDS.length]}${n % 2 ? '' : ` ${marker}`}` })), reason: /\bid\b/, step: 'canonical' };
    case 12:
      return { marker, kind: 'not an object (array)', text: JSON.stringify([marker, entry()]), reason: /array|object/i, step: 'canonical' };
    default:
      return { marker, kind: 'wrong type (nested person)', text: JSON.stringify(entry({ person: { id: 42, name: ['x'], email: marker } })), reason: /person/, step: 'canonical' };
  }
}

describe('reliability: bad input through a deployed flow', function () {
  const BAD = knob('RELIABILITY_BAD_MESSAGES', 1000);
  const VALID = knob('RELIABILITY_BAD_VALID_MESSAGES', 250);
  let tmp: { dir: string; cleanup(): void };
  let t: RunningTarget;
  let broker: RunningBroker;
  let pub: MqttClient;
  let runtime: RuntimeChild | undefined;

  before(async () => {
    tmp = tempDir('psfabric-rel-bad-');
    t = await startTarget();
    broker = await startBroker({ port: 0, persistence: 'memory' });
    pub = await mqtt.connectAsync(broker.url!, { reconnectPeriod: 0, clientId: 'rel-bad-publisher' });
  });
  after(async () => {
    await kill9(runtime);
    await pub?.endAsync(true).catch(() => {});
    await broker?.close();
    await t?.close();
    tmp?.cleanup();
  });

  it(`keeps the runtime up; ${BAD} bad messages each in the exception queue with a reason, ${VALID} valid ones delivered once`, async function () {
    const userDir = path.join(tmp.dir, 'user');
    const topic = 'legacy/v1/bad-input';
    const clientId = 'psfabric-rel-bad';
    const flows = reliabilityFlow({ brokerUrl: broker.url!, targetUrl: t.url, topic, clientId, maxBytes: MAX_BYTES });
    // both invalid outputs go to fabric-exception (not only one of them)
    const byId = new Map((flows as Array<{ id: string; wires?: string[][] }>).map((n) => [n.id, n]));
    assert.deepEqual(byId.get('relin')!.wires![1], ['relexcIn'], "fabric-mqtt-in's invalid output is wired to fabric-exception");
    assert.deepEqual(byId.get('relcan')!.wires![1], ['relexcCan'], "canonical's invalid output is wired to fabric-exception");
    prepareUserDir(userDir, flows);
    runtime = await startRuntime(userDir);
    await waitFor(() => subscribed(broker.aedes, clientId, topic), 'the runtime to subscribe', 30000);

    const bad = Array.from({ length: BAD }, (_, i) => badMessage(i));
    const validIds = Array.from({ length: VALID }, (_, i) => `TE-BI-OK-${i}`);
    // interleave: a valid message after every BAD/VALID bad ones
    const sequence: Array<{ text: string }> = [];
    const every = Math.max(1, Math.floor(BAD / Math.max(1, VALID)));
    let v = 0;
    bad.forEach((b, i) => {
      sequence.push(b);
      if (i % every === every - 1 && v < VALID) sequence.push({ text: JSON.stringify(timeEntry(validIds[v++])) });
    });
    while (v < VALID) sequence.push({ text: JSON.stringify(timeEntry(validIds[v++])) });

    const health = { checks: 0, failures: [] as string[] };
    let polling = true;
    const poller = (async () => {
      while (polling) {
        // a fresh connection per check (no keep-alive socket the server may close between checks)
        const result = await new Promise<string>((resolve) => {
          const req = http.get(`${runtime!.url}/healthz`, { agent: false, timeout: 10000 }, (res) => {
            let body = '';
            res.on('data', (c) => (body += c));
            res.on('end', () => resolve(res.statusCode === 200 ? 'ok' : `${res.statusCode} ${body.slice(0, 200)}`));
          });
          req.on('timeout', () => req.destroy(new Error('no answer within 10 s')));
          req.on('error', (err) => resolve(`request failed: ${err.message}`));
        });
        health.checks++;
        if (result !== 'ok') health.failures.push(result);
        await new Promise((r) => setTimeout(r, 200));
      }
    })();

    const figures = { scenario: '7 bad input', writes: VALID, kills: 0, resendsAbsorbed: 0, duplicatedEffects: 0, lost: 0, exceptions: 0, maxRate: '' as number | '', notes: '' };
    const db = () => new Database(path.join(userDir, 'fabric.sqlite'), { readonly: true, fileMustExist: true });
    const started = Date.now();
    try {
      let sent = 0;
      const progress = setInterval(() => {
        if (process.env.RELIABILITY_VERBOSE) console.log(`[bad-input] published ${sent}/${sequence.length}, delivered ${validIds.filter((id) => t.target.effectsForId(id).length > 0).length}`);
      }, 5000);
      try {
        for (const m of sequence) {
          await pub.publishAsync(topic, m.text, { qos: 1 });
          sent++;
        }
      } finally {
        clearInterval(progress);
      }
      const published = Date.now() - started;
      await waitFor(() => validIds.every((id) => t.target.effectsForId(id).length > 0), 'every valid message at the target', 120000, 100).catch(() => undefined);
      const exceptionCount = () => {
        const d = db();
        try {
          return (d.prepare("SELECT COALESCE(SUM(occurrences), 0) AS n FROM exceptions WHERE process = 'reliability'").get() as { n: number }).n;
        } finally {
          d.close();
        }
      };
      await waitFor(() => exceptionCount() >= BAD, `${BAD} exceptions`, 120000, 200).catch(() => undefined);
      // nothing may stay `received`: every message was handed over (outbox or exception queue)
      const pendingCount = () => {
        const d = db();
        try {
          return (d.prepare("SELECT COUNT(*) AS n FROM inbox WHERE status <> 'processed'").get() as { n: number }).n;
        } finally {
          d.close();
        }
      };
      await waitFor(() => pendingCount() === 0, 'every inbox entry processed', 30000, 200).catch(() => undefined);
      polling = false;
      await poller;

      const d = db();
      let rows: Array<{ id: number; step: string; message: string; details: string | null; request: string | null; occurrences: number; error_class: string }>;
      let inboxLeft: number;
      try {
        rows = d.prepare("SELECT id, step, message, details, request, occurrences, error_class FROM exceptions WHERE process = 'reliability' ORDER BY id").all() as typeof rows;
        inboxLeft = (d.prepare("SELECT COUNT(*) AS n FROM inbox WHERE status <> 'processed'").get() as { n: number }).n;
      } finally {
        d.close();
      }
      // find each bad message's exception by its marker
      const byMarker = new Map<string, typeof rows>();
      for (const row of rows) {
        const found = new Set((`${row.request ?? ''} ${row.message}`.match(/BAD-\d+/g) ?? []));
        for (const m of found) byMarker.set(m, [...(byMarker.get(m) ?? []), row]);
      }
      const missing: string[] = [];
      const twice: string[] = [];
      const unclear: string[] = [];
      const wrongStep: string[] = [];
      for (const b of bad) {
        const ex = byMarker.get(b.marker) ?? [];
        if (ex.length === 0) missing.push(`${b.marker} (${b.kind})`);
        else if (ex.length > 1 || ex[0].occurrences !== 1) twice.push(`${b.marker} (${b.kind})`);
        else {
          const reason = `${ex[0].message} ${ex[0].details ?? ''}`;
          if (!b.reason.test(reason)) unclear.push(`${b.marker} (${b.kind}): ${reason.slice(0, 200)}`);
          if (ex[0].step !== b.step) wrongStep.push(`${b.marker} (${b.kind}) at ${ex[0].step}`);
        }
      }
      const notDelivered = validIds.filter((id) => t.target.effectsForId(id).length === 0);
      const deliveredTwice = validIds.filter((id) => t.target.effectsForId(id).length > 1);
      const validInQueue = rows.filter((r) => /TE-BI-OK-/.test(r.request ?? ''));
      const badDelivered = [...t.target.effects.keys()].filter((k) => /BAD/.test(String(k)));
      const kinds = new Map<string, number>();
      for (const b of bad) kinds.set(b.kind, (kinds.get(b.kind) ?? 0) + 1);

      figures.lost = notDelivered.length + missing.length;
      figures.duplicatedEffects = deliveredTwice.length;
      figures.resendsAbsorbed = t.target.duplicates();
      figures.exceptions = rows.reduce((n, r) => n + r.occurrences, 0);
      figures.maxRate = t.target.maxRate();
      figures.notes = `${BAD} bad (${kinds.size} kinds) + ${VALID} valid published in ${(published / 1000).toFixed(1)} s; /healthz ${health.checks - health.failures.length}/${health.checks} 200; exceptions at mqtt-in ${rows.filter((r) => r.step === 'mqtt-in').length}, canonical ${rows.filter((r) => r.step === 'canonical').length}`;
      record({ ...figures, failed: !!(missing.length || twice.length || unclear.length || wrongStep.length || notDelivered.length || deliveredTwice.length || health.failures.length || validInQueue.length || badDelivered.length || inboxLeft) });

      assert.deepEqual(health.failures, [], 'the runtime stayed healthy');
      assert.ok(health.checks > 0);
      assert.deepEqual(missing.slice(0, 10), [], `${missing.length} bad messages not in the exception queue`);
      assert.deepEqual(twice.slice(0, 10), [], `${twice.length} bad messages recorded more than once`);
      assert.deepEqual(unclear.slice(0, 10), [], `${unclear.length} exceptions whose reason does not name the problem`);
      assert.deepEqual(wrongStep.slice(0, 10), [], `${wrongStep.length} exceptions recorded by the wrong step`);
      assert.equal(figures.exceptions, BAD, 'exactly one exception per bad message');
      assert.deepEqual(validInQueue.map((r) => r.id), [], 'valid messages in the exception queue');
      assert.deepEqual(notDelivered, [], 'valid messages not delivered');
      assert.deepEqual(deliveredTwice, [], 'valid messages applied twice');
      assert.deepEqual(badDelivered, [], 'bad messages reached the target');
      assert.equal(inboxLeft, 0, 'inbox entries not handed over');
      assert.equal(await terminate(runtime), '0');
      runtime = undefined;
    } finally {
      polling = false;
      await poller;
    }
  });
});
