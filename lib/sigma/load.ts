// Sigma rules as the community publishes them (SigmaHQ): every field of the specification
// accepted, each rule compiled once per record kind and event source its logsource maps to. A
// rule Magpie cannot run is skipped with the reason, never a failed triage.
import { parseAllDocuments } from 'yaml';
import { z } from 'zod';
import type { RecordKind } from '../definitions.ts';
import { sha256Text } from '../evidence/hash.ts';
import { compileCondition, compileSelection, RuleSyntaxError, type FieldAccess, type MatchOptions, type Predicate, type Rec } from '../triage/matcher.ts';
import { LEVELS, type RuleDef } from '../triage/rule-def.ts';
import type { CompiledRule } from '../triage/rules.ts';
import { requiredAtoms } from './prefilter.ts';
import { compileCorrelation, SigmaCorrelationDoc } from './correlation.ts';
import { eventAccepts, eventBinder, eventKey, eventResolver, recordBinder, recordResolver, targetFor, type Pipeline } from './pipeline.ts';

const str = z.string();
const strList = z.union([z.array(z.unknown()), z.string()]).transform((v) => (Array.isArray(v) ? v.map(String) : [v]));

/** Sigma v2's rule fields; any other key is a custom field and kept. */
const SigmaRule = z.looseObject({
  title: str.min(1),
  id: z.string().optional(),
  name: z.string().optional(),
  status: z.string().optional(),
  description: z.string().optional(),
  license: z.string().optional(),
  author: z.string().optional(),
  references: strList.optional(),
  date: z.unknown().optional(),
  modified: z.unknown().optional(),
  tags: strList.optional(),
  level: z.string().optional(),
  logsource: z.looseObject({ product: z.string().optional(), category: z.string().optional(), service: z.string().optional(), definition: z.string().optional() }),
  detection: z.record(z.string(), z.unknown()),
  falsepositives: strList.optional(),
  fields: z.unknown().optional(),
  related: z.unknown().optional(),
  scope: z.unknown().optional(),
  taxonomy: z.string().optional(),
});

export interface SigmaSkip {
  file: string;
  rule: string;
  reason: string;
}

export interface SigmaLoad {
  rules: CompiledRule[];
  skipped: SigmaSkip[];
  failed: { file: string; error: string }[];
  /** Correlation documents waiting for the rules they name (resolveCorrelations). */
  correlations: { file: string; text: string; data: Rec; licence: string | null }[];
}

/** Ties each correlation document to the rules it names (by name or id) and adds it as a rule. */
export function resolveCorrelations(out: SigmaLoad): void {
  const byName = new Map<string, CompiledRule>();
  for (const r of out.rules) {
    byName.set(r.def.id, r);
    if (r.sigma?.name) byName.set(r.sigma.name, r);
  }
  for (const c of out.correlations) {
    const name = String(c.data.title ?? c.data.name ?? '(no title)');
    const skip = (reason: string) => out.skipped.push({ file: c.file, rule: `${name}${c.data.id ? ` (${c.data.id})` : ''}`, reason });
    const parsed = SigmaCorrelationDoc.safeParse(c.data);
    if (!parsed.success) {
      const i = parsed.error.issues[0];
      out.failed.push({ file: c.file, error: `${name}: ${i.path.join('.') || 'correlation'}: ${i.message}` });
      continue;
    }
    const doc = parsed.data;
    if (doc.correlation.aliases !== undefined) {
      skip('correlation aliases: group-by field aliases are not supported yet');
      continue;
    }
    const base = doc.correlation.rules.map((n) => byName.get(n));
    const missing = doc.correlation.rules.filter((_, i) => !base[i]);
    if (missing.length) {
      skip(`correlation of unknown rules: ${missing.join(', ')} (not loaded or skipped)`);
      continue;
    }
    const rule = compileCorrelation(doc, base as CompiledRule[], c.file, c.text, c.licence);
    for (const b of base as CompiledRule[]) {
      b.feeds = [...(b.feeds ?? []), rule];
      // Sigma: a rule a correlation uses makes no alert of its own unless the correlation says generate.
      if (!doc.correlation.generate) b.hidden = true;
    }
    out.rules.push(rule);
  }
  out.correlations = [];
}

/** The short reason a skip is counted under (the text up to the first colon). */
export const skipKind = (reason: string) => reason.split(':')[0];

export function loadSigmaFile(file: string, text: string, pipeline: Pipeline, out: SigmaLoad, folderLicence: string | null = null): void {
  const docs = parseAllDocuments(text, { uniqueKeys: false });
  const list = Array.isArray(docs) ? docs : [docs];
  for (const doc of list) {
    if (doc.errors.length) {
      out.failed.push({ file, error: `invalid YAML: ${doc.errors[0].message.split('\n')[0]}` });
      continue;
    }
    const data = doc.toJS() as unknown;
    if (data === null || data === undefined) continue;
    const name = (data as Rec)?.title ?? (data as Rec)?.id ?? '(no title)';
    const skip = (reason: string) => out.skipped.push({ file, rule: `${String(name)}${(data as Rec)?.id ? ` (${(data as Rec).id})` : ''}`, reason });
    if (typeof data !== 'object' || Array.isArray(data)) {
      out.failed.push({ file, error: 'a Sigma document must be a mapping' });
      continue;
    }
    const d = data as Rec;
    if (d.action) {
      skip(`Sigma v1 rule collection (action: ${String(d.action)}): split it into single rules`);
      continue;
    }
    if (d.correlation) {
      // Judged once every file is read: the rules it names may be in other files.
      out.correlations.push({ file, text, data: d, licence: folderLicence });
      continue;
    }
    if (d.filter) {
      skip('filter rule: Sigma filter documents are not applied yet');
      continue;
    }
    const parsed = SigmaRule.safeParse(d);
    if (!parsed.success) {
      const i = parsed.error.issues[0];
      out.failed.push({ file, error: `${String(name)}: ${i.path.join('.') || 'rule'}: ${i.message}` });
      continue;
    }
    const rule = parsed.data;
    const status = (rule.status ?? 'stable').toLowerCase();
    if (status === 'deprecated' || status === 'unsupported') {
      skip(`status ${status}: SigmaHQ keeps it for reference only`);
      continue;
    }
    const compiled = compileSigmaRule(rule, file, text, pipeline, skip, folderLicence);
    if (compiled) out.rules.push(compiled);
  }
}

