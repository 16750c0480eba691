// Which rules to test on a record: by record kind, events also by channel and event ID, and a
// Sigma rule only when a text it needs (lib/sigma/prefilter.ts) is in the record's field, found
// for all rules at once per field (Aho-Corasick). With SigmaHQ's thousand process-creation rules
// a record meets the few dozen that can apply to it.
import type { RecordKind } from '../definitions.ts';
import type { Atom } from '../sigma/prefilter.ts';
import { AhoCorasick } from './aho-corasick.ts';
import type { FieldAccess, Predicate, Rec } from './matcher.ts';
import type { CompiledRule } from './rules.ts';

export interface RuleEntry {
  rule: CompiledRule;
  match: Predicate;
  atoms?: Atom[];
  bind?: (field: string) => FieldAccess;
}

interface FieldScan {
  access: FieldAccess;
  ac: AhoCorasick;
  /** Pattern id → the entries that need it. */
  entries: RuleEntry[][];
}

interface Bucket {
  always: RuleEntry[];
  /** One per field mapping (binder): its fields, each scanned once per record. */
  groups: FieldScan[][];
}

function bucket(entries: RuleEntry[]): Bucket {
  const b: Bucket = { always: [], groups: [] };
  const byBinder = new Map<(field: string) => FieldAccess, Map<string, { access: FieldAccess; texts: Map<string, RuleEntry[]> }>>();
  for (const e of entries) {
    if (!e.atoms || !e.bind) {
      b.always.push(e);
      continue;
    }
    let fields = byBinder.get(e.bind);
    if (!fields) byBinder.set(e.bind, (fields = new Map()));
    for (const a of e.atoms) {
      const f = a.field.toLowerCase();
      let scan = fields.get(f);
      if (!scan) fields.set(f, (scan = { access: e.bind(a.field), texts: new Map() }));
      scan.texts.set(a.text, [...(scan.texts.get(a.text) ?? []), e]);
    }
  }
  for (const fields of byBinder.values()) {
    b.groups.push(
      [...fields.values()].map(({ access, texts }) => {
        const patterns = [...texts.keys()];
        return { access, ac: new AhoCorasick(patterns), entries: patterns.map((p) => texts.get(p)!) };
      }),
    );
  }
  return b;
}

export class RuleIndex {
  private byKind = new Map<RecordKind, Bucket>();
  private byEvent = new Map<string, Bucket>();

  constructor(rules: CompiledRule[]) {
    const kinds = new Map<RecordKind, RuleEntry[]>();
    const events = new Map<string, RuleEntry[]>();
    const push = <K>(m: Map<K, RuleEntry[]>, k: K, e: RuleEntry) => m.set(k, [...(m.get(k) ?? []), e]);
    for (const r of rules) {
      if (r.allow) continue;
      for (const e of r.eventIndex ?? []) push(events, e.key, { rule: r, match: e.match, bind: e.bind, ...(r.indexAtoms ? { atoms: r.indexAtoms } : {}) });
      if (!r.targets) push(kinds, r.def.logsource.category, { rule: r, match: r.match });
      else
        for (const [k, m] of Object.entries(r.targets) as [RecordKind, Predicate][]) {
          if (k === 'event' && r.eventIndex) continue;
          const bind = r.binders?.[k];
          push(kinds, k, { rule: r, match: m, ...(bind ? { bind } : {}), ...(r.indexAtoms && bind ? { atoms: r.indexAtoms } : {}) });
        }
    }
    for (const [k, list] of kinds) this.byKind.set(k, bucket(list));
    for (const [k, list] of events) this.byEvent.set(k, bucket(list));
  }

  /** Calls `fn` with every rule that can match `r` (a record of `kind`), each once. */
  forEach(kind: RecordKind, r: Rec, fn: (e: RuleEntry) => void): void {
    const visit = (b: Bucket | undefined) => {
      if (!b) return;
      for (const e of b.always) fn(e);
      for (const fields of b.groups) {
        const seen = new Set<RuleEntry>();
        for (const scan of fields) {
          const text = scan.access.lower(r);
          if (!text) continue;
          scan.ac.search(text, (id) => {
            for (const e of scan.entries[id]) if (!seen.has(e)) (seen.add(e), fn(e));
          });
        }
      }
    };
    if (kind === 'event') {
      const channel = typeof r.channel === 'string' ? r.channel.toLowerCase() : '';
      visit(this.byEvent.get(`${channel}#${r.eventId}`));
      visit(this.byEvent.get(`${channel}#*`));
    }
    visit(this.byKind.get(kind));
  }
}
