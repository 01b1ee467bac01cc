/**
 * Editor metadata of every node set in package.json `node-red.nodes`, read from dist/ the way Node-RED's editor sees it
 * (no browser): the registration in `<name>.html` (run in a vm with a stub `RED` and `$`), the message catalog
 * `locales/en-US/<name>.json`, the help (`data-help-name` in the .html or `locales/en-US/<name>.html`), the icons/ folder
 * beside the compiled node, and the catalog keys the compiled node code and the dialog use.
 *
 * Each check is one test per node type, so a gap names the node and what is missing. Gaps we know about and cannot fix in
 * this change are listed in KNOWN_GAPS: those tests are reported pending while the gap is there, and fail once it is fixed
 * so that the entry gets removed.
 */
import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import vm from 'node:vm';
import jsonata from 'jsonata';

const root = path.resolve(__dirname, '../../..');
const pkg = JSON.parse(fs.readFileSync(path.join(root, 'package.json'), 'utf8'));
const sets: Record<string, string> = pkg['node-red'].nodes;

/** Kind of each operation node; every node of a kind has the same palette colour. A new node must be classified here. */
const KINDS: Record<string, string[]> = {
  connector: ['salesforce', 'salesforce-trigger', 'netsuite', 'business-central', 'kantata', 'jira', 'teams-notify', 'legacy-erp'],
  guarantee: ['canonical', 'fabric-idempotent', 'fabric-exception', 'fabric-exceptions'],
  event: ['fabric-mqtt-in', 'fabric-mqtt-out', 'api-gate', 'api-read', 'api-requests', 'api-fulfil'],
  operations: ['ops-feed', 'process-step'],
};

/** Core Node-RED icons used on purpose (none at the moment: every PS Fabric node draws its own). */
const DELIBERATE_CORE_ICONS: string[] = [];

/** Config-node references a node works without (documented fallbacks). */
const OPTIONAL_CONFIG_REFS: Record<string, string[]> = {
  'fabric-mqtt-in': ['store'], // the runtime's own store when empty
  'ops-feed': ['ownership'], // owner teams come from the exceptions themselves when empty
  'legacy-erp': ['legacy'], // only the postInvoice mode posts; the translation modes need no connection
  'teams-notify': ['teams', 'store'], // a teams-config, or (older flows) a store with the node's own Workflows URL
};

/** Dialog settings under which the conditional fields (postgres URL, broker URL, JSONata key) are in use, for probing validators. */
const USING_MODES = { kind: 'postgres', mode: 'url', keySource: 'jsonata' };

/** Known gaps, per type: check name -> why. Reported pending while the gap exists; fail once fixed (remove the entry). */
const KNOWN_GAPS: Record<string, Record<string, string>> = {};

type Def = Record<string, any>;  
interface Loaded {
  set: string;
  dir: string;
  html: string;
  helpHtml: string;
  catalog: Record<string, unknown>;
  code: string;
  defs: Map<string, Def>;
  /** fields the dialog turns into typedInputs, with their options (captured from oneditprepare) */
  typed: Map<string, Map<string, Def>>;
}

function lookup(catalog: Record<string, unknown>, key: string): unknown {
  let cur: unknown = catalog;
  for (const part of key.split('.')) {
    if (!cur || typeof cur !== 'object') return undefined;
    cur = (cur as Record<string, unknown>)[part];
  }
  return cur;
}

/** A permissive stand-in for jQuery and the parts of RED a registration touches at load or in oneditprepare. */
function permissive(onCall?: (path: string[], args: unknown[]) => unknown, trail: string[] = []): any {  
  const fn = function () { /* stub */ };
  return new Proxy(fn, {
    get(_t, prop) {
      if (prop === Symbol.toPrimitive) return () => '';
      if (prop === 'then') return undefined;
      if (prop === 'length') return 0;
      return permissive(onCall, [...trail, String(prop)]);
    },
    apply(_t, _this, args) {
      const r = onCall?.(trail, args);
      return r === undefined ? permissive(onCall, [...trail, '()']) : r;
    },
  });
}

