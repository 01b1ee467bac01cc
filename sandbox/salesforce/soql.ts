/**
 * The SOQL subset the templates use, parsed and evaluated against the sandbox's records:
 *   SELECT field, Parent.Field, COUNT(), (SELECT ... FROM ChildRelationship) FROM Type
 *   [WHERE cond (AND|OR cond)* with NOT and parentheses; =, !=, <>, <, <=, >, >=, LIKE, IN, NOT IN]
 *   [ORDER BY field [ASC|DESC] [NULLS FIRST|LAST], ...] [LIMIT n] [OFFSET n]
 * Literals: 'strings', numbers, true/false/null, dates (2026-11-25) and datetimes (2026-11-25T10:00:00Z,
 * ...000+0000). Errors carry Salesforce's error codes (MALFORMED_QUERY, INVALID_FIELD, INVALID_TYPE).
 */
import { childRelationship, fieldDef, FieldDef, parentRelationship, parseSfDateTime, SObjectDef, sobjectDef } from './schema';

export class SoqlError extends Error {
  constructor(readonly errorCode: 'MALFORMED_QUERY' | 'INVALID_FIELD' | 'INVALID_TYPE', message: string) {
    super(message);
  }
}

type Literal = string | number | boolean | null | { date: string };

export type Condition =
  | { kind: 'and' | 'or'; left: Condition; right: Condition }
  | { kind: 'not'; inner: Condition }
  | { kind: 'cmp'; path: string[]; op: string; value: Literal }
  | { kind: 'in'; path: string[]; negate: boolean; values: Literal[] };

export interface SelectItem {
  kind: 'field' | 'subquery' | 'count';
  path?: string[];
  subquery?: SoqlQuery;
}

export interface SoqlQuery {
  from: string;
  select: SelectItem[];
  where?: Condition;
  orderBy: { path: string[]; desc: boolean; nullsLast: boolean }[];
  limit?: number;
  offset?: number;
}

interface Token {
  t: 'ident' | 'string' | 'number' | 'datetime' | 'op' | 'punct';
  v: string;
}

function tokenize(text: string): Token[] {
  const tokens: Token[] = [];
  let i = 0;
  while (i < text.length) {
    const c = text[i];
    if (/\s/.test(c)) {
      i++;
      continue;
    }
    if (c === "'") {
      let v = '';
      i++;
      while (i < text.length && text[i] !== "'") {
        if (text[i] === '\\' && i + 1 < text.length) {
          const n = text[i + 1];
          v += n === 'n' ? '\n' : n === 't' ? '\t' : n;
          i += 2;
        } else v += text[i++];
      }
      if (text[i] !== "'") throw new SoqlError('MALFORMED_QUERY', 'unterminated string literal');
      i++;
      tokens.push({ t: 'string', v });
      continue;
    }
    const dt = /^\d{4}-\d{2}-\d{2}(T\d{2}:\d{2}:\d{2}(\.\d{1,3})?(Z|[+-]\d{2}:?\d{2}))?/.exec(text.slice(i));
    if (dt) {
      tokens.push({ t: 'datetime', v: dt[0] });
      i += dt[0].length;
      continue;
    }
    const num = /^-?\d+(\.\d+)?/.exec(text.slice(i));
    if (num) {
      tokens.push({ t: 'number', v: num[0] });
      i += num[0].length;
      continue;
    }
    const op = /^(<=|>=|!=|<>|=|<|>)/.exec(text.slice(i));
    if (op) {
      tokens.push({ t: 'op', v: op[0] === '<>' ? '!=' : op[0] });
      i += op[0].length;
      continue;
    }
    if ('(),'.includes(c)) {
      tokens.push({ t: 'punct', v: c });
      i++;
      continue;
    }
    const id = /^[A-Za-z_][A-Za-z0-9_.]*/.exec(text.slice(i));
    if (id) {
      tokens.push({ t: 'ident', v: id[0] });
      i += id[0].length;
      continue;
    }
    throw new SoqlError('MALFORMED_QUERY', `unexpected character '${c}' at position ${i}`);
  }
  return tokens;
}

