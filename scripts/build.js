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

const nodesDir = path.join(root, 'nodes');
for (const name of fs.readdirSync(nodesDir)) {
  const srcDir = path.join(nodesDir, name);
  if (!fs.statSync(srcDir).isDirectory() || srcDir === dialogDir) continue;
  const outDir = path.join(dist, 'nodes', name);
  copyDir(srcDir, outDir);
  const html = path.join(outDir, `${name}.html`);
  if (fs.existsSync(html)) fs.writeFileSync(html, withDialogParts(fs.readFileSync(html, 'utf8'), name, html));
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