// validators with the editor's semantics (RED.validators in @node-red/editor-client), tagged for the checks below
const validators = {
  number: (blank?: boolean) => Object.assign((v: unknown) => {
    if (blank && (v === '' || v === undefined)) return true;
    if (v !== '' && /^[+-]?[0-9]*\.?[0-9]*([eE][-+]?[0-9]+)?$/.test(String(v))) return true;
    if (/^\${[^}]+}$/.test(String(v))) return true;
    return v !== '' && v !== undefined && !isNaN(Number(v));
  }, { validator: 'number' }),
  regex: (re: RegExp) => Object.assign((v: unknown) => re.test(String(v)), { validator: 'regex' }),
  typedInput: (opts: string | Def) => Object.assign(function (this: Def, v: unknown) {
    const o: Def = typeof opts === 'string' ? { typeField: opts, allowBlank: false } : opts;
    if (o.allowBlank && v === '') return true;
    const type = o.type ?? this?.[o.typeField];
    if (type === 'jsonata') {
      try { jsonata(String(v)); return true; } catch { return false; }
    }
    return true;
  }, { validator: 'typedInput', options: opts }),
};

function load(set: string, jsPath: string): Loaded {
  const dir = path.dirname(path.join(root, jsPath));
  const html = fs.readFileSync(path.join(dir, `${set}.html`), 'utf8');
  const localeHtml = path.join(dir, 'locales', 'en-US', `${set}.html`);
  const helpHtml = html + (fs.existsSync(localeHtml) ? fs.readFileSync(localeHtml, 'utf8') : '');
  const catalogFile = path.join(dir, 'locales', 'en-US', `${set}.json`);
  const catalog = fs.existsSync(catalogFile) ? JSON.parse(fs.readFileSync(catalogFile, 'utf8')) : {};
  const code = fs.readdirSync(dir).filter((f) => f.endsWith('.js')).map((f) => fs.readFileSync(path.join(dir, f), 'utf8')).join('\n');

  const defs = new Map<string, Def>();
  const typed = new Map<string, Map<string, Def>>();
  let current: Map<string, Def> | undefined;
  const $ = permissive((trail, args) => {
    // $('#node-input-x').typedInput({...}) records the field and the options
    if (trail.length === 0 && typeof args[0] === 'string') {
      const selector = args[0];
      return permissive((t2, a2) => {
        const m = /#node-(?:config-)?input-([\w-]+)$/.exec(selector);
        if (m && t2[0] === 'typedInput' && a2[0] && typeof a2[0] === 'object') current?.set(m[1], a2[0] as Def);
        return undefined;
      });
    }
    return undefined;
  });
  const RED = permissive();
  const red = new Proxy({}, {
    get(_t, prop) {
      if (prop === 'nodes') return new Proxy({}, { get: (_x, p) => (p === 'registerType' ? (type: string, def: Def) => defs.set(type, def) : RED.nodes[p]) });
      if (prop === 'validators') return validators;
      if (prop === '_') return (k: string) => k;
      return RED[prop];
    },
  });
  const scripts = [...html.matchAll(/<script type="text\/javascript"[^>]*>([\s\S]*?)<\/script>/g)].map((m) => m[1]);
  const context = vm.createContext({ RED: red, $, jQuery: $, window: {}, document: permissive(), console });
  for (const s of scripts) vm.runInContext(s, context, { filename: `${set}.html` });
  for (const [type, def] of defs) {
    current = new Map();
    typed.set(type, current);
    const node: Def = { _: (k: string) => String(lookup(catalog, k) ?? k), id: 'n1', type };
    for (const [k, d] of Object.entries(def.defaults ?? {})) node[k] = (d as Def).value;
    try { def.oneditprepare?.call(node); } catch { /* a dialog that needs a real DOM further on: keep what was captured */ }
  }
  return { set, dir, html, helpHtml, catalog, code, defs, typed };
}

function helpOf(l: Loaded, type: string): string | undefined {
  const re = new RegExp(`<script type="text/(?:html|x-red)" data-help-name="${type}">([\\s\\S]*?)</script>`);
  return re.exec(l.helpHtml)?.[1];
}

