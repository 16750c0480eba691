// Compiles Sigma-style selections and conditions into plain functions over one record.
// Case-insensitive by default (as in Sigma); `cased` makes a field case-sensitive.
import ipaddr from 'ipaddr.js';

export type Rec = Record<string, unknown>;
export type Predicate = (r: Rec) => boolean;

const MODIFIERS = new Set(['contains', 'startswith', 'endswith', 're', 'cidr', 'all', 'gt', 'gte', 'lt', 'lte', 'exists', 'cased']);

export class RuleSyntaxError extends Error {}

export function getField(r: Rec, path: string): unknown {
  if (path in r) return r[path];
  let cur: unknown = r;
  for (const part of path.split('.')) {
    if (cur === null || typeof cur !== 'object') return undefined;
    cur = (cur as Rec)[part];
  }
  return cur;
}

/** True when `*` or `?` appears unescaped (Sigma: `\*` is a literal star, `\\*` a backslash then a wildcard). */
function hasWildcard(glob: string): boolean {
  for (let i = 0; i < glob.length; i++) {
    if (glob[i] === '\\' && ['*', '?', '\\'].includes(glob[i + 1])) i++;
    else if (glob[i] === '*' || glob[i] === '?') return true;
  }
  return false;
}

function globToRegExp(glob: string, flags: string): RegExp {
  let out = '';
  for (let i = 0; i < glob.length; i++) {
    const c = glob[i];
    if (c === '\\' && (glob[i + 1] === '*' || glob[i + 1] === '?' || glob[i + 1] === '\\')) out += '\\' + glob[++i];
    else if (c === '*') out += '.*';
    else if (c === '?') out += '.';
    else out += c.replace(/[.*+?^${}()|[\]\\/]/g, '\\$&');
  }
  return new RegExp(`^${out}$`, flags);
}

function parseAddress(text: string): ipaddr.IPv4 | ipaddr.IPv6 | undefined {
  const bare = text.replace(/^\[|\]$/g, '').replace(/%.*$/, '');
  if (!ipaddr.isValid(bare)) return undefined;
  const a = ipaddr.parse(bare);
  return a.kind() === 'ipv6' && (a as ipaddr.IPv6).isIPv4MappedAddress() ? (a as ipaddr.IPv6).toIPv4Address() : a;
}

export interface FieldAccess {
  get: (r: Rec) => unknown;
  /** The value as lower-case text (undefined when absent or not a scalar). */
  lower: (r: Rec) => string | undefined;
}

/** Access to one field with a one-record cache of its lower-case text. */
export function fieldAccess(get: (r: Rec) => unknown): FieldAccess {
  let last: Rec | undefined;
  let low: string | undefined;
  return {
    get,
    lower: (r) => {
      if (r !== last) {
        last = r;
        const v = get(r);
        low = v === null || v === undefined || typeof v === 'object' ? undefined : String(v).toLowerCase();
      }
      return low;
    },
  };
}

export interface MatchOptions {
  /**
   * Sigma's own semantics (rules from the Sigma repository): pySigma's escaping (`\\` a
   * backslash, `\*` a star), wildcards inside contains/startswith/endswith, `re` case-sensitive
   * unless `|i`, keyword lists, and the value modifiers (base64, wide, windash, expand, fieldref).
   * Magpie's own rules keep their simpler reading (re case-insensitive).
   */
  sigma?: boolean;
  /** Looks a rule's field up in a record (a pipeline's field mapping); getField when absent. */
  resolve?: (r: Rec, field: string) => unknown;
  /**
   * Binds a field once, at compile time: its value and its lower-case text (cached per record and
   * shared by every rule that binds the same field, so thousands of rules lower-case it once).
   */
  bind?: (field: string) => FieldAccess;
  /** `%name%` placeholders for `|expand`. */
  placeholders?: Record<string, string[]>;
  /** Filled while compiling: every field the rule names (for mapping checks). */
  fields?: Set<string>;
}

const SIGMA_MODIFIERS = new Set([...MODIFIERS, 'base64', 'base64offset', 'wide', 'utf16le', 'utf16be', 'utf16', 'windash', 'expand', 'fieldref', 'i', 'm', 's']);

