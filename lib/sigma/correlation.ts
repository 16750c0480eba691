// Sigma correlation rules (specification v2): event_count, value_count, temporal and
// temporal_ordered over the matches of the rules they name, grouped by fields, within a timespan.
// Each base rule's matches are collected while triage runs; the correlation is judged at the end.
import { z } from 'zod';
import { sha256Text } from '../evidence/hash.ts';
import type { FieldAccess, Rec } from '../triage/matcher.ts';
import { LEVELS, type RuleDef } from '../triage/rule-def.ts';
import type { CompiledRule } from '../triage/rules.ts';

const Threshold = z.strictObject({ gt: z.number().optional(), gte: z.number().optional(), lt: z.number().optional(), lte: z.number().optional(), eq: z.number().optional(), field: z.string().optional() });

export const SigmaCorrelationDoc = z.looseObject({
  title: z.string().min(1),
  id: z.string().optional(),
  name: z.string().optional(),
  description: z.string().optional(),
  author: z.string().optional(),
  references: z.array(z.string()).optional(),
  tags: z.array(z.string()).optional(),
  level: z.string().optional(),
  falsepositives: z.array(z.string()).optional(),
  license: z.string().optional(),
  correlation: z.looseObject({
    type: z.enum(['event_count', 'value_count', 'temporal', 'temporal_ordered']),
    rules: z.union([z.string(), z.array(z.string()).min(1)]).transform((v) => (Array.isArray(v) ? v : [v])),
    'group-by': z.array(z.string()).optional(),
    timespan: z.string().regex(/^\d+[smhdMy]$/, 'a number and s, m, h, d, M or y (5m)'),
    condition: Threshold.optional(),
    generate: z.boolean().optional(),
    aliases: z.unknown().optional(),
  }),
});
export type SigmaCorrelationDoc = z.infer<typeof SigmaCorrelationDoc>;

export interface Correlation {
  type: SigmaCorrelationDoc['correlation']['type'];
  rules: CompiledRule[];
  groupBy: string[];
  timespanMs: number;
  condition: z.infer<typeof Threshold>;
}

/** One match of a base rule, as a correlation keeps it. */
export interface CorrelationMatch {
  rule: number;
  kind: string;
  time: number | null;
  group: string;
  by: Rec;
  value: string | null;
  record: Rec;
  file: string;
  line: number;
}

const UNIT: Record<string, number> = { s: 1e3, m: 60e3, h: 3600e3, d: 86400e3, M: 30 * 86400e3, y: 365 * 86400e3 };
export const timespanMs = (t: string) => Number(t.slice(0, -1)) * UNIT[t.slice(-1)];

/** A correlation as a rule: its findings are the groups that meet its condition. */
export function compileCorrelation(doc: SigmaCorrelationDoc, base: CompiledRule[], file: string, text: string, licence: string | null): CompiledRule {
  const c = doc.correlation;
  const level = (LEVELS as readonly string[]).includes(String(doc.level)) ? (doc.level as RuleDef['level']) : 'medium';
  const def: RuleDef = {
    title: doc.title,
    id: doc.id ?? doc.name ?? sha256Text(`${file}\n${doc.title}`).slice(0, 32),
    status: 'experimental',
    description: (doc.description ?? doc.title).trim(),
    author: doc.author,
    references: doc.references ?? [],
    tags: doc.tags ?? [],
    level,
    logsource: { category: base[0].def.logsource.category },
    detection: { condition: `${c.type} of ${c.rules.join(', ')}` },
    falsepositives: doc.falsepositives ?? [],
  };
  return {
    def,
    file,
    sha256: sha256Text(text),
    match: () => false,
    sigma: { license: doc.license ?? licence, logsource: `correlation ${c.type}` },
    sigmaCorrelation: { type: c.type, rules: base, groupBy: c['group-by'] ?? [], timespanMs: timespanMs(c.timespan), condition: c.condition ?? {} },
  };
}

/** The time of a record for a timespan: an event's, a process's start, a connection's creation. */
export function recordTime(r: Rec): number | null {
  const t = r.time ?? r.startTime ?? r.createdTime;
  const ms = typeof t === 'string' ? Date.parse(t) : NaN;
  return Number.isFinite(ms) ? ms : null;
}

/** The group-by values and the counted field of a match, read through the rule's own field access. */
export function matchKey(c: Correlation, bind: ((field: string) => FieldAccess) | undefined, r: Rec): { group: string; by: Rec; value: string | null } {
  const get = (f: string) => (bind ? bind(f).get(r) : r[f]) ?? null;
  const by = Object.fromEntries(c.groupBy.map((f) => [f, get(f)]));
  const v = c.condition.field ? get(c.condition.field) : null;
  return { group: JSON.stringify(by), by, value: v === null ? null : String(v) };
}

const meets = (n: number, t: Correlation['condition']) =>
  (t.gt === undefined || n > t.gt) && (t.gte === undefined || n >= t.gte) && (t.lt === undefined || n < t.lt) && (t.lte === undefined || n <= t.lte) && (t.eq === undefined || n === t.eq);

/**
 * The groups that meet the correlation: for each group the first window of `timespan` (starting
 * at a match) whose matches meet it. Matches without a time (live state) form one window.
 */
export function judge(c: Correlation, matches: CorrelationMatch[]): { by: Rec; window: CorrelationMatch[]; count: number; distinct: number }[] {
  const groups = new Map<string, CorrelationMatch[]>();
  for (const m of matches) groups.set(m.group, [...(groups.get(m.group) ?? []), m]);
  const out: { by: Rec; window: CorrelationMatch[]; count: number; distinct: number }[] = [];
  for (const list of groups.values()) {
    const timed = list.every((m) => m.time !== null);
    const sorted = timed ? [...list].sort((a, b) => a.time! - b.time!) : list;
    for (let i = 0; i < sorted.length; i++) {
      const end = timed ? sorted[i].time! + c.timespanMs : Infinity;
      let j = i;
      while (j < sorted.length && (!timed || sorted[j].time! <= end)) j++;
      const window = sorted.slice(i, j);
      const distinct = new Set(window.map((m) => m.value).filter((v) => v !== null)).size;
      let ok = false;
      if (c.type === 'event_count') ok = meets(window.length, c.condition);
      else if (c.type === 'value_count') ok = meets(distinct, c.condition);
      else if (c.type === 'temporal') ok = c.rules.every((_, k) => window.some((m) => m.rule === k));
      else {
        // temporal_ordered: the rules' first matches in the window come in the order listed.
        let at = -1;
        ok = c.rules.every((_, k) => {
          const found = window.findIndex((m, idx) => idx > at && m.rule === k);
          if (found < 0) return false;
          at = found;
          return true;
        });
      }
      if (ok) {
        out.push({ by: sorted[i].by, window, count: window.length, distinct });
        break;
      }
      if (!timed) break;
    }
  }
  return out;
}
