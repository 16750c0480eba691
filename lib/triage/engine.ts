// Evidence folder × rules × intelligence → findings. Reads the folder, never writes it.
// Processes are held (they are few and every other kind joins to them); everything else streams.
import type { RecordKind } from '../definitions.ts';
import type { Manifest } from '../evidence/manifest.ts';
import { readManifest, readRecords, type Located, type RecordRef } from '../records/reader.ts';
import type { Intel, IocMatch } from './intel.ts';
import { getField, type Rec } from './matcher.ts';
import type { Level } from './rule-def.ts';
import type { CompiledRule } from './rules.ts';

export interface Finding {
  id: string;
  rule: { id: string; title: string; level: Level; tags: string[]; description: string; source: 'rule' | 'ioc' | 'virustotal'; file?: string };
  host: string;
  kind: RecordKind;
  /** The record that matched (for a correlation: the joined process, or the first record). */
  record: Rec;
  location: Located;
  /** For correlations: the group, how many records and distinct values, and where they are. */
  group?: { by: Rec; count: number; distinct: number; values: unknown[]; locations: Located[] };
  ioc?: IocMatch;
}

export interface TimelineEvent {
  datetime: string;
  timestamp_desc: string;
  message: string;
  kind: RecordKind;
  file: string;
  line: number;
  /** Rule ids that flagged the record (Timesketch shows them as tags). */
  tag: string[];
}

export interface TriageResult {
  host: string;
  manifest: Manifest;
  findings: Finding[];
  problems: string[];
  counts: Partial<Record<RecordKind, number>>;
  processes: RecordRef[];
  hostRecord?: Rec;
}

export interface TriageOptions {
  rules: CompiledRule[];
  intel?: Intel;
  onTimeline?: (e: TimelineEvent) => void;
  /** Every image/file hash seen, with the first record that has it (for VirusTotal). */
  onHash?: (hash: string, ref: RecordRef) => void;
}

const LEVEL_ORDER: Record<Level, number> = { critical: 4, high: 3, medium: 2, low: 1, informational: 0 };
export const levelRank = (l: Level) => LEVEL_ORDER[l];

const MAX_LOCATIONS = 25;
const NO_TAGS: string[] = [];

interface Group {
  by: Rec;
  count: number;
  distinct: Set<string>;
  locations: Located[];
  first: RecordRef;
}

