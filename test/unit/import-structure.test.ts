/**
 * The code's floors (docs/CONVENTIONS.md), read from the sources' imports: every import points down or stays on its
 * floor, and no files import each other in a loop (type-only imports count: they tie the files as much).
 *   5  runtime/                      the launcher: may use everything below, and the sandboxes
 *   4  nodes/<node>/                 one folder per node: its own files and the floors below, not other node folders
 *   3  nodes/*.ts                    what the nodes share (operation-node, connection-config, settings, ...)
 *   2  nodes/node-red-api.ts         the Node-RED seam (with nodes/migrations.ts, which it applies)
 *   1  lib/                          the core: no Node-RED, no nodes, no runtime, no sandbox
 *   templates/ (the flow builders) stand on floor 5 beside runtime/, but ship: they may not use the sandboxes.
 *   sandbox/ stands beside the product: it may use lib/, and only runtime/ (and tests, bench) use it.
 */
import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';

const ROOT = path.resolve(__dirname, '../../..');
const TOP = ['lib', 'nodes', 'runtime', 'sandbox', 'templates'];
const SEAM = new Set(['nodes/node-red-api.ts', 'nodes/migrations.ts']);

function sources(dir: string): string[] {
  const out: string[] = [];
  for (const entry of fs.readdirSync(path.join(ROOT, dir), { withFileTypes: true })) {
    const rel = path.posix.join(dir, entry.name);
    if (entry.isDirectory()) out.push(...sources(rel));
    else if (/\.ts$/.test(entry.name) && !entry.name.endsWith('.d.ts')) out.push(rel);
  }
  return out;
}

/** The repository files a source imports (relative imports resolved), and the packages it names. */
function importsOf(file: string): { files: string[]; packages: string[] } {
  const text = fs.readFileSync(path.join(ROOT, file), 'utf8');
  const files: string[] = [];
  const packages: string[] = [];
  for (const m of text.matchAll(/(?:^|\n)\s*(?:import|export)\b[^'"]*?from\s+['"]([^'"]+)['"]|\brequire\(\s*['"]([^'"]+)['"]\s*\)|\bimport\(\s*['"]([^'"]+)['"]\s*\)/g)) {
    const spec = m[1] ?? m[2] ?? m[3];
    if (!spec.startsWith('.')) {
      packages.push(spec);
      continue;
    }
    const base = path.posix.normalize(path.posix.join(path.posix.dirname(file), spec));
    const target = [`${base}.ts`, `${base}/index.ts`, base].find((c) => fs.existsSync(path.join(ROOT, c)) && fs.statSync(path.join(ROOT, c)).isFile());
    if (target) files.push(target);
  }
  return { files, packages };
}

/** The floor of a file, and the folder a node file belongs to. */
function floorOf(file: string): { floor: number; node?: string } {
  const [top, second] = file.split('/');
  if (top === 'lib') return { floor: 1 };
  if (SEAM.has(file)) return { floor: 2 };
  if (top === 'nodes') return second.endsWith('.ts') ? { floor: 3 } : { floor: 4, node: second };
  if (top === 'runtime' || top === 'templates') return { floor: 5 };
  return { floor: 0 }; // sandbox: apart, checked on its own
}

/** Why `file` may not import `target`, or undefined when it may. */
function violation(file: string, target: string): string | undefined {
  const from = floorOf(file);
  const to = floorOf(target);
  const top = file.split('/')[0];
  const targetTop = target.split('/')[0];
  if (targetTop === 'sandbox' && top !== 'sandbox' && top !== 'runtime') return `${file} -> ${target} (only the runtime starts sandboxes; shared demo data lives in lib/demo)`;
  if (top === 'sandbox' && targetTop !== 'sandbox' && targetTop !== 'lib') return `${file} -> ${target} (a sandbox uses lib/ only)`;
  // the demo firm is seed data and template configuration: no product code reads it
  if (target.startsWith('lib/demo/') && (top === 'nodes' || (top === 'lib' && !file.startsWith('lib/demo/')))) return `${file} -> ${target} (product code does not depend on the demo firm)`;
  if (top !== 'sandbox' && targetTop !== 'sandbox' && to.floor > from.floor) return `${file} -> ${target} (floor ${from.floor} -> ${to.floor})`;
  if (from.floor === 4 && to.floor === 4 && from.node !== to.node) return `${file} -> ${target} (another node's folder: share through nodes/*.ts)`;
  return undefined;
}

