/**
 * The editor's text lives in one locale root, `locales/<lang>/<node set>.{json,html}` (scripts/build.js lays each
 * beside its compiled node), so a second language is files only. Checked on the source tree: every node set has its
 * en-US help and catalog there and nowhere else, the dialog holds no help and no hard-coded label, every catalog key
 * a dialog or help uses exists, and another language's files mirror en-US.
 */
import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';

const root = path.resolve(__dirname, '../../..');
const localesDir = path.join(root, 'locales');
const sets = Object.keys(JSON.parse(fs.readFileSync(path.join(root, 'package.json'), 'utf8'))['node-red'].nodes as Record<string, string>);
const read = (...p: string[]) => fs.readFileSync(path.join(root, ...p), 'utf8');

function lookup(catalog: unknown, key: string): unknown {
  return key.split('.').reduce<unknown>((o, k) => (o && typeof o === 'object' ? (o as Record<string, unknown>)[k] : undefined), catalog);
}

/** Every leaf key of a catalog (`ns.a.b`). */
function leaves(o: unknown, prefix = ''): string[] {
  if (!o || typeof o !== 'object') return [prefix];
  return Object.entries(o as Record<string, unknown>).flatMap(([k, v]) => leaves(v, prefix ? `${prefix}.${k}` : k));
}

/** The catalog keys an editor file uses: data-i18n (with [attr] prefixes, ';'-separated) and _('key') literals. */
function keysIn(html: string): string[] {
  const keys = new Set<string>();
  for (const m of html.matchAll(/data-i18n="([^"]+)"/g)) {
    for (const part of m[1].split(';')) {
      const key = part.replace(/^\[[^\]]+\]/, '').trim();
      if (key && !key.includes(':')) keys.add(key);
    }
  }
  for (const m of html.matchAll(/\b_\(\s*['"]([\w-]+\.[\w.-]+)['"]/g)) if (!m[1].endsWith('.')) keys.add(m[1]);
  return [...keys];
}

function templates(html: string): string[] {
  return [...html.matchAll(/<script type="text\/(?:html|x-red)" data-template-name="[^"]+">([\s\S]*?)<\/script>/g)].map((m) => m[1]);
}

describe('editor text in one locale root (source tree)', () => {
  it('no node keeps a locales folder of its own', () => {
    const own = fs.readdirSync(path.join(root, 'nodes')).filter((n) => fs.existsSync(path.join(root, 'nodes', n, 'locales')));
    assert.deepEqual(own, [], 'move nodes/<name>/locales/<lang>/* to locales/<lang>/');
  });

  for (const set of sets) {
    describe(set, () => {
      const dialog = read('nodes', set, `${set}.html`);
      const helpFile = path.join(localesDir, 'en-US', `${set}.html`);
      const catalogFile = path.join(localesDir, 'en-US', `${set}.json`);
      const types = [...dialog.matchAll(/RED\.nodes\.registerType\(\s*'([\w-]+)'/g)].map((m) => m[1]);

      it('has its help in locales/en-US/<set>.html for every type it registers, and none in the dialog', () => {
        assert.ok(types.length > 0, `no registerType in nodes/${set}/${set}.html`);
        assert.ok(fs.existsSync(helpFile), `locales/en-US/${set}.html is missing`);
        const help = fs.readFileSync(helpFile, 'utf8');
        for (const type of types) assert.match(help, new RegExp(`data-help-name="${type}"`), `no help for ${type} in locales/en-US/${set}.html`);
        assert.doesNotMatch(dialog, /data-help-name=/, `nodes/${set}/${set}.html still holds help`);
      });

      it('every catalog key its dialog and help use is in locales/en-US/<set>.json', () => {
        assert.ok(fs.existsSync(catalogFile), `locales/en-US/${set}.json is missing`);
        const catalog = JSON.parse(fs.readFileSync(catalogFile, 'utf8'));
        const used = [...keysIn(dialog), ...keysIn(fs.existsSync(helpFile) ? fs.readFileSync(helpFile, 'utf8') : '')];
        const missing = used.filter((k) => typeof lookup(catalog, k) !== 'string');
        assert.deepEqual(missing, [], `keys missing from locales/en-US/${set}.json`);
      });

      it('its dialog has no hard-coded label or button text', () => {
        const literal = templates(dialog).flatMap((t) => [...t.matchAll(/<(label|button)\b([^>]*)>((?:(?!<\/\1>)[\s\S])*)<\/\1>/g)])
          .filter((m) => !m[2].includes('data-i18n'))
          .map((m) => m[3].replace(/<[^>]*data-i18n[^>]*>[\s\S]*?<\/[^>]+>/g, '').replace(/<[^>]+>/g, '').replace(/&nbsp;/g, '').trim())
          .filter((text) => /[A-Za-z]/.test(text));
        assert.deepEqual(literal, [], `nodes/${set}/${set}.html: use data-i18n="${set}.label.<field>"`);
      });
    });
  }

  it('every other language mirrors en-US: the same file names, and no catalog key en-US does not have', () => {
    const en = new Set(fs.readdirSync(path.join(localesDir, 'en-US')));
    for (const lang of fs.readdirSync(localesDir).filter((l) => l !== 'en-US')) {
      for (const file of fs.readdirSync(path.join(localesDir, lang))) {
        assert.ok(en.has(file), `locales/${lang}/${file} has no en-US counterpart`);
        if (!file.endsWith('.json')) continue;
        const base = JSON.parse(read('locales', 'en-US', file));
        const extra = leaves(JSON.parse(read('locales', lang, file))).filter((k) => lookup(base, k) === undefined);
        assert.deepEqual(extra, [], `locales/${lang}/${file}: keys en-US does not have`);
      }
    }
  });
});
