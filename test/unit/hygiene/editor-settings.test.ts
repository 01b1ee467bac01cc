/**
 * Each node's settings are declared once, in TypeScript (nodes/<name>/config.ts, `nodeSettings` of nodes/settings.ts),
 * and the build writes what the editor needs from them into the dialog Node-RED loads. Checked from dist/ for every
 * node set in package.json: the editor's `defaults` (the dialog run as the editor would, test/support/dialog.ts) equal
 * the declaration, value for value, with the config node types, `required` and a validator that accepts the default
 * and refuses what its check refuses; the credentials equal it; an operation node's operation row lists the declared
 * operations and its rows name only those. And no dialog source carries its own defaults, credentials or
 * operation list.
 */
import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { currentVersion } from '../../../nodes/migrations';
import type { Check, NodeSettings, Setting } from '../../../nodes/settings';
import { editorDefinitions } from '../../support/dialog';

const ROOT = path.resolve(__dirname, '..', '..', '..', '..');
const pkg = JSON.parse(fs.readFileSync(path.join(ROOT, 'package.json'), 'utf8'));
const sets = Object.keys(pkg['node-red'].nodes as Record<string, string>);

type Def = Record<string, any>;
type Validator = (this: Def, v: unknown, opt?: unknown) => unknown;

/** Values the check refuses: a validator must refuse at least one of them. */
function refused(check: Check): unknown[] {
  switch (check.is) {
    case 'number': return [check.min !== undefined ? check.min - 1 : check.positive ? -1 : 'ten', 'ten'];
    case 'regex': return ['not valid at all', 'a/#/b', 'x+', '#'];
    case 'json': return [check.shape === 'array' ? '{}' : '[1', ...(check.shape === 'object' ? ['[]'] : [])];
    case 'jsonata': return ['$sum((('];
    case 'oneOf': return ['no-such-choice'];
    case 'regexp': return ['('];
    case 'orSetting': return [''];
  }
}

/** Whether an empty value passes the check (it does not when the setting must be filled in its mode). */
function acceptsBlank(check: Check): boolean {
  return check.is === 'json' || check.is === 'regexp' || ('blank' in check && !!check.blank);
}

const declarations = sets.flatMap((set) => {
  const file = path.join(ROOT, 'dist', 'nodes', set, 'config.js');
  assert.ok(fs.existsSync(file), `nodes/${set}/config.ts declares no settings (nodeSettings of nodes/settings.ts)`);
  // eslint-disable-next-line @typescript-eslint/no-require-imports
  const declared = Object.values(require(file) as Record<string, unknown>).filter((d): d is NodeSettings<Def> => !!d && typeof (d as Def).type === 'string' && Array.isArray((d as Def).migrations));
  return declared.map((d) => ({ set, d }));
});