/** A Sigma string as parts: text, or a wildcard (`*` any run, `?` one character). */
type Part = string | { w: '*' | '?' };

/** pySigma's escaping: `\\` is a backslash, `\*` and `\?` are the characters, any other `\x` stays. */
function sigmaParts(text: string): Part[] {
  const parts: Part[] = [];
  let cur = '';
  for (let i = 0; i < text.length; i++) {
    const c = text[i];
    if (c === '\\' && i + 1 < text.length && ['*', '?', '\\'].includes(text[i + 1])) cur += text[++i];
    else if (c === '*' || c === '?') {
      if (cur) parts.push(cur);
      cur = '';
      parts.push({ w: c });
    } else cur += c;
  }
  if (cur) parts.push(cur);
  return parts;
}

function partsToRegExp(parts: Part[], flags: string): RegExp {
  const body = parts.map((p) => (typeof p === 'string' ? p.replace(/[.*+?^${}()|[\]\\/]/g, '\\$&') : p.w === '*' ? '[\\s\\S]*' : '[\\s\\S]')).join('');
  return new RegExp(`^${body}$`, flags);
}

/** A string test with Sigma's wildcards; plain string operations when there is no wildcard inside. */
function sigmaStringTest(text: string, op: string | undefined, cased: boolean): (v: string) => boolean {
  let parts = sigmaParts(text);
  if (op === 'contains' || op === 'endswith') parts = [{ w: '*' }, ...parts];
  if (op === 'contains' || op === 'startswith') parts = [...parts, { w: '*' }];
  const isStar = (p: Part | undefined) => p !== undefined && typeof p !== 'string' && p.w === '*';
  let i = 0;
  let j = parts.length;
  const lead = isStar(parts[i]);
  if (lead) i++;
  const trail = i < j && isStar(parts[j - 1]);
  if (trail) j--;
  const core = parts.slice(i, j);
  // Without `cased` the value given is already lower-case (FieldAccess.lower).
  if (core.every((p) => typeof p === 'string')) {
    const w = cased ? core.join('') : core.join('').toLowerCase();
    if (lead && trail) return (v) => v.includes(w);
    if (lead) return (v) => v.endsWith(w);
    if (trail) return (v) => v.startsWith(w);
    return (v) => v === w;
  }
  const re = partsToRegExp(parts, cased ? '' : 'i');
  return (v) => re.test(v);
}

/** windash: each `-` or `/` that starts an option, as every dash Windows programs accept. */
function windashVariants(s: string): string[] {
  const out = new Set<string>([s]);
  for (const d of ['-', '/', '\u2013', '\u2014', '\u2015']) out.add(s.replace(/(^|\s)[-/]/g, (_m, pre: string) => pre + d));
  return [...out];
}

/** base64offset: the three encodings of a value at any byte offset, without their unstable edges (as pySigma). */
function base64Offsets(b: Buffer): string[] {
  const starts = [0, 2, 3];
  const ends = [undefined, -3, -2];
  return [0, 1, 2].map((i) => Buffer.concat([Buffer.alloc(i, 0x20), b]).toString('base64').slice(starts[i], ends[(b.length + i) % 3]));
}

/** Sigma's value modifiers, in the rule's order, before the comparison. */
function transformValues(values: unknown[], mods: string[], key: string, opts: MatchOptions): unknown[] {
  let vals: unknown[] = values;
  for (const m of mods) {
    switch (m) {
      case 'expand':
        vals = vals.flatMap((v) => {
          if (typeof v !== 'string') return [v];
          const names = [...v.matchAll(/%([A-Za-z0-9_]+)%/g)].map((x) => x[1]);
          let outs = [v];
          for (const n of names) {
            const subst = opts.placeholders?.[n];
            if (!subst) throw new RuleSyntaxError(`placeholder %${n}% in "${key}" is not defined (add it to a placeholders file)`);
            outs = outs.flatMap((o) => subst.map((x) => o.split(`%${n}%`).join(x)));
          }
          return outs;
        });
        break;
      case 'windash':
        vals = vals.flatMap((v) => (typeof v === 'string' ? windashVariants(v) : [v]));
        break;
      case 'wide':
      case 'utf16le':
      case 'utf16':
        vals = vals.map((v) => Buffer.concat([m === 'utf16' ? Buffer.from([0xff, 0xfe]) : Buffer.alloc(0), Buffer.from(String(v), 'utf16le')]));
        break;
      case 'utf16be':
        vals = vals.map((v) => Buffer.from(String(v), 'utf16le').swap16());
        break;
      case 'base64':
        vals = vals.map((v) => (Buffer.isBuffer(v) ? v : Buffer.from(String(v), 'utf8')).toString('base64'));
        break;
      case 'base64offset':
        vals = vals.flatMap((v) => base64Offsets(Buffer.isBuffer(v) ? v : Buffer.from(String(v), 'utf8')));
        break;
    }
  }
  return vals.map((v) => (Buffer.isBuffer(v) ? v.toString('latin1') : v));
}