/** Catalog keys the compiled node code uses: RED._('ns.key'), and 'status.x' / 'errors.x' literals given to a `ns.${k}` helper. */
function codeKeys(l: Loaded): string[] {
  const keys = new Set<string>();
  for (const m of l.code.matchAll(/RED\._\(\s*['"`]([\w-]+\.[\w.-]+)['"`]/g)) if (!m[1].endsWith('.')) keys.add(m[1]);
  const prefixes = [...l.code.matchAll(/RED\._\(\s*`([\w-]+)\.\$\{/g)].map((m) => m[1]);
  for (const ns of new Set(prefixes)) {
    for (const m of l.code.matchAll(/['"`]((?:status|errors|warnings|log|label|progress)\.[\w.-]+)['"`]/g)) {
      if (!m[1].endsWith('.')) keys.add(`${ns}.${m[1]}`);
    }
  }
  return [...keys];
}

/** Catalog keys the dialog and help use: data-i18n="ns.key" (with [attr] prefixes, ';'-separated) and _('ns.key'). */
function htmlKeys(l: Loaded): string[] {
  const keys = new Set<string>();
  const all = l.html + l.helpHtml;
  for (const m of all.matchAll(/data-i18n="([^"]+)"/g)) {
    for (const part of m[1].split(';')) {
      const key = part.replace(/^\[[^\]]+\]/, '').trim();
      if (key && !key.includes(':')) keys.add(key);
    }
  }
  for (const m of l.html.matchAll(/\b_\(\s*['"]([\w-]+\.[\w.-]+)['"]/g)) if (!m[1].endsWith('.') && !m[1].includes(':')) keys.add(m[1]);
  return [...keys];
}

const loaded: Loaded[] = Object.entries(sets).map(([set, js]) => load(set, js));

describe('editor metadata of every PS Fabric node (dist/)', () => {
  it('every node set registers at least one type, and the operation nodes are classified by kind', () => {
    for (const l of loaded) assert.ok(l.defs.size > 0, `${l.set}: no RED.nodes.registerType in ${l.set}.html`);
    const classified = new Set(Object.values(KINDS).flat());
    for (const l of loaded) for (const [type, def] of l.defs) {
      if (def.category !== 'config') assert.ok(classified.has(type), `${type}: add it to KINDS in this test (connector, guarantee, event, operations)`);
    }
  });

  it('one palette colour per kind', () => {
    const colourOf = new Map<string, string>();
    for (const l of loaded) for (const [type, def] of l.defs) colourOf.set(type, String(def.color ?? '').toLowerCase());
    for (const [kind, types] of Object.entries(KINDS)) {
      const colours = new Map(types.filter((t) => colourOf.has(t)).map((t) => [t, colourOf.get(t)]));
      assert.equal(new Set(colours.values()).size, 1, `${kind} nodes have different colours: ${JSON.stringify(Object.fromEntries(colours))}`);
    }
  });

  it('palette labels are unique', () => {
    const labels = new Map<string, string>();
    for (const l of loaded) for (const [type, def] of l.defs) {
      if (def.category === 'config' || typeof def.paletteLabel !== 'function') continue;
      const label = String(def.paletteLabel.call({ _: (k: string) => String(lookup(l.catalog, k) ?? k) }));
      assert.ok(!labels.has(label), `${type} and ${labels.get(label)} share the palette label "${label}"`);
      labels.set(label, type);
    }
  });

  for (const l of loaded) {
    for (const type of (() => { try { return [...l.defs.keys()]; } catch { return []; } })()) {
      const def = l.defs.get(type)!;
      const isConfig = def.category === 'config';
      const gap = (check: string, fn: () => void) => {
        const known = KNOWN_GAPS[type]?.[check];
        it(`${type}: ${check}${known ? ' (known gap)' : ''}`, function () {
          if (!known) return fn();
          let failed = false;
          try { fn(); } catch { failed = true; }
          if (failed) return this.skip();
          assert.fail(`${type}: the known gap "${check}" is fixed, remove it from KNOWN_GAPS`);
        });
      };

      gap('category', () => {
        assert.ok(def.category === 'PS Fabric' || def.category === 'config', `${type}: category "${def.category}" (want 'PS Fabric' or 'config')`);
        if (!isConfig) assert.match(String(def.color), /^#[0-9a-fA-F]{6}$/, `${type}: no palette colour`);
      });

      if (!isConfig) {
        gap('icon', () => {
          const icon = String(def.icon ?? '');
          assert.ok(icon, `${type}: no icon`);
          if (DELIBERATE_CORE_ICONS.includes(icon)) return;
          assert.ok(!icon.startsWith('font-awesome/'), `${type}: icon ${icon} is a font-awesome glyph, not an icon of its own`);
          assert.ok(fs.existsSync(path.join(l.dir, 'icons', icon)), `${type}: icon ${icon} is not in ${path.relative(root, l.dir)}/icons (a core icon?)`);
        });

        gap('paletteLabel', () => {
          assert.equal(typeof def.paletteLabel, 'function', `${type}: paletteLabel should be function () { return this._('${type}.paletteLabel'); }`);
          const fromCatalog = lookup(l.catalog, `${type}.paletteLabel`);
          assert.equal(typeof fromCatalog, 'string', `${type}: no "${type}.paletteLabel" in locales/en-US/${l.set}.json`);
          const label = String(def.paletteLabel.call({ _: (k: string) => String(lookup(l.catalog, k) ?? k) }));
          assert.equal(label, fromCatalog, `${type}: paletteLabel does not come from the catalog`);
          assert.match(label, /^[a-z0-9]+( [a-z0-9]+)*$/, `${type}: palette label "${label}" is not lower-case words`);
        });
      }

      gap('help', () => {
        const help = helpOf(l, type);
        assert.ok(help && help.trim().length > 80, `${type}: no help text (data-help-name="${type}")`);
        const has = (h: string) => new RegExp(`<h3>\\s*${h}`, 'i').test(help);
        if (isConfig) {
          assert.ok(has('Properties') || has('Details'), `${type}: help has no Properties section`);
          if (def.credentials && Object.keys(def.credentials).length) {
            assert.match(help, /credential/i, `${type}: help does not say where the credentials go`);
          }
          return;
        }
        if (Number(def.inputs ?? 0) > 0) assert.ok(has('Inputs'), `${type}: help has no <h3>Inputs</h3>`);
        if (Number(def.outputs ?? 0) > 0) assert.ok(has('Outputs'), `${type}: help has no <h3>Outputs</h3>`);
        assert.ok(has('Details') || has('Properties'), `${type}: help has no <h3>Details</h3> (or Properties)`);
        assert.ok(has('Example'), `${type}: help has no <h3>Example</h3>`);
      });

      gap('validation', () => {
        const node: Def = {};
        for (const [k, d] of Object.entries(def.defaults ?? {})) node[k] = (d as Def).value;
        for (const [field, d] of Object.entries<Def>(def.defaults ?? {})) {
          if (d.type) {
            const optional = OPTIONAL_CONFIG_REFS[type]?.includes(field);
            if (!optional) assert.equal(d.required, true, `${type}: the ${d.type} reference "${field}" is not required: true`);
            continue;
          }
          const v = d.validate as ((this: Def, v: unknown, opt?: unknown) => unknown) | undefined;
          if (typeof d.value === 'number' && field !== 'outputs') { // outputs: the port count a dialog sets (as in switch)
            assert.ok(v, `${type}: numeric field "${field}" has no validator`);
            assert.equal(v.call(node, 'ten'), false, `${type}: numeric field "${field}" accepts "ten"`);
            assert.notEqual(v.call(node, d.value), false, `${type}: numeric field "${field}" rejects its own default ${d.value}`);
          }
          if (/url$/i.test(field)) {
            assert.ok(v, `${type}: URL field "${field}" has no validator`);
            const probe = { ...node, ...USING_MODES };
            assert.equal(v.call(probe, 'not a url'), false, `${type}: URL field "${field}" accepts "not a url"`);
            assert.notEqual(v.call(probe, '${FABRIC_SOME_URL}'), false, `${type}: URL field "${field}" rejects a \${ENV_VAR} value (templates use them)`);
          }
          if (d.required && d.validate === undefined && typeof d.value === 'string' && d.value !== '') {
            // required with a default value is fine (the editor flags an emptied field)
          }
        }
        for (const [field, opts] of l.typed.get(type) ?? []) {
          const types = (opts.types ?? []) as unknown[];
          if (!(types.length === 1 && types[0] === 'jsonata')) continue;
          const v = def.defaults?.[field]?.validate as ((this: Def, v: unknown) => unknown) | undefined;
          assert.ok(v, `${type}: JSONata field "${field}" has no validator (RED.validators.typedInput)`);
          assert.equal(v.call({ ...node, ...USING_MODES }, '$sum((('), false, `${type}: JSONata field "${field}" accepts an expression that does not parse`);
        }
      });

      gap('catalog keys', () => {
        const missing = [...codeKeys(l), ...htmlKeys(l)].filter((k) => k.startsWith(`${type}.`) || k.startsWith(`${l.set}.`)).filter((k) => lookup(l.catalog, k) === undefined);
        assert.deepEqual([...new Set(missing)], [], `${type}: keys used in ${l.set}.js/.html missing from locales/en-US/${l.set}.json`);
      });

      gap('status texts from the catalog', () => {
        const hardCoded = [...l.code.matchAll(/\.status\(\{[^}]*?\btext:\s*(['"`])([^'"`$]{3,})\1/g)].map((m) => m[2]);
        assert.deepEqual(hardCoded, [], `${type}: status texts not from the catalog`);
      });
    }
  }
});
