// Which records a Sigma rule can possibly match: nearly every rule of SigmaHQ needs some text in
// some field for any match (`Image|endswith: '\certutil.exe'`, `CommandLine|contains: urlcache`).
// The engine finds all such texts of all rules in a record's fields in one pass per field
// (Aho-Corasick, lib/triage/rule-index.ts) and tests the record only against the rules whose
// text is there, and the few rules that need none; cost grows with the rules that apply.
import { parseCondition, type ConditionNode, type Rec } from '../triage/matcher.ts';

/** Text (lower-case) that field (a rule's own name for it) must contain. */
export interface Atom {
  field: string;
  text: string;
}

const IMAGE_FIELDS = new Set(['image', 'originalfilename', 'parentimage']);

/**
 * The longest piece of a value between Sigma wildcards (what any match must contain), escapes
 * read as the matcher reads them (`\\*` a star, `\\\\` a backslash); with windash also between dashes.
 */
function literal(v: string, windash: boolean): string {
  const pieces: string[] = [];
  let cur = '';
  for (let i = 0; i < v.length; i++) {
    const c = v[i];
    if (c === '\\' && i + 1 < v.length && '*?\\'.includes(v[i + 1])) cur += v[++i];
    else if (c === '*' || c === '?' || (windash && '-/\u2013\u2014\u2015'.includes(c))) {
      pieces.push(cur);
      cur = '';
    } else cur += c;
  }
  pieces.push(cur);
  return pieces.reduce((a, b) => (b.length > a.length ? b : a), '').toLowerCase();
}

/** One `field|mods: values` entry: one of these atoms holds in any record it matches, or null. */
function entryAtoms(key: string, raw: unknown): Atom[] | null {
  const [field, ...mods] = key.split('|');
  const op = mods.filter((m) => m !== 'all' && m !== 'cased' && m !== 'windash');
  if (op.length > 1 || (op.length === 1 && !['contains', 'startswith', 'endswith'].includes(op[0]))) return null;
  const values = Array.isArray(raw) ? raw : [raw];
  if (!values.length || values.some((v) => v === null || typeof v === 'object')) return null;
  const texts = values.map((v) => literal(String(v), mods.includes('windash')));
  if (texts.some((t) => t.length < 2)) return null;
  // |all: every value is in the field, so the longest one alone is enough to look for.
  const chosen = mods.includes('all') ? [texts.reduce((a, b) => (b.length > a.length ? b : a))] : texts;
  return [...new Set(chosen)].map((text) => ({ field, text }));
}

/** How selective a set of atoms is: file names first, then the shortest text's length. */
const score = (atoms: Atom[]) => (atoms.every((a) => IMAGE_FIELDS.has(a.field.toLowerCase())) ? 1000 : 0) + Math.min(...atoms.map((a) => a.text.length));
const better = (a: Atom[] | null, b: Atom[] | null) => (a && b ? (score(a) >= score(b) ? a : b) : (a ?? b));

function selectionAtoms(sel: unknown): Atom[] | null {
  const maps = Array.isArray(sel) ? sel : [sel];
  const out: Atom[] = [];
  for (const m of maps) {
    if (m === null || typeof m !== 'object' || Array.isArray(m)) return null;
    // Every entry of a map must hold: its most selective one is enough.
    let best: Atom[] | null = null;
    for (const [k, v] of Object.entries(m as Rec)) best = better(best, entryAtoms(k, v));
    if (!best) return null;
    out.push(...best);
  }
  return out;
}

/** Atoms one of which every match of the rule has, or null when a match may have none. */
export function requiredAtoms(detection: Record<string, unknown>, condition: string): Atom[] | null {
  const names = Object.keys(detection).filter((n) => n !== 'condition' && n !== 'timeframe');
  let tree: ConditionNode;
  try {
    tree = parseCondition(condition, names);
  } catch {
    return null;
  }
  const walk = (n: ConditionNode): Atom[] | null => {
    switch (n.t) {
      case 'sel':
        return selectionAtoms(detection[n.name]);
      case 'not':
        return null;
      case 'and':
        return better(walk(n.a), walk(n.b));
      case 'or': {
        const [a, b] = [walk(n.a), walk(n.b)];
        return a && b ? [...a, ...b] : null;
      }
      case 'of': {
        const each = n.names.map((x) => selectionAtoms(detection[x]));
        if (n.quant === 'all') return each.reduce<Atom[] | null>((acc, k) => better(acc, k), null);
        return each.every(Boolean) ? (each.flat() as Atom[]) : null;
      }
    }
  };
  return walk(tree);
}