/** One `field|mod|mod: values` entry → predicate. */
function fieldPredicate(key: string, raw: unknown, opts: MatchOptions = {}): Predicate {
  const [field, ...mods] = key.split('|');
  const known = opts.sigma ? SIGMA_MODIFIERS : MODIFIERS;
  for (const m of mods) if (!known.has(m)) throw new RuleSyntaxError(`unknown modifier "${m}" in "${key}"; known: ${[...known].join(', ')}`);
  opts.fields?.add(field);
  const resolve = opts.resolve ?? getField;
  const access = opts.bind ? opts.bind(field) : fieldAccess((r) => resolve(r, field));
  let values = Array.isArray(raw) ? raw : [raw];
  const all = mods.includes('all');
  const cased = mods.includes('cased');
  const flags = opts.sigma ? (mods.includes('i') ? 'i' : '') + (mods.includes('m') ? 'm' : '') + (mods.includes('s') ? 's' : '') : cased ? '' : 'i';
  const norm = (s: string) => (cased ? s : s.toLowerCase());
  if (opts.sigma) values = transformValues(values, mods, key, opts);
  const op = mods.find((m) => ['contains', 'startswith', 'endswith', 're', 'cidr', 'gt', 'gte', 'lt', 'lte', 'exists', 'fieldref'].includes(m));
  const fieldref = mods.includes('fieldref');
  const strOp = fieldref ? mods.find((m) => ['contains', 'startswith', 'endswith'].includes(m)) : op;

  const tests: ((v: unknown, r: Rec, low: string | undefined) => boolean)[] = values.map((want) => {
    if (op === 'exists') return (v) => (v !== undefined && v !== null) === Boolean(want);
    if (fieldref) {
      const other = String(want);
      opts.fields?.add(other);
      return (v, r) => {
        const o = resolve(r, other);
        if (v === null || v === undefined || o === null || o === undefined) return false;
        const [a, b] = [norm(String(v)), norm(String(o))];
        return strOp === 'contains' ? a.includes(b) : strOp === 'startswith' ? a.startsWith(b) : strOp === 'endswith' ? a.endsWith(b) : a === b;
      };
    }
    if (want === null) return (v) => v === null || v === undefined;
    switch (op) {
      case 'contains':
      case 'startswith':
      case 'endswith': {
        if (opts.sigma) {
          const t = sigmaStringTest(String(want), op, cased);
          if (cased) return (v) => v !== null && v !== undefined && typeof v !== 'object' && t(String(v));
          return (_v, _r, low) => low !== undefined && t(low);
        }
        const w = norm(String(want));
        return (v) => {
          if (v === null || v === undefined) return false;
          const s = norm(String(v));
          return op === 'contains' ? s.includes(w) : op === 'startswith' ? s.startsWith(w) : s.endsWith(w);
        };
      }
      case 're': {
        let re: RegExp;
        let src = String(want);
        let f = flags;
        // PCRE's leading (?i) (common in Sigma rules) is JavaScript's i flag.
        const inline = /^\(\?([imsx]+)\)/.exec(src);
        if (inline && !inline[1].includes('x')) {
          src = src.slice(inline[0].length);
          for (const c of inline[1]) if (!f.includes(c)) f += c;
        }
        try {
          re = new RegExp(src, f);
        } catch (e) {
          throw new RuleSyntaxError(`invalid regular expression in "${key}" (as JavaScript reads it): ${(e as Error).message}`);
        }
        return (v) => v !== null && v !== undefined && re.test(String(v));
      }
      case 'cidr': {
        let range: [ipaddr.IPv4 | ipaddr.IPv6, number];
        try {
          range = ipaddr.parseCIDR(String(want));
        } catch {
          throw new RuleSyntaxError(`invalid CIDR "${want}" in "${key}"`);
        }
        return (v) => {
          if (typeof v !== 'string') return false;
          const a = parseAddress(v);
          return !!a && a.kind() === range[0].kind() && a.match(range);
        };
      }
      case 'gt':
      case 'gte':
      case 'lt':
      case 'lte': {
        const w = Number(want);
        if (!Number.isFinite(w)) throw new RuleSyntaxError(`"${key}" needs a number, got ${JSON.stringify(want)}`);
        return (v) => {
          const n = typeof v === 'number' ? v : typeof v === 'string' && v.trim() !== '' ? Number(v) : NaN;
          if (!Number.isFinite(n)) return false;
          return op === 'gt' ? n > w : op === 'gte' ? n >= w : op === 'lt' ? n < w : n <= w;
        };
      }
      default: {
        if (typeof want === 'number') return (v) => v === want || (typeof v === 'string' && v.trim() !== '' && Number(v) === want);
        if (typeof want === 'boolean') return (v) => v === want || (typeof v === 'string' && v.toLowerCase() === String(want));
        if (opts.sigma) {
          const t = sigmaStringTest(String(want), undefined, cased);
          if (cased) return (v) => v !== null && v !== undefined && typeof v !== 'object' && t(String(v));
          return (_v, _r, low) => low !== undefined && t(low);
        }
        if (typeof want === 'string' && hasWildcard(want)) {
          const re = globToRegExp(want, flags);
          return (v) => v !== null && v !== undefined && re.test(String(v));
        }
        const w = norm(String(want).replace(/\\([*?])/g, '$1'));
        return (v) => v !== null && v !== undefined && typeof v !== 'object' && norm(String(v)) === w;
      }
    }
  });
  return (r) => {
    const v = access.get(r);
    // A list-valued field matches when any element matches.
    if (Array.isArray(v)) {
      const check = (t: (x: unknown, r: Rec, low: string | undefined) => boolean) => v.some((x) => t(x, r, x === null || x === undefined || typeof x === 'object' ? undefined : String(x).toLowerCase()));
      return all ? tests.every(check) : tests.some(check);
    }
    const low = access.lower(r);
    if (all) {
      for (const t of tests) if (!t(v, r, low)) return false;
      return true;
    }
    for (const t of tests) if (t(v, r, low)) return true;
    return false;
  };
}

