/**
 * The pieces every template builder uses: a tab, its groups, its nodes and the link pairs between groups.
 * A builder describes a tab in the order a reader follows it; `Tab.build()` lays the nodes out as the editor exports
 * them (id, type, z, g, the node's settings, x, y, wires), so an exported tab compares with the builder's output
 * property by property (templates/from-export.ts).
 */
import type { TemplateNodeConfigs } from './node-configs';
import { currentVersion, migrationsFor } from '../nodes/migrations';

export type Wires = string[][];
/** A node of a flow file as Node-RED reads it. */
export interface FlowNode {
  id: string;
  type: string;
  z?: string;
  g?: string;
  x?: number;
  y?: number;
  wires?: Wires;
  [setting: string]: unknown;
}

/** The settings of a node type: its config interface where the package declares one, else any JSON settings. */
export type SettingsOf<T extends string> = T extends keyof TemplateNodeConfigs ? TemplateNodeConfigs[T] : Record<string, unknown>;
/**
 * A PS Fabric node's config version (its list in NODE_MIGRATIONS), as the editor stamps a node it creates: without it
 * the runtime and the editor would migrate the template's nodes from version 0 on every load, and the editor would
 * open every imported template as changed.
 */
function versionOf(type: string): { version?: number } {
  const migrations = migrationsFor(type);
  return migrations ? { version: currentVersion(migrations) } : {};
}

/** Position of a node's centre on the tab. */
export type At = [x: number, y: number];

export interface GroupSettings {
  name: string;
  style: Record<string, unknown>;
  x: number;
  y: number;
  w: number;
  h: number;
}

interface Placed {
  node: FlowNode;
  settings: Record<string, unknown>;
  at?: At;
  wires?: Wires;
}

export class Tab {
  private readonly tab: FlowNode;
  private readonly placed: Placed[] = [];
  private readonly groups: Array<{ node: FlowNode; settings: GroupSettings }> = [];

  constructor(readonly id: string, settings: { label: string; disabled: boolean; info: string }) {
    this.tab = { id, type: 'tab', ...settings };
  }

  /** A global config node (no tab): the shared connections and the dashboard's ui-base / pages / groups. */
  config<T extends string>(type: T, id: string, settings: SettingsOf<T>): string {
    this.placed.push({ node: { id, type }, settings: settings as Record<string, unknown> });
    return id;
  }

  /** A node on the tab outside any group. */
  node<T extends string>(type: T, id: string, at: At, settings: SettingsOf<T>, wires?: Wires): string {
    return this.place(undefined, type, id, at, settings as Record<string, unknown>, wires);
  }

  group(id: string, settings: GroupSettings): Group {
    this.groups.push({ node: { id, type: 'group', z: this.id }, settings });
    return new Group(this, id);
  }

  /** @internal used by Group */
  place(g: string | undefined, type: string, id: string, at: At, settings: Record<string, unknown>, wires?: Wires): string {
    if (this.placed.some((p) => p.node.id === id)) throw new Error(`template tab ${this.id}: node id ${id} used twice`);
    this.placed.push({ node: g ? { id, type, z: this.id, g } : { id, type, z: this.id }, settings, at, wires });
    return id;
  }

  /** The tab as a flow array: tab, config nodes and groups first, then the nodes in the order they were added. */
  build(): FlowNode[] {
    const out: FlowNode[] = [this.tab];
    const configs = this.placed.filter((p) => !p.at);
    const nodes = this.placed.filter((p) => p.at);
    for (const p of configs) out.push({ ...p.node, ...versionOf(p.node.type), ...p.settings });
    for (const { node, settings } of this.groups) {
      const { name, style, x, y, w, h } = settings;
      const members = nodes.filter((p) => p.node.g === node.id).map((p) => p.node.id);
      out.push({ ...node, name, style, nodes: members, x, y, w, h });
    }
    for (const p of nodes) {
      const n: FlowNode = { ...p.node, ...versionOf(p.node.type), ...p.settings, x: p.at![0], y: p.at![1] };
      if (p.wires) n.wires = p.wires;
      out.push(n);
    }
    const ids = new Set(out.map((n) => n.id));
    for (const n of out) {
      if (n.g && !ids.has(n.g)) throw new Error(`template tab ${this.id}: node ${n.id} is in group ${n.g}, which the tab has not`);
      for (const port of n.wires ?? []) for (const to of port) if (!ids.has(to)) throw new Error(`template tab ${this.id}: node ${n.id} is wired to ${to}, which the tab has not`);
    }
    return out;
  }
}

export class Group {
  constructor(readonly tab: Tab, readonly id: string) {}

  node<T extends string>(type: T, id: string, at: At, settings: SettingsOf<T>, wires?: Wires): string {
    return this.tab.place(this.id, type, id, at, settings as Record<string, unknown>, wires);
  }

  /** A comment: what this part of the tab does (`info` opens in the sidebar). */
  comment(id: string, at: At, name: string, info = ''): string {
    return this.node('comment', id, at, { name, info });
  }

  /** The sending half of a named link pair: hands the msg to the `link in` nodes `to` (usually in another group). */
  linkOut(id: string, at: At, name: string, to: string[]): string {
    return this.node('link out', id, at, { name, mode: 'link', links: to }, [[]]);
  }

  /** The receiving half of a named link pair: msgs from the `link out` nodes `from`, wired on to `next`. */
  linkIn(id: string, at: At, name: string, from: string[], next: string[]): string {
    return this.node('link in', id, at, { name, links: from }, [next]);
  }

  /** Catch for every node of the tab, wired to the tab's exception node. */
  catchAll(id: string, at: At, exceptionNode: string): string {
    return this.node('catch', id, at, { name: 'any step failed', scope: null, uncaught: false }, [[exceptionNode]]);
  }

  /**
   * A `fabric-exception` node: the msg becomes an exception of `process` / `step` for `owner` (empty: the owner from the
   * ownership matrix). With `replay`, output 2 carries a replayed msg back into the flow.
   */
  exception(id: string, at: At, e: { process: string; step: string; owner: string; errorClass: string; replay: boolean }, wires: Wires = [[], []]): string {
    return this.node('fabric-exception', id, at, { name: `exception: ${e.owner || 'owner from matrix'}`, store: STORE, process: e.process, step: e.step, owner: e.owner, errorClass: e.errorClass, message: '', replay: e.replay, outputs: 2 }, wires);
  }
}

/** The shared config nodes' ids (flows/_config.json). */
export const STORE = 'psf-store';
export const BROKER = 'psf-broker';

/** Group colours, one per kind of section, so every tab reads the same way. */
export const SECTION = {
  trigger: '#e3f3d3',
  plan: '#dbe9f6',
  write: '#fdf0d5',
  publish: '#e8e0f5',
  errors: '#f8d7da',
  api: '#e0f0f0',
} as const;
/** A group's style for a section colour. */
export function sectionStyle(fill: string): Record<string, unknown> {
  return { fill, label: true, 'fill-opacity': '0.35' };
}

/** A global config node outside any tab's builder (flows/_config.json). */
export function config<T extends string>(type: T, id: string, settings: SettingsOf<T>): FlowNode {
  return { id, type, ...versionOf(type), ...(settings as Record<string, unknown>) };
}