class Parser {
  private pos = 0;
  constructor(private readonly tokens: Token[]) {}

  private peek(): Token | undefined {
    return this.tokens[this.pos];
  }
  private isKeyword(word: string, offset = 0): boolean {
    const t = this.tokens[this.pos + offset];
    return !!t && t.t === 'ident' && t.v.toUpperCase() === word;
  }
  private expectKeyword(word: string): void {
    if (!this.isKeyword(word)) throw new SoqlError('MALFORMED_QUERY', `expecting '${word}', found '${this.peek()?.v ?? 'end of query'}'`);
    this.pos++;
  }
  private expectPunct(p: string): void {
    const t = this.peek();
    if (!t || t.t !== 'punct' || t.v !== p) throw new SoqlError('MALFORMED_QUERY', `expecting '${p}', found '${t?.v ?? 'end of query'}'`);
    this.pos++;
  }
  private isPunct(p: string): boolean {
    const t = this.peek();
    return !!t && t.t === 'punct' && t.v === p;
  }

  parseQuery(): SoqlQuery {
    this.expectKeyword('SELECT');
    const select: SelectItem[] = [];
    for (;;) {
      if (this.isPunct('(')) {
        this.pos++;
        const subquery = this.parseQuery();
        this.expectPunct(')');
        select.push({ kind: 'subquery', subquery });
      } else if (this.isKeyword('COUNT') && this.tokens[this.pos + 1]?.v === '(' && this.tokens[this.pos + 2]?.v === ')') {
        this.pos += 3;
        select.push({ kind: 'count' });
      } else {
        const t = this.peek();
        if (!t || t.t !== 'ident') throw new SoqlError('MALFORMED_QUERY', `unexpected token '${t?.v ?? 'end of query'}' in SELECT list`);
        this.pos++;
        select.push({ kind: 'field', path: t.v.split('.') });
      }
      if (this.isPunct(',')) {
        this.pos++;
        continue;
      }
      break;
    }
    this.expectKeyword('FROM');
    const from = this.peek();
    if (!from || from.t !== 'ident') throw new SoqlError('MALFORMED_QUERY', 'expecting an object name after FROM');
    this.pos++;
    const q: SoqlQuery = { from: from.v, select, orderBy: [] };
    if (this.isKeyword('WHERE')) {
      this.pos++;
      q.where = this.parseOr();
    }
    if (this.isKeyword('ORDER')) {
      this.pos++;
      this.expectKeyword('BY');
      for (;;) {
        const t = this.peek();
        if (!t || t.t !== 'ident') throw new SoqlError('MALFORMED_QUERY', 'expecting a field after ORDER BY');
        this.pos++;
        let desc = false;
        if (this.isKeyword('ASC')) this.pos++;
        else if (this.isKeyword('DESC')) {
          desc = true;
          this.pos++;
        }
        let nullsLast = desc;
        if (this.isKeyword('NULLS')) {
          this.pos++;
          if (this.isKeyword('FIRST')) nullsLast = false;
          else if (this.isKeyword('LAST')) nullsLast = true;
          else throw new SoqlError('MALFORMED_QUERY', 'expecting FIRST or LAST after NULLS');
          this.pos++;
        }
        q.orderBy.push({ path: t.v.split('.'), desc, nullsLast });
        if (this.isPunct(',')) {
          this.pos++;
          continue;
        }
        break;
      }
    }
    if (this.isKeyword('LIMIT')) {
      this.pos++;
      q.limit = this.parseInteger('LIMIT');
    }
    if (this.isKeyword('OFFSET')) {
      this.pos++;
      q.offset = this.parseInteger('OFFSET');
    }
    return q;
  }

  private parseInteger(what: string): number {
    const t = this.peek();
    if (!t || t.t !== 'number' || !/^\d+$/.test(t.v)) throw new SoqlError('MALFORMED_QUERY', `expecting a non-negative integer after ${what}`);
    this.pos++;
    return Number(t.v);
  }