const files = TOP.flatMap((d) => sources(d));
const graph = new Map(files.map((f) => [f, importsOf(f)]));

describe('import structure: floors and no cycles', () => {
  it('every import points down (or stays on its floor); node folders do not import each other', () => {
    const upward = [...graph].flatMap(([file, { files: targets }]) => targets.map((target) => violation(file, target)).filter((v) => v !== undefined));
    assert.deepEqual(upward, []);
  });

  it('the shipped sources (lib/, nodes/, templates/) never import a sandbox; the runtime and sandboxes may', () => {
    for (const file of ['templates/quote-to-project.ts', 'nodes/operation-node.ts', 'lib/demo/firm.ts']) assert.ok(violation(file, 'sandbox/seed/firm.ts'), `${file} -> sandbox/ must be refused`);
    assert.equal(violation('runtime/launcher.ts', 'sandbox/server.ts'), undefined);
    assert.equal(violation('sandbox/seed/firm.ts', 'lib/demo/firm.ts'), undefined);
    assert.equal(violation('templates/quote-to-project.ts', 'lib/demo/firm.ts'), undefined);
    assert.ok(violation('lib/demo/firm.ts', 'templates/kit.ts'), 'lib/ does not import the builders');
  });

  it('no product code (lib/ outside lib/demo, nodes/) imports the demo firm; templates and sandboxes may', () => {
    for (const file of ['lib/processes/common.ts', 'nodes/operation-node.ts', 'nodes/process-step/process-step.ts']) assert.ok(violation(file, 'lib/demo/firm.ts'), `${file} -> lib/demo must be refused`);
    assert.equal(violation('sandbox/seed/firm.ts', 'lib/demo/firm.ts'), undefined);
    assert.equal(violation('templates/quote-to-project.ts', 'lib/demo/firm.ts'), undefined);
  });

  it('lib/ never imports Node-RED', () => {
    const offenders = [...graph].filter(([f]) => f.startsWith('lib/')).flatMap(([f, { packages }]) => packages.filter((p) => p === 'node-red' || p.startsWith('@node-red/')).map((p) => `${f} -> ${p}`));
    assert.deepEqual(offenders, []);
  });

  it('no files import each other in a loop', () => {
    // Tarjan's strongly connected components: any component of more than one file (or a file importing itself) is a loop
    let index = 0;
    const idx = new Map<string, number>();
    const low = new Map<string, number>();
    const stack: string[] = [];
    const onStack = new Set<string>();
    const loops: string[][] = [];
    const visit = (v: string): void => {
      idx.set(v, index);
      low.set(v, index++);
      stack.push(v);
      onStack.add(v);
      for (const w of graph.get(v)?.files ?? []) {
        if (!idx.has(w)) {
          visit(w);
          low.set(v, Math.min(low.get(v)!, low.get(w)!));
        } else if (onStack.has(w)) low.set(v, Math.min(low.get(v)!, idx.get(w)!));
      }
      if (low.get(v) === idx.get(v)) {
        const component: string[] = [];
        let w: string;
        do {
          w = stack.pop()!;
          onStack.delete(w);
          component.push(w);
        } while (w !== v);
        if (component.length > 1 || graph.get(v)?.files.includes(v)) loops.push(component.sort());
      }
    };
    for (const f of graph.keys()) if (!idx.has(f)) visit(f);
    assert.deepEqual(loops, []);
  });

  it('reads the imports it judges (a regression in the reader would pass everything)', () => {
    assert.ok(graph.get('nodes/operation-node.ts')?.files.includes('nodes/node-red-api.ts'));
    assert.ok(graph.get('nodes/netsuite/netsuite.ts')?.files.includes('nodes/operation-node.ts'));
    assert.ok(graph.get('templates/quote-to-project.ts')?.files.includes('templates/kit.ts'), 'the template builders are read');
    assert.ok(graph.get('lib/delivery/engine.ts')?.files.includes('lib/delivery/types.ts'), 'type-only imports are read');
    assert.ok(files.length > 150);
  });
});