function compileSigmaRule(rule: z.infer<typeof SigmaRule>, file: string, text: string, pipeline: Pipeline, skip: (reason: string) => void, folderLicence: string | null): CompiledRule | undefined {
  const ls = rule.logsource;
  const target = targetFor(pipeline, ls);
  const lsText = ['product', 'category', 'service'].filter((k) => ls[k as keyof typeof ls]).map((k) => `${k} ${ls[k as keyof typeof ls]}`).join(', ');
  if (!target) return void skip(`logsource not mapped: ${lsText || 'empty'} has no entry in the Sigma pipeline (playbooks/sigma/*.yaml)`);
  const conditions = Array.isArray(rule.detection.condition) ? rule.detection.condition.map(String) : [String(rule.detection.condition ?? '')];
  if (!conditions[0]) return void skip('no condition: detection has no condition');
  if (conditions.some((c) => c.includes('|'))) return void skip('aggregation: a Sigma v1 `| count()` condition; write it as a correlation rule');
  if (conditions.some((c) => /\bnear\b/i.test(c))) return void skip('near: the v1 near operator is not supported');
  const condition = conditions.length > 1 ? conditions.map((c) => `(${c})`).join(' or ') : conditions[0];
  const level = (LEVELS as readonly string[]).includes(String(rule.level)) ? (rule.level as RuleDef['level']) : 'medium';

  const compileFor = (opts: MatchOptions): Predicate => {
    const selections = new Map<string, Predicate>();
    for (const [n, sel] of Object.entries(rule.detection)) if (n !== 'condition' && n !== 'timeframe') selections.set(n, compileSelection(n, sel, opts));
    return compileCondition(condition, selections);
  };
  const targets: Partial<Record<RecordKind, Predicate>> = {};
  const eventIndex: { key: string; match: Predicate; bind: (field: string) => FieldAccess }[] = [];
  const binders: Partial<Record<RecordKind, (field: string) => FieldAccess>> = {};
  const required = requiredAtoms(rule.detection, condition);
  const notMapped: string[] = [];
  try {
    for (const [kind, map] of Object.entries(target.records) as [RecordKind, Record<string, string>][]) {
      const fields = new Set<string>();
      const match = compileFor({ sigma: true, resolve: recordResolver(map), bind: recordBinder(map), placeholders: pipeline.placeholders, fields });
      const mapped = new Set(Object.keys(map).map((k) => k.toLowerCase()));
      const missing = [...fields].filter((f) => !mapped.has(f.toLowerCase()));
      // A rule is run on a kind only when every field it names is there: a missing field would
      // make a filter (`not filter`) silently never apply.
      if (fields.size && missing.length) notMapped.push(`${kind} records lack ${missing.join(', ')}`);
      else {
        targets[kind] = match;
        binders[kind] = recordBinder(map);
      }
    }
    if (target.events.length) {
      const sources = target.events.map((src) => ({ src, accepts: eventAccepts(src), match: compileFor({ sigma: true, resolve: eventResolver(src.fields), bind: eventBinder(src.fields), placeholders: pipeline.placeholders }) }));
      targets['event' as RecordKind] = (r) => sources.some((s) => s.accepts(r) && s.match(r));
      // The engine looks events up by channel and event ID, so a rule costs only on its own events.
      for (const { src, match } of sources) {
        const ids = src.eventId === undefined ? ['*'] : Array.isArray(src.eventId) ? src.eventId.map(String) : [String(src.eventId)];
        for (const id of ids) eventIndex.push({ key: eventKey(src.channel, id), match, bind: eventBinder(src.fields) });
      }
    }
  } catch (e) {
    if (e instanceof RuleSyntaxError) return void skip(`unsupported: ${e.message}`);
    throw e;
  }
  const kinds = Object.keys(targets) as RecordKind[];
  if (!kinds.length) return void skip(`fields not mapped: ${notMapped.join('; ')}`);
  const id = rule.id ?? rule.name ?? sha256Text(`${file}\n${rule.title}`).slice(0, 32);
  const def: RuleDef = {
    title: rule.title,
    id,
    status: (['stable', 'test', 'experimental'].includes(String(rule.status)) ? rule.status : 'experimental') as RuleDef['status'],
    description: (rule.description ?? rule.title).trim(),
    author: rule.author,
    references: rule.references ?? [],
    tags: rule.tags ?? [],
    level,
    logsource: { category: kinds[0], ...(ls.product ? { product: ls.product } : {}) },
    detection: rule.detection as RuleDef['detection'],
    falsepositives: rule.falsepositives ?? [],
  };
  return {
    def,
    file,
    sha256: sha256Text(text),
    match: () => false,
    targets,
    ...(eventIndex.length ? { eventIndex } : {}),
    binders,
    ...(required ? { indexAtoms: required } : {}),
    ...(target.os === 'windows' || target.os === 'linux' ? { os: target.os } : {}),
    sigma: { license: rule.license ?? folderLicence, logsource: lsText, ...(notMapped.length ? { notMapped } : {}), ...(rule.name ? { name: rule.name } : {}) },
  };
}