  private parseOr(): Condition {
    let left = this.parseAnd();
    while (this.isKeyword('OR')) {
      this.pos++;
      left = { kind: 'or', left, right: this.parseAnd() };
    }
    return left;
  }
  private parseAnd(): Condition {
    let left = this.parseNot();
    while (this.isKeyword('AND')) {
      this.pos++;
      left = { kind: 'and', left, right: this.parseNot() };
    }
    return left;
  }
  private parseNot(): Condition {
    if (this.isKeyword('NOT')) {
      this.pos++;
      return { kind: 'not', inner: this.parseNot() };
    }
    if (this.isPunct('(')) {
      this.pos++;
      const inner = this.parseOr();
      this.expectPunct(')');
      return inner;
    }
    return this.parseCondition();
  }
  private parseCondition(): Condition {
    const f = this.peek();
    if (!f || f.t !== 'ident') throw new SoqlError('MALFORMED_QUERY', `expecting a field name in WHERE, found '${f?.v ?? 'end of query'}'`);
    this.pos++;
    const path = f.v.split('.');
    if (this.isKeyword('IN') || (this.isKeyword('NOT') && this.isKeyword('IN', 1))) {
      const negate = this.isKeyword('NOT');
      this.pos += negate ? 2 : 1;
      this.expectPunct('(');
      const values: Literal[] = [];
      for (;;) {
        values.push(this.parseLiteral());
        if (this.isPunct(',')) {
          this.pos++;
          continue;
        }
        break;
      }
      this.expectPunct(')');
      return { kind: 'in', path, negate, values };
    }
    if (this.isKeyword('LIKE')) {
      this.pos++;
      return { kind: 'cmp', path, op: 'LIKE', value: this.parseLiteral() };
    }
    const op = this.peek();
    if (!op || op.t !== 'op') throw new SoqlError('MALFORMED_QUERY', `expecting an operator after ${f.v}, found '${op?.v ?? 'end of query'}'`);
    this.pos++;
    return { kind: 'cmp', path, op: op.v, value: this.parseLiteral() };
  }
  private parseLiteral(): Literal {
    const t = this.peek();
    if (!t) throw new SoqlError('MALFORMED_QUERY', 'expecting a value, found end of query');
    this.pos++;
    if (t.t === 'string') return t.v;
    if (t.t === 'number') return Number(t.v);
    if (t.t === 'datetime') return { date: t.v };
    if (t.t === 'ident') {
      const u = t.v.toUpperCase();
      if (u === 'TRUE') return true;
      if (u === 'FALSE') return false;
      if (u === 'NULL') return null;
    }
    throw new SoqlError('MALFORMED_QUERY', `unexpected value '${t.v}'`);
  }

  done(): void {
    if (this.pos < this.tokens.length) throw new SoqlError('MALFORMED_QUERY', `unexpected token '${this.tokens[this.pos].v}'`);
  }
}

export function parseSoql(text: string): SoqlQuery {
  const parser = new Parser(tokenize(text));
  const q = parser.parseQuery();
  parser.done();
  return q;
}

/** What the evaluator needs from the sandbox: records by type, and the URL of a record. */
export interface RecordSource {
  records(type: string): Record<string, any>[];
  byId(type: string, id: string): Record<string, any> | undefined;
  attributes(type: string, id: string): { type: string; url: string };
}

/** Resolves a path (`Name`, `Account.Name`) to its field definition, or throws INVALID_FIELD. */
function resolvePath(def: SObjectDef, path: string[], whole: string): { defs: SObjectDef[]; rels: FieldDef[]; field: FieldDef } {
  const defs: SObjectDef[] = [def];
  const rels: FieldDef[] = [];
  let current = def;
  for (let i = 0; i < path.length - 1; i++) {
    const rel = parentRelationship(current, path[i]);
    const target = rel?.referenceTo ? sobjectDef(rel.referenceTo) : undefined;
    if (!rel || !target) throw new SoqlError('INVALID_FIELD', `Didn't understand relationship '${path[i]}' in field path '${whole}'. If you are attempting to use a custom relationship, be sure to append the '__r' after the custom relationship name.`);
    rels.push(rel);
    current = target;
    defs.push(target);
  }
  const field = fieldDef(current, path[path.length - 1]);
  if (!field) throw new SoqlError('INVALID_FIELD', `No such column '${path[path.length - 1]}' on entity '${current.name}'. If you are attempting to use a custom field, be sure to append the '__c' after the custom field name.`);
  return { defs, rels, field };
}

