#!/usr/bin/env node
// Compiles the TypeScript and lays each node's editor files beside its compiled .js,
// where Node-RED's registry looks for them (<dir>/<name>.html, <dir>/locales/<lang>/, <dir>/icons/).
'use strict';
const { execFileSync } = require('node:child_process');
const fs = require('node:fs');
const path = require('node:path');

const root = path.resolve(__dirname, '..');
const dist = path.join(root, 'dist');

let typeErrors = false;
try {
  execFileSync(process.execPath, [require.resolve('typescript/bin/tsc'), '-p', root], { stdio: 'inherit' });
} catch {
  // tsc still emits on type errors; copy the assets anyway so a developer can run the tests of
  // the part they are working on, but fail the build at the end.
  typeErrors = true;
}

function copyDir(from, to) {
  if (!fs.existsSync(from)) return;
  fs.mkdirSync(to, { recursive: true });
  for (const entry of fs.readdirSync(from, { withFileTypes: true })) {
    const src = path.join(from, entry.name);
    const dst = path.join(to, entry.name);
    if (entry.isDirectory()) copyDir(src, dst);
    else if (!entry.name.endsWith('.ts')) fs.copyFileSync(src, dst);
  }
}

// Dialog parts several nodes share (nodes/dialog/<part>.html, `__type__` = the node's type): a node's .html names one
// with `<!-- psf:dialog <part> -->`, filled in here, so each part is written once.
const dialogDir = path.join(root, 'nodes', 'dialog');
function withDialogParts(html, type, file) {
  return html.replace(/<!-- psf:dialog ([a-z-]+) -->\n/g, (_m, part) => {
    const src = path.join(dialogDir, `${part}.html`);
    if (!fs.existsSync(src)) throw new Error(`${file}: no dialog part nodes/dialog/${part}.html`);
    return fs.readFileSync(src, 'utf8').replace(/__type__/g, type);
  });
}