describe('hygiene: editor settings from the one TypeScript declaration', () => {
  const built = new Map(sets.map((set) => [set, fs.readFileSync(path.join(ROOT, 'dist', 'nodes', set, `${set}.html`), 'utf8')]));
  const registered = new Map(sets.map((set) => [set, editorDefinitions(set)]));

  it('every type a dialog registers has its declaration, in its own folder', () => {
    for (const [set, defs] of registered) {
      for (const type of defs.keys()) assert.ok(declarations.some((x) => x.set === set && x.d.type === type), `${type}: no nodeSettings declaration in nodes/${set}/config.ts`);
    }
  });

  for (const { set, d } of declarations) {
    describe(d.type, () => {
      const def = () => {
        const found = registered.get(set)!.get(d.type);
        assert.ok(found, `${d.type}: declared in nodes/${set}/config.ts but not registered by ${set}.html`);
        return found;
      };

      it('the editor defaults equal the declaration (values, config node types, required)', () => {
        const defaults = def().defaults as Record<string, Def>;
        assert.deepEqual(Object.keys(defaults), ['version', ...Object.keys(d.settings)]);
        assert.equal(defaults.version.value, currentVersion(d.migrations), 'version: the last migration');
        for (const [name, s] of Object.entries(d.settings as Record<string, Setting<unknown>>)) {
          const e = defaults[name];
          assert.deepEqual(e.value, s.value, `${name}: the editor's default`);
          assert.equal(e.type, s.type, `${name}: config node type`);
          assert.equal(e.required, s.required, `${name}: required`);
          assert.equal(typeof e.validate === 'function', !!s.check, `${name}: a validator exactly when the declaration has a check`);
        }
        assert.deepEqual(d.defaults, Object.fromEntries(Object.entries(d.settings as Record<string, Setting<unknown>>).map(([k, s]) => [k, s.value])), 'the runtime reads the same defaults');
      });

      it('each validator accepts the default and refuses what its check refuses', () => {
        const defaults = def().defaults as Record<string, Def>;
        const node: Def = Object.fromEntries(Object.entries(defaults).map(([k, e]) => [k, e.value]));
        for (const [name, s] of Object.entries(d.settings as Record<string, Setting<unknown>>)) {
          if (!s.check) continue;
          const v = defaults[name].validate as Validator;
          const using = s.when ? { ...node, [s.when.setting]: s.when.equals } : node;
          if (s.value !== '' || acceptsBlank(s.check)) assert.notEqual(v.call(using, s.value), false, `${name}: refuses its own default ${JSON.stringify(s.value)}`);
          const bad = refused(s.check);
          const refusedOne = bad.find((b) => v.call(using, b) === false);
          assert.notEqual(refusedOne, undefined, `${name}: accepts all of ${JSON.stringify(bad)}`);
          if (s.when) assert.notEqual(v.call({ ...node, [s.when.setting]: `not-${s.when.equals}` }, refusedOne), false, `${name}: checked although ${s.when.setting} is not ${s.when.equals}`);
          if (s.check.is === 'regex' && s.check.env) assert.notEqual(v.call(using, '${FABRIC_SOME_URL}'), false, `${name}: refuses a whole \${ENV_VAR}`);
          if (s.check.is === 'number' && s.check.blank) assert.notEqual(v.call(using, ''), false, `${name}: refuses an empty value`);
        }
      });

      it('the editor credentials equal the declaration', () => {
        // (compared as JSON: the dialog ran in another realm)
        assert.deepEqual(JSON.parse(JSON.stringify(def().credentials ?? null)), d.credentials ?? null);
      });

      if (d.operations) {
        const ops = d.operations;
        it(`the ${ops.setting} row lists the declared operations, labelled from the catalog, and rows name only those`, () => {
          const html = built.get(set)!;
          const select = new RegExp(`<select id="node-input-${ops.setting}">([\\s\\S]*?)</select>`).exec(html);
          assert.ok(select, `${set}.html has no ${ops.setting} select`);
          const options = [...select[1].matchAll(/<option value="([^"]+)" data-i18n="([^"]+)">/g)];
          assert.deepEqual(options.map((m) => m[1]), [...ops.values]);
          for (const [, op, key] of options) assert.equal(key, `${d.type}.${ops.setting}.${op}`);
          assert.ok(ops.values.includes('msg'), 'an operation node offers "from msg"');
          assert.ok(ops.values.includes(String(d.settings[ops.setting as keyof typeof d.settings]?.value)), 'the default operation is one of them');
          const attr = `data-psf-${ops.setting.toLowerCase()}`;
          for (const m of html.matchAll(new RegExp(`${attr}="([^"]*)"`, 'g'))) {
            for (const op of m[1].split(' ')) assert.ok(ops.values.includes(op), `${attr}="${m[1]}": ${op} is not an operation of ${d.type}`);
          }
        });
      }
    });
  }

  it('rows shown for some values of a select: the dialog toggles them with the one shared script', () => {
    for (const [set, html] of built) {
      const settings = new Set([...html.matchAll(/data-psf-([a-z]+)="/g)].map((m) => m[1]));
      for (const s of settings) {
        assert.match(html, new RegExp(`window\\.PSFabricRows\\('${s}'\\)`, 'i'), `${set}.html marks rows data-psf-${s} but does not call PSFabricRows for it`);
        assert.ok(html.includes('window.PSFabricRows = function'), `${set}.html uses PSFabricRows without the rows part (<!-- psf:dialog rows -->)`);
      }
    }
  });

  it('no dialog source carries its own defaults, credentials or operation list', () => {
    for (const set of fs.readdirSync(path.join(ROOT, 'nodes'))) {
      const file = path.join(ROOT, 'nodes', set, `${set}.html`);
      if (!fs.existsSync(file)) continue;
      const src = fs.readFileSync(file, 'utf8');
      assert.doesNotMatch(src, /\bdefaults:\s*\{/, `nodes/${set}/${set}.html: defaults belong in nodes/${set}/config.ts (defaults: /* psf:defaults */)`);
      assert.doesNotMatch(src, /\bcredentials:\s*\{/, `nodes/${set}/${set}.html: credentials belong in nodes/${set}/config.ts (credentials: /* psf:credentials */)`);
      for (const { d } of declarations.filter((x) => x.set === set && x.d.operations)) {
        assert.ok(!src.includes(`id="node-input-${d.operations!.setting}"`), `nodes/${set}/${set}.html: the ${d.operations!.setting} row comes from the declaration (<!-- psf:operations -->)`);
      }
      const ownToggle = /\.toggle\([^)]*\$\('#node-(config-)?input-|\.on\('change', function \(\) \{[^}]*\.toggle\(/;
      assert.doesNotMatch(src, ownToggle, `nodes/${set}/${set}.html toggles rows by a select itself: mark them data-psf-<setting> and call PSFabricRows`);
    }
  });
});
