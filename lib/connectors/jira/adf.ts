/**
 * Atlassian Document Format (ADF) for Jira Cloud v3 rich-text fields (description, comments):
 * a small builder for the nodes PS Fabric writes and a structural validator (used by the connector
 * before sending, and by the Jira sandbox to answer 400 for a bad document, as Jira does).
 * Covers the common block and inline nodes; unknown node types are reported, not guessed.
 */

export interface AdfNode {
  type: string;
  content?: AdfNode[];
  text?: string;
  attrs?: Record<string, unknown>;
  marks?: { type: string; attrs?: Record<string, unknown> }[];
  version?: number;
}

export interface AdfDoc extends AdfNode {
  type: 'doc';
  version: 1;
  content: AdfNode[];
}

const BLOCKS = new Set(['paragraph', 'heading', 'bulletList', 'orderedList', 'codeBlock', 'blockquote', 'rule', 'panel', 'table', 'mediaSingle', 'expand']);
const INLINES = new Set(['text', 'hardBreak', 'mention', 'emoji', 'inlineCard', 'date', 'status']);
const MARKS = new Set(['strong', 'em', 'code', 'link', 'strike', 'underline', 'textColor', 'subsup']);
const CHILDREN: Record<string, Set<string>> = {
  paragraph: INLINES,
  heading: INLINES,
  codeBlock: new Set(['text']),
  bulletList: new Set(['listItem']),
  orderedList: new Set(['listItem']),
  listItem: new Set(['paragraph', 'bulletList', 'orderedList', 'codeBlock']),
  blockquote: new Set(['paragraph', 'bulletList', 'orderedList', 'codeBlock']),
  panel: new Set(['paragraph', 'heading', 'bulletList', 'orderedList']),
  table: new Set(['tableRow']),
  tableRow: new Set(['tableHeader', 'tableCell']),
  tableHeader: BLOCKS,
  tableCell: BLOCKS,
  expand: BLOCKS,
};

/** Problems with `doc` as ADF, each with a JSON Pointer; empty when valid. */
export function validateAdf(doc: unknown, pointer = ''): { path: string; message: string }[] {
  const errors: { path: string; message: string }[] = [];
  const d = doc as AdfNode;
  if (!d || typeof d !== 'object' || Array.isArray(d)) return [{ path: pointer || '/', message: 'must be an ADF document object' }];
  if (d.type !== 'doc') errors.push({ path: `${pointer}/type`, message: 'must be "doc"' });
  if (d.version !== 1) errors.push({ path: `${pointer}/version`, message: 'must be 1' });
  if (!Array.isArray(d.content)) {
    errors.push({ path: `${pointer}/content`, message: 'must be an array of block nodes' });
    return errors;
  }
  d.content.forEach((n, i) => walk(n, `${pointer}/content/${i}`, BLOCKS, errors));
  return errors;
}

function walk(node: AdfNode, path: string, allowed: Set<string>, errors: { path: string; message: string }[]): void {
  if (!node || typeof node !== 'object' || typeof node.type !== 'string') {
    errors.push({ path, message: 'must be a node object with a string "type"' });
    return;
  }
  if (!allowed.has(node.type)) {
    errors.push({ path: `${path}/type`, message: `"${node.type}" is not allowed here (expected ${[...allowed].join(', ')})` });
    return;
  }
  if (node.type === 'text') {
    if (typeof node.text !== 'string' || node.text.length === 0) errors.push({ path: `${path}/text`, message: 'text nodes need a non-empty string' });
    (node.marks ?? []).forEach((m, i) => {
      if (!m || !MARKS.has(m.type)) errors.push({ path: `${path}/marks/${i}`, message: `unknown mark "${m?.type}"` });
      else if (m.type === 'link' && typeof m.attrs?.href !== 'string') errors.push({ path: `${path}/marks/${i}/attrs/href`, message: 'link marks need attrs.href' });
    });
    return;
  }
  if (node.type === 'heading') {
    const level = node.attrs?.level;
    if (!Number.isInteger(level) || (level as number) < 1 || (level as number) > 6) errors.push({ path: `${path}/attrs/level`, message: 'heading level must be 1..6' });
  }
  const kids = CHILDREN[node.type];
  if (!kids) return; // leaf nodes (rule, hardBreak, mention, ...)
  if (node.content === undefined) {
    if (['bulletList', 'orderedList', 'listItem', 'table', 'tableRow'].includes(node.type)) errors.push({ path: `${path}/content`, message: `${node.type} needs content` });
    return;
  }
  if (!Array.isArray(node.content)) {
    errors.push({ path: `${path}/content`, message: 'must be an array' });
    return;
  }
  node.content.forEach((n, i) => walk(n, `${path}/content/${i}`, kids, errors));
}

// ---- builder ----
export const adf = {
  doc: (...content: AdfNode[]): AdfDoc => ({ type: 'doc', version: 1, content }),
  p: (...inline: (AdfNode | string)[]): AdfNode => ({ type: 'paragraph', content: inline.map((x) => (typeof x === 'string' ? adf.text(x) : x)).filter((n) => n.type !== 'text' || n.text) }),
  h: (level: number, text: string): AdfNode => ({ type: 'heading', attrs: { level }, content: [adf.text(text)] }),
  text: (text: string, ...marks: string[]): AdfNode => (marks.length ? { type: 'text', text, marks: marks.map((type) => ({ type })) } : { type: 'text', text }),
  link: (text: string, href: string): AdfNode => ({ type: 'text', text, marks: [{ type: 'link', attrs: { href } }] }),
  bullets: (...items: string[]): AdfNode => ({ type: 'bulletList', content: items.map((t) => ({ type: 'listItem', content: [adf.p(t)] })) }),
};

/** Plain text (paragraphs split on blank lines, `- ` lines as bullet lists) -> ADF document. */
export function textToAdf(text: string): AdfDoc {
  const blocks: AdfNode[] = [];
  for (const chunk of String(text ?? '').split(/\n\s*\n/)) {
    const lines = chunk.split('\n').map((l) => l.trimEnd()).filter((l) => l.trim() !== '');
    if (lines.length === 0) continue;
    if (lines.every((l) => /^\s*[-*] /.test(l))) blocks.push(adf.bullets(...lines.map((l) => l.replace(/^\s*[-*] /, ''))));
    else {
      const inline: AdfNode[] = [];
      lines.forEach((l, i) => {
        if (i > 0) inline.push({ type: 'hardBreak' });
        inline.push(adf.text(l));
      });
      blocks.push({ type: 'paragraph', content: inline });
    }
  }
  return adf.doc(...blocks);
}