function valueAt(src: RecordSource, def: SObjectDef, record: Record<string, any>, path: string[]): { value: unknown; field: FieldDef } {
  const { defs, rels, field } = resolvePath(def, path, path.join('.'));
  let rec: Record<string, any> | undefined = record;
  for (let i = 0; i < rels.length && rec; i++) {
    const id: string | undefined = rec[rels[i].name];
    rec = id ? src.byId(defs[i + 1].name, id) : undefined;
  }
  return { value: rec ? rec[field.name] ?? null : null, field };
}

function comparable(value: unknown, field: FieldDef): number | string | boolean | null {
  if (value === null || value === undefined) return null;
  if (field.type === 'datetime' || field.type === 'date') return parseSfDateTime(String(value));
  if (typeof value === 'string' && ['double', 'currency', 'int', 'percent'].includes(field.type)) return Number(value);
  if (typeof value === 'string') return value.toLowerCase();
  return value as number | boolean;
}

function literalFor(lit: Literal, field: FieldDef): number | string | boolean | null {
  if (lit === null) return null;
  if (typeof lit === 'object') {
    if (field.type !== 'datetime' && field.type !== 'date') throw new SoqlError('MALFORMED_QUERY', `value of filter criterion for field '${field.name}' must be of type ${field.type} and should not be enclosed in quotes`);
    if (field.type === 'datetime' && !lit.date.includes('T')) throw new SoqlError('MALFORMED_QUERY', `value of filter criterion for field '${field.name}' must be of type dateTime and should not be enclosed in quotes`);
    return parseSfDateTime(lit.date);
  }
  if ((field.type === 'datetime' || field.type === 'date') && typeof lit === 'string') throw new SoqlError('MALFORMED_QUERY', `value of filter criterion for field '${field.name}' must be of type ${field.type === 'date' ? 'date' : 'dateTime'} and should not be enclosed in quotes`);
  return typeof lit === 'string' ? lit.toLowerCase() : lit;
}

function matches(src: RecordSource, def: SObjectDef, record: Record<string, any>, cond: Condition): boolean {
  switch (cond.kind) {
    case 'and':
      return matches(src, def, record, cond.left) && matches(src, def, record, cond.right);
    case 'or':
      return matches(src, def, record, cond.left) || matches(src, def, record, cond.right);
    case 'not':
      return !matches(src, def, record, cond.inner);
    case 'in': {
      const { value, field } = valueAt(src, def, record, cond.path);
      const v = comparable(value, field);
      const found = cond.values.some((l) => literalFor(l, field) === v);
      return cond.negate ? !found : found;
    }
    case 'cmp': {
      const { value, field } = valueAt(src, def, record, cond.path);
      const v = comparable(value, field);
      const l = literalFor(cond.value, field);
      if (cond.op === 'LIKE') {
        if (typeof l !== 'string' || typeof v !== 'string') return false;
        const re = new RegExp('^' + l.replace(/[.*+?^${}()|[\]\\]/g, '\\$&').replace(/%/g, '.*').replace(/_/g, '.') + '$', 's');
        return re.test(v);
      }
      if (cond.op === '=') return v === l;
      if (cond.op === '!=') return v !== l;
      if (v === null || l === null) return false;
      if (cond.op === '<') return v < l;
      if (cond.op === '<=') return v <= l;
      if (cond.op === '>') return v > l;
      if (cond.op === '>=') return v >= l;
      throw new SoqlError('MALFORMED_QUERY', `unknown operator ${cond.op}`);
    }
  }
}