export async function triageFolder(dir: string, opts: TriageOptions): Promise<TriageResult> {
  const manifest = readManifest(dir);
  let host = manifest.target.hostname ?? manifest.target.name;
  const problems: string[] = [];
  const findings: Finding[] = [];
  const counts: TriageResult['counts'] = {};
  const byKind = new Map<RecordKind, CompiledRule[]>();
  for (const r of opts.rules) byKind.set(r.def.logsource.category, [...(byKind.get(r.def.logsource.category) ?? []), r]);
  const groups = new Map<CompiledRule, Map<string, Group>>();

  const addFinding = (f: Omit<Finding, 'id' | 'host'>) => findings.push({ ...f, id: '', host });
  const ruleInfo = (r: CompiledRule): Finding['rule'] => ({ id: r.def.id, title: r.def.title, level: r.def.level, tags: r.def.tags, description: r.def.description.trim(), source: 'rule', file: r.file });

  const evaluate = (ref: RecordRef) => {
    counts[ref.kind] = (counts[ref.kind] ?? 0) + 1;
    const before = findings.length;
    for (const rule of byKind.get(ref.kind) ?? []) {
      if (!rule.match(ref.record)) continue;
      const c = rule.def.correlation;
      if (!c) {
        addFinding({ rule: ruleInfo(rule), kind: ref.kind, record: ref.record, location: { file: ref.file, line: ref.line } });
        continue;
      }
      const by = Object.fromEntries(c['group-by'].map((f) => [f, getField(ref.record, f) ?? null]));
      const key = JSON.stringify(by);
      let perRule = groups.get(rule);
      if (!perRule) groups.set(rule, (perRule = new Map()));
      let g = perRule.get(key);
      if (!g) perRule.set(key, (g = { by, count: 0, distinct: new Set(), locations: [], first: ref }));
      g.count++;
      const v = getField(ref.record, c.field);
      if (v !== undefined && v !== null) g.distinct.add(String(v));
      if (g.locations.length < MAX_LOCATIONS) g.locations.push({ file: ref.file, line: ref.line });
    }
    if (opts.intel) {
      for (const m of opts.intel.match(ref.record)) {
        const what = m.ioc.type === 'hash' ? 'file hash' : m.ioc.type === 'ip' ? 'address' : 'domain';
        addFinding({
          rule: {
            id: `ioc-${m.ioc.type}`,
            title: `${what} on the IOC list: ${m.value}`,
            level: m.ioc.type === 'hash' ? 'critical' : 'high',
            tags: ['ioc'],
            description: `The ${m.field} of this ${ref.kind} record is listed as ${m.ioc.value} in ${m.ioc.source}. Treat the host as compromised: isolate it, collect memory before rebooting, and look for the same indicator on other hosts.`,
            source: 'ioc',
          },
          kind: ref.kind,
          record: ref.record,
          location: { file: ref.file, line: ref.line },
          ioc: m,
        });
      }
    }
    // Most records flag nothing: no array for them on this per-record path.
    if (opts.onTimeline) timeline(ref, findings.length > before ? findings.slice(before).map((f) => f.rule.id) : NO_TAGS, opts.onTimeline);
    if (opts.onHash) {
      const h = ref.record.sha256 ?? ref.record.sha1 ?? ref.record.md5;
      if (typeof h === 'string' && h) opts.onHash(h.toLowerCase(), ref);
    }
  };

  // Pass 1: the host and its processes, held for parent and connection joins.
  let hostRef: RecordRef | undefined;
  const processes: RecordRef[] = [];
  for await (const ref of readRecords(dir, manifest, ['host', 'process'], (p) => problems.push(p))) {
    if (ref.kind === 'host') hostRef ??= ref;
    else processes.push(ref);
  }
  // What the host says of itself (host-info) names it; the session's view is the fallback.
  if (typeof hostRef?.record.hostname === 'string' && hostRef.record.hostname) host = hostRef.record.hostname;
  const byPid = new Map<number, RecordRef>();
  for (const p of processes) byPid.set(p.record.pid as number, p);
  for (const { record: p } of processes) {
    const parent = typeof p.ppid === 'number' ? byPid.get(p.ppid)?.record : undefined;
    // A parent that started after its child is a reused PID, not the parent.
    const reused = parent && typeof parent.startTime === 'string' && typeof p.startTime === 'string' && parent.startTime > p.startTime;
    if (parent && !reused && parent !== p) Object.assign(p, { parentName: parent.name, parentPath: parent.path ?? null, parentCommandLine: parent.commandLine ?? null });
  }
  if (hostRef) evaluate(hostRef);
  for (const p of processes) evaluate(p);

  // Pass 2: everything else, streamed.
  const rest: RecordKind[] = ['connection', 'autorun', 'detection', 'dump', 'file'];
  for await (const ref of readRecords(dir, manifest, rest, (p) => problems.push(p))) {
    if (ref.kind === 'connection' && typeof ref.record.pid === 'number') {
      const p = byPid.get(ref.record.pid)?.record;
      if (p) Object.assign(ref.record, { processPath: p.path ?? null, processCommandLine: p.commandLine ?? null, processName: ref.record.processName ?? p.name });
    }
    evaluate(ref);
  }

  for (const [rule, perRule] of groups) {
    const c = rule.def.correlation!;
    for (const g of perRule.values()) {
      const n = g.distinct.size;
      const t = c.condition;
      if ((t.gt !== undefined && !(n > t.gt)) || (t.gte !== undefined && !(n >= t.gte)) || (t.lt !== undefined && !(n < t.lt)) || (t.lte !== undefined && !(n <= t.lte))) continue;
      const joined = c.join === 'process' && typeof g.by.pid === 'number' ? byPid.get(g.by.pid) : undefined;
      const at = joined ?? g.first;
      addFinding({
        rule: { ...ruleInfo(rule), title: `${rule.def.title} (${n} distinct ${c.field})` },
        kind: at.kind,
        record: at.record,
        location: { file: at.file, line: at.line },
        group: { by: g.by, count: g.count, distinct: n, values: [...g.distinct].slice(0, 50), locations: g.locations },
      });
    }
  }

  sortFindings(findings);
  return { host, manifest, findings, problems, counts, processes, hostRecord: hostRef?.record };
}

/** Most severe first; ids F0001… follow that order. */
export function sortFindings(findings: Finding[]): void {
  findings.sort((a, b) => levelRank(b.rule.level) - levelRank(a.rule.level) || a.rule.id.localeCompare(b.rule.id) || a.location.file.localeCompare(b.location.file) || a.location.line - b.location.line);
  findings.forEach((f, i) => (f.id = `F${String(i + 1).padStart(4, '0')}`));
}

const TIME_FIELDS: Partial<Record<RecordKind, [string, string][]>> = {
  host: [['bootTime', 'System Boot']],
  process: [['startTime', 'Process Start']],
  connection: [['createdTime', 'Connection Created']],
  autorun: [['time', 'Autorun Entry Last Written']],
  detection: [['time', 'Defender Event']],
  file: [['created', 'File Created'], ['modified', 'File Modified']],
};

function describe(ref: RecordRef): string {
  const r = ref.record;
  switch (ref.kind) {
    case 'host':
      return `host ${r.hostname} booted (${r.osName ?? r.os ?? ''})`;
    case 'process':
      return `process ${r.name} (pid ${r.pid}, parent ${r.ppid}) ${r.commandLine ?? r.path ?? ''}`.trim();
    case 'connection':
      return `${r.protocol} ${r.localAddress}:${r.localPort} → ${r.remoteAddress ?? '*'}:${r.remotePort ?? '*'} ${r.state ?? ''} by ${r.processName ?? r.pid ?? '?'}`;
    case 'autorun':
      return `autorun ${r.entry} at ${r.location}: ${r.launchString ?? r.imagePath ?? ''}`;
    case 'detection':
      return `Defender ${r.type}: ${r.threatName ?? ''} ${((r.resources as string[]) ?? []).join(', ')}`.trim();
    default:
      return `${ref.kind} ${JSON.stringify(r).slice(0, 200)}`;
  }
}

function timeline(ref: RecordRef, tags: string[], emit: (e: TimelineEvent) => void) {
  for (const [field, desc] of TIME_FIELDS[ref.kind] ?? []) {
    const t = ref.record[field];
    if (typeof t === 'string' && t) emit({ datetime: t, timestamp_desc: desc, message: describe(ref), kind: ref.kind, file: ref.file, line: ref.line, tag: tags });
  }
}