/** Every string in a record, nested objects (an event's data) included: what Sigma keywords search. */
function* stringsOf(v: unknown, depth = 0): Generator<string> {
  if (typeof v === 'string') yield v;
  else if (v && typeof v === 'object' && depth < 3) for (const x of Array.isArray(v) ? v : Object.values(v)) yield* stringsOf(x, depth + 1);
}

/** A selection: a map (all fields must match) or a list of maps (any map); in Sigma also a keyword list. */
export function compileSelection(name: string, sel: unknown, opts: MatchOptions = {}): Predicate {
  const maps = Array.isArray(sel) ? sel : [sel];
  if (opts.sigma && maps.every((m) => typeof m === 'string' || typeof m === 'number')) {
    // Keywords: any string anywhere in the record contains one (Sigma's unbound values).
    const tests = maps.map((k) => sigmaStringTest(String(k), 'contains', false));
    return (r) => {
      for (const s of stringsOf(r)) {
        const low = s.toLowerCase();
        if (tests.some((t) => t(low))) return true;
      }
      return false;
    };
  }
  const compiled = maps.map((m, i) => {
    if (m === null || typeof m !== 'object' || Array.isArray(m)) throw new RuleSyntaxError(`selection "${name}"${maps.length > 1 ? ` item ${i + 1}` : ''} must be a map of field: value`);
    const preds = Object.entries(m as Rec).map(([k, v]) => fieldPredicate(k, v, opts));
    return (r: Rec) => preds.every((p) => p(r));
  });
  return (r) => compiled.some((p) => p(r));
}

