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

/** One `field|mod|mod: values` entry → predicate. */
function fieldPredicate(key: string, raw: unknown): Predicate {
  const [field, ...mods] = key.split('|');
  for (const m of mods) if (!MODIFIERS.has(m)) throw new RuleSyntaxError(`unknown modifier "${m}" in "${key}"; known: ${[...MODIFIERS].join(', ')}`);
  const values = Array.isArray(raw) ? raw : [raw];
  const all = mods.includes('all');
  const cased = mods.includes('cased');
  const flags = cased ? '' : 'i';
  const norm = (s: string) => (cased ? s : s.toLowerCase());
  const op = mods.find((m) => !['all', 'cased'].includes(m));

  const tests: ((v: unknown) => boolean)[] = values.map((want) => {
    if (op === 'exists') return (v) => (v !== undefined && v !== null) === Boolean(want);
    if (want === null) return (v) => v === null || v === undefined;
    switch (op) {
      case 'contains':
      case 'startswith':
      case 'endswith': {
        const w = norm(String(want));
        return (v) => {
          if (v === null || v === undefined) return false;
          const s = norm(String(v));
          return op === 'contains' ? s.includes(w) : op === 'startswith' ? s.startsWith(w) : s.endsWith(w);
        };
      }
      case 're': {
        let re: RegExp;
        try {
          re = new RegExp(String(want), flags);
        } catch (e) {
          throw new RuleSyntaxError(`invalid regular expression in "${key}": ${(e as Error).message}`);
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
        if (typeof want === 'string' && hasWildcard(want)) {
          const re = globToRegExp(want, flags);
          return (v) => v !== null && v !== undefined && re.test(String(v));
        }
        if (typeof want === 'number') return (v) => v === want || (typeof v === 'string' && v.trim() !== '' && Number(v) === want);
        if (typeof want === 'boolean') return (v) => v === want || (typeof v === 'string' && v.toLowerCase() === String(want));
        const w = norm(String(want).replace(/\\([*?])/g, '$1'));
        return (v) => v !== null && v !== undefined && typeof v !== 'object' && norm(String(v)) === w;
      }
    }
  });
  return (r) => {
    const v = getField(r, field);
    // A list-valued field matches when any element matches.
    const check = (t: (x: unknown) => boolean) => (Array.isArray(v) ? v.some((x) => t(x)) : t(v));
    return all ? tests.every(check) : tests.some(check);
  };
}

/** A selection: a map (all fields must match) or a list of maps (any map). */
export function compileSelection(name: string, sel: unknown): Predicate {
  const maps = Array.isArray(sel) ? sel : [sel];
  const compiled = maps.map((m, i) => {
    if (m === null || typeof m !== 'object' || Array.isArray(m)) throw new RuleSyntaxError(`selection "${name}"${maps.length > 1 ? ` item ${i + 1}` : ''} must be a map of field: value`);
    const preds = Object.entries(m as Rec).map(([k, v]) => fieldPredicate(k, v));
    return (r: Rec) => preds.every((p) => p(r));
  });
  return (r) => compiled.some((p) => p(r));
}

type Node = { t: 'sel'; name: string } | { t: 'not'; a: Node } | { t: 'and' | 'or'; a: Node; b: Node } | { t: 'of'; quant: 'one' | 'all'; names: string[] };

/** Parses `sel1 and not (a or b)`, `1 of selection*`, `all of them`. */
export function compileCondition(condition: string, selections: Map<string, Predicate>): Predicate {
  const tokens = condition.match(/\(|\)|[^\s()]+/g) ?? [];
  let pos = 0;
  const peek = () => tokens[pos]?.toLowerCase();
  const expect = (what: string) => {
    if (peek() !== what) throw new RuleSyntaxError(`condition "${condition}": expected "${what}" at "${tokens[pos] ?? 'end'}"`);
    pos++;
  };
  const names = (pattern: string): string[] => {
    const all = [...selections.keys()];
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