function project(src: RecordSource, def: SObjectDef, record: Record<string, any>, select: SelectItem[]): Record<string, unknown> {
  const out: Record<string, any> = { attributes: src.attributes(def.name, record.Id) };
  for (const item of select) {
    if (item.kind === 'field' && item.path) {
      const { defs, rels, field } = resolvePath(def, item.path, item.path.join('.'));
      if (rels.length === 0) {
        out[field.name] = record[field.name] ?? null;
        continue;
      }
      // Parent relationship: nested objects, null when the lookup is empty.
      let target: Record<string, any> = out;
      let rec: Record<string, any> | undefined = record;
      for (let i = 0; i < rels.length; i++) {
        const relName = rels[i].relationshipName as string;
        const id: string | undefined = rec?.[rels[i].name];
        rec = id ? src.byId(defs[i + 1].name, id) : undefined;
        if (!rec) {
          if (!(relName in target)) target[relName] = null;
          break;
        }
        if (!target[relName]) target[relName] = { attributes: src.attributes(defs[i + 1].name, rec.Id) };
        target = target[relName];
        if (i === rels.length - 1) target[field.name] = rec[field.name] ?? null;
      }
    } else if (item.kind === 'subquery' && item.subquery) {
      const rel = childRelationship(def, item.subquery.from);
      if (!rel) throw new SoqlError('INVALID_TYPE', `Didn't understand relationship '${item.subquery.from}' in FROM part of query call. If you are attempting to use a custom relationship, be sure to append the '__r' after the custom relationship name.`);
      const childDef = sobjectDef(rel.childType) as SObjectDef;
      const children = run(src, childDef, item.subquery, (r) => r[rel.field] === record.Id);
      out[rel.name] = children.length ? { totalSize: children.length, done: true, records: children.map((c) => project(src, childDef, c, item.subquery!.select)) } : null;
    }
  }
  return out;
}

function run(src: RecordSource, def: SObjectDef, q: SoqlQuery, extra?: (r: Record<string, any>) => boolean): Record<string, any>[] {
  let rows = src.records(def.name).filter((r) => !r.IsDeleted && (!extra || extra(r)));
  if (q.where) rows = rows.filter((r) => matches(src, def, r, q.where!));
  if (q.orderBy.length) {
    const keys = q.orderBy.map((o) => ({ ...o, field: resolvePath(def, o.path, o.path.join('.')).field }));
    rows = [...rows].sort((a, b) => {
      for (const k of keys) {
        const va = comparable(valueAt(src, def, a, k.path).value, k.field);
        const vb = comparable(valueAt(src, def, b, k.path).value, k.field);
        if (va === vb) continue;
        if (va === null) return k.nullsLast ? 1 : -1;
        if (vb === null) return k.nullsLast ? -1 : 1;
        const c = va < vb ? -1 : 1;
        return k.desc ? -c : c;
      }
      return 0;
    });
  }
  const offset = q.offset ?? 0;
  return rows.slice(offset, q.limit !== undefined ? offset + q.limit : undefined);
}

export interface SoqlResult {
  totalSize: number;
  /** Projected records (empty for COUNT()). */
  records: Record<string, unknown>[];
}

export function executeSoql(src: RecordSource, text: string): SoqlResult {
  const q = parseSoql(text);
  const def = sobjectDef(q.from);
  if (!def) throw new SoqlError('INVALID_TYPE', `sObject type '${q.from}' is not supported. If you are attempting to use a custom object, be sure to append the '__c' after the entity name. Please reference your WSDL or the describe call for the appropriate names.`);
  // Validate every selected path up front, like Salesforce does, even when no record matches.
  for (const item of q.select) if (item.kind === 'field' && item.path) resolvePath(def, item.path, item.path.join('.'));
  const rows = run(src, def, q);
  if (q.select.some((s) => s.kind === 'count')) return { totalSize: rows.length, records: [] };
  return { totalSize: rows.length, records: rows.map((r) => project(src, def, r, q.select)) };
}