export type ConditionNode = { t: 'sel'; name: string } | { t: 'not'; a: ConditionNode } | { t: 'and' | 'or'; a: ConditionNode; b: ConditionNode } | { t: 'of'; quant: 'one' | 'all'; names: string[] };
type Node = ConditionNode;

/** Compiles `sel1 and not (a or b)`, `1 of selection*`, `all of them`. */
export function compileCondition(condition: string, selections: Map<string, Predicate>): Predicate {
  const tree = parseCondition(condition, [...selections.keys()]);
  const build = (n: Node): Predicate => {
    switch (n.t) {
      case 'sel':
        return selections.get(n.name)!;
      case 'not': {
        const a = build(n.a);
        return (r) => !a(r);
      }
      case 'and': {
        const [a, b] = [build(n.a), build(n.b)];
        return (r) => a(r) && b(r);
      }
      case 'or': {
        const [a, b] = [build(n.a), build(n.b)];
        return (r) => a(r) || b(r);
      }
      case 'of': {
        const preds = n.names.map((x) => selections.get(x)!);
        return n.quant === 'all' ? (r) => preds.every((p) => p(r)) : (r) => preds.some((p) => p(r));
      }
    }
  };
  return build(tree);
}

/** Parses a condition over the selections named `selectionNames`. */
export function parseCondition(condition: string, selectionNames: string[]): ConditionNode {
  const selections = new Set(selectionNames);
  const tokens = condition.match(/\(|\)|[^\s()]+/g) ?? [];
  let pos = 0;
  const peek = () => tokens[pos]?.toLowerCase();
  const expect = (what: string) => {
    if (peek() !== what) throw new RuleSyntaxError(`condition "${condition}": expected "${what}" at "${tokens[pos] ?? 'end'}"`);
    pos++;
  };
  const names = (pattern: string): string[] => {
    const all = [...selectionNames];
    if (pattern.toLowerCase() === 'them') return all;
    const re = globToRegExp(pattern, '');
    const found = all.filter((n) => re.test(n));
    if (!found.length) throw new RuleSyntaxError(`condition "${condition}": no selection matches "${pattern}"`);
    return found;
  };
  const primary = (): Node => {
    const tok = tokens[pos];
    if (tok === undefined) throw new RuleSyntaxError(`condition "${condition}" ends too early`);
    const low = tok.toLowerCase();
    if (low === '(') {
      pos++;
      const n = orExpr();
      expect(')');
      return n;
    }
    if (low === 'not') {
      pos++;
      return { t: 'not', a: primary() };
    }
    if ((low === '1' || low === 'all' || low === 'any') && tokens[pos + 1]?.toLowerCase() === 'of') {
      pos += 2;
      const target = tokens[pos++];
      if (!target) throw new RuleSyntaxError(`condition "${condition}": "of" needs a selection pattern or "them"`);
      return { t: 'of', quant: low === 'all' ? 'all' : 'one', names: names(target) };
    }
    if (['and', 'or', ')'].includes(low)) throw new RuleSyntaxError(`condition "${condition}": unexpected "${tok}"`);
    if (!selections.has(tok)) throw new RuleSyntaxError(`condition "${condition}" names "${tok}", which is not a selection in detection`);
    pos++;
    return { t: 'sel', name: tok };
  };
  const andExpr = (): Node => {
    let n = primary();
    while (peek() === 'and') {
      pos++;
      n = { t: 'and', a: n, b: primary() };
    }
    return n;
  };
  const orExpr = (): Node => {
    let n = andExpr();
    while (peek() === 'or') {
      pos++;
      n = { t: 'or', a: n, b: andExpr() };
    }
    return n;
  };
  const tree = orExpr();
  if (pos !== tokens.length) throw new RuleSyntaxError(`condition "${condition}": unexpected "${tokens[pos]}"`);
  return tree;
}