// A node's settings are declared once, in TypeScript (`nodes/<name>/config.ts`, nodeSettings() of nodes/settings.ts):
// the runtime reads its defaults there, and here they become what the editor needs, in the dialog Node-RED loads:
// `defaults: /* psf:defaults */` (values, config node types, validators as RED.validators calls), `credentials:
// /* psf:credentials */`, an operation node's first rows `<!-- psf:operations -->` (name, its config nodes and a select
// of its declared operations, labelled `<type>.<setting>.<operation>`) and a select's options from a setting's oneOf
// check, `<!-- psf:options <setting> <catalog group> -->` (labels `<type>.<group>.<value>`).
const ENV_VALUE = '/^\\$\\{[^}]+\\}$/';
function checkSource(check) {
  switch (check.is) {
    case 'number': {
      const range = [check.positive && 'n > 0', check.min !== undefined && `n >= ${check.min}`, check.max !== undefined && `n <= ${check.max}`].filter(Boolean);
      const base = `RED.validators.number(${check.blank ? 'true' : ''})`;
      if (!range.length) return base;
      return `function (v, opt) { if (${base}.call(this, v, opt) !== true) return false; if (v === '' || v === undefined || ${ENV_VALUE}.test(String(v))) return true; var n = Number(v); return ${range.join(' && ')}; }`;
    }
    case 'regex': {
      const skip = [check.blank && "v === '' || v === undefined", check.env && `${ENV_VALUE}.test(String(v))`].filter(Boolean);
      // the editor's regex validator tests String(v): an unset value would be tested as "undefined"
      return `function (v, opt) { return ${[...skip, `RED.validators.regex(${check.pattern.toString()}).call(this, v == null ? '' : v, opt)`].join(' || ')}; }`;
    }
    case 'json':
      return `function (v) { if (!v) return true; try { var o = JSON.parse(v); return ${check.shape === 'array' ? 'Array.isArray(o)' : ["!!o && typeof o === 'object' && !Array.isArray(o)", ...(check.has ?? []).map((k) => `${JSON.stringify(k)} in o`)].join(' && ')}; } catch (e) { return false; } }`;
    case 'jsonata':
      return `RED.validators.typedInput({ type: 'jsonata'${check.blank ? ', allowBlank: true' : ''} })`;
    case 'oneOf':
      return `function (v) { return ${check.blank ? "!v || " : ''}${JSON.stringify(check.values)}.indexOf(v) >= 0; }`;
    case 'regexp':
      return 'function (v) { if (!v) return true; try { new RegExp(v); return true; } catch (e) { return false; } }';
    case 'orSetting':
      return `function (v) { return !!v || !!this[${JSON.stringify(check.setting)}]; }`;
    default:
      throw new Error(`build: unknown setting check ${JSON.stringify(check)}`);
  }
}
function settingSource(name, s) {
  const parts = [`value: ${JSON.stringify(s.value)}`];
  if (s.type) parts.push(`type: ${JSON.stringify(s.type)}`);
  if (s.required !== undefined) parts.push(`required: ${s.required}`);
  if (s.check) {
    let validate = checkSource(s.check);
    if (s.when) validate = `function (v, opt) { return this[${JSON.stringify(s.when.setting)}] !== ${JSON.stringify(s.when.equals)} || (${validate}).call(this, v, opt); }`;
    parts.push(`validate: ${validate}`);
  }
  return `${/^[A-Za-z_$][\w$]*$/.test(name) ? name : JSON.stringify(name)}: { ${parts.join(', ')} }`;
}
function editorSettingsOf(nodeDir, file) {
  const compiled = path.join(dist, 'nodes', path.basename(nodeDir), 'config.js');
  if (!fs.existsSync(compiled)) throw new Error(`${file}: names psf:defaults but nodes/${path.basename(nodeDir)}/config.ts declares no settings`);
  const declared = Object.values(require(compiled)).filter((d) => d && typeof d.type === 'string' && d.settings && Array.isArray(d.migrations));
  return new Map(declared.map((d) => [d.type, d]));
}
function withDeclaredSettings(html, nodeDir, file) {
  if (!/psf:(defaults|credentials|operations|options)/.test(html)) return html;
  const declared = editorSettingsOf(nodeDir, file);
  // each marker belongs to the registration (or dialog template) it stands in: the last type named before it
  const typeAt = (offset) => {
    let type;
    for (const m of html.slice(0, offset).matchAll(/registerType\('([\w-]+)'|data-template-name="([\w-]+)"/g)) type = m[1] ?? m[2];
    const d = type && declared.get(type);
    if (!d) throw new Error(`${file}: no settings declared for ${type ?? 'the marker at ' + offset} in its config.ts`);
    return d;
  };
  return html
    .replace(/\/\* psf:defaults \*\//g, (_m, offset) => {
      const d = typeAt(offset);
      const version = require(path.join(dist, 'nodes', 'migrations.js')).currentVersion(d.migrations);
      const lines = [`version: { value: ${version}, validate: RED.validators.number() }`, ...Object.entries(d.settings).map(([k, s]) => settingSource(k, s))];
      return `{\n      ${lines.join(',\n      ')}\n    }`;
    })
    .replace(/\/\* psf:credentials \*\//g, (_m, offset) => JSON.stringify(typeAt(offset).credentials ?? {}))
    .replace(/<!-- psf:operations -->/g, (_m, offset) => {
      const d = typeAt(offset);
      if (!d.operations) throw new Error(`${file}: psf:operations in a dialog whose settings declare no operations`);
      const { setting, values } = d.operations;
      const row = (name, input) => `<div class="form-row"><label for="node-input-${name}" data-i18n="${d.type}.label.${name}"></label>${input}</div>`;
      const connections = Object.entries(d.settings).filter(([, s]) => s.type).map(([name]) => row(name, `<input type="text" id="node-input-${name}">`));
      const options = values.map((op) => `<option value="${op}" data-i18n="${d.type}.${setting}.${op}"></option>`).join('');
      return [row('name', '<input type="text" id="node-input-name">'), ...connections, row(setting, `<select id="node-input-${setting}">${options}</select>`)].join('\n  ');
    })
    .replace(/<!-- psf:options ([\w]+) ([\w-]+) -->/g, (_m, setting, group, offset) => {
      const d = typeAt(offset);
      const check = d.settings[setting]?.check;
      if (!check || check.is !== 'oneOf') throw new Error(`${file}: psf:options ${setting}: the setting declares no oneOf check`);
      return check.values.map((v) => `<option value="${v}" data-i18n="${d.type}.${group}.${v}"></option>`).join('');
    });
}

const nodesDir = path.join(root, 'nodes');
for (const name of fs.readdirSync(nodesDir)) {
  const srcDir = path.join(nodesDir, name);
  if (!fs.statSync(srcDir).isDirectory() || srcDir === dialogDir) continue;
  const outDir = path.join(dist, 'nodes', name);
  copyDir(srcDir, outDir);
  const html = path.join(outDir, `${name}.html`);
  if (fs.existsSync(html)) fs.writeFileSync(html, withDeclaredSettings(withDialogParts(fs.readFileSync(html, 'utf8'), name, html), srcDir, html));
  copyDir(path.join(root, 'icons'), path.join(outDir, 'icons'));
  for (const lang of fs.existsSync(path.join(root, 'locales')) ? fs.readdirSync(path.join(root, 'locales')) : []) {
    for (const ext of ['.json', '.html']) {
      const file = path.join(root, 'locales', lang, name + ext);
      if (fs.existsSync(file)) {
        fs.mkdirSync(path.join(outDir, 'locales', lang), { recursive: true });
        fs.copyFileSync(file, path.join(outDir, 'locales', lang, name + ext));
      }
    }
  }
}

// Node config migrations in the editor (docs/editor.md): the compiled nodes/migrations.js, the list the runtime applies,
// bundled with its editor side into one inline <script> in place of `<!-- psf:editor-migrations -->` in the one node
// .html that carries the marker. A bundled module may require only another bundled module, so the editor runs the
// runtime's code, not a copy.
const EDITOR_MIGRATION_MODULES = ['nodes/migrations.js', 'nodes/editor-migrations.js'];
const EDITOR_MIGRATIONS_MARKER = '<!-- psf:editor-migrations -->';
function editorMigrationsScript() {
  const modules = EDITOR_MIGRATION_MODULES.map((name) => {
    const source = fs.readFileSync(path.join(dist, name), 'utf8').replace(/\n\/\/# sourceMappingURL=.*\s*$/, '\n');
    for (const [, required] of source.matchAll(/\brequire\(\s*["']([^"']+)["']\s*\)/g)) {
      const resolved = path.posix.join(path.posix.dirname(name), required) + '.js';
      if (!EDITOR_MIGRATION_MODULES.includes(resolved)) {
        throw new Error(`dist/${name}: requires '${required}', which the editor's migration bundle does not hold (keep migrations data-only)`);
      }
    }
    if (/<\/script/i.test(source)) throw new Error(`dist/${name}: holds </script>, which would end the inline editor script`);
    return `${JSON.stringify(name)}: function (module, exports, require) {\n${source}}`;
  });
  const main = EDITOR_MIGRATION_MODULES[EDITOR_MIGRATION_MODULES.length - 1];
  return `<script type="text/javascript">
(function () {
  var definitions = {
${modules.join(',\n')}
  };
  var loaded = {};
  function load(name) {
    if (!loaded[name]) {
      var module = { exports: {} };
      loaded[name] = module;
      definitions[name].call(module.exports, module, module.exports, function (required) {
        var parts = name.split('/').slice(0, -1);
        required.split('/').forEach(function (p) { if (p === '..') parts.pop(); else if (p !== '.') parts.push(p); });
        return load(parts.join('/') + '.js');
      });
    }
    return loaded[name].exports;
  }
  load(${JSON.stringify(main)}).installEditorMigrations(RED);
})();
</script>
`;
}
function writeEditorMigrations() {
  const hosts = fs.readdirSync(path.join(dist, 'nodes'))
    .map((name) => path.join(dist, 'nodes', name, `${name}.html`))
    .filter((file) => fs.existsSync(file) && fs.readFileSync(file, 'utf8').includes(EDITOR_MIGRATIONS_MARKER));
  if (hosts.length !== 1) throw new Error(`build: ${hosts.length} node .html files carry ${EDITOR_MIGRATIONS_MARKER}; exactly one loads the editor's migrations`);
  const script = editorMigrationsScript();
  fs.writeFileSync(hosts[0], fs.readFileSync(hosts[0], 'utf8').replace(EDITOR_MIGRATIONS_MARKER + '\n', () => script));
}
writeEditorMigrations();

// JSON Schemas, seed data and other non-TS assets used at run time.
for (const dir of ['lib', 'sandbox', 'templates', 'test/fixtures']) copyDir(path.join(root, dir), path.join(dist, dir));

// The templates: flows/*.json written by their builders (templates/, the only source), then each with the shared
// config nodes as examples/ (Import > Examples). Same merge as the runtime's deploy (runtime/templates.ts).
{
  const changed = require(path.join(dist, 'templates', 'index.js')).writeTemplates(path.join(root, 'flows'));
  if (changed.length) console.log(`build: wrote flows/${changed.join(', flows/')} from templates/`);
  require(path.join(dist, 'runtime', 'templates.js')).writeExamples();
}

if (typeErrors) {
  console.error('build: TypeScript reported errors (see above)');
  process.exit(1);
}
