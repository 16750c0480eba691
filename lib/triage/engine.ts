// Evidence folder × rules × intelligence → findings. Reads the folder, never writes it.
// Processes are held (they are few and every other kind joins to them); everything else streams.
import type { RecordKind } from '../definitions.ts';
import type { Manifest } from '../evidence/manifest.ts';
import { readManifest, readRecords, type Located, type RecordRef } from '../records/reader.ts';
import { iocFindingInfo, type Intel, type IocMatch } from './intel.ts';
import { getField, type Rec } from './matcher.ts';
import { RuleIndex } from './rule-index.ts';
import { judge, matchKey, recordTime, type CorrelationMatch } from '../sigma/correlation.ts';
import type { Level } from './rule-def.ts';
import { allowedBy, type CompiledRule } from './rules.ts';
import { ConnectionIndex } from '../traffic/derive.ts';
import { triageCaptures } from '../traffic/triage-captures.ts';

export interface Finding {
  id: string;
  rule: {
    id: string;
    title: string;
    level: Level;
    tags: string[];
    description: string;
    source: 'rule' | 'sigma' | 'ioc' | 'virustotal';
    file?: string;
    author?: string | null;
    references?: string[];
    falsepositives?: string[];
    license?: string | null;
  };
  host: string;
  kind: RecordKind;
  /** The record that matched (for a correlation: the joined process, or the first record). */
  record: Rec;
  location: Located;
  /** For correlations: the group, how many records and distinct values, and where they are. */
  group?: { by: Rec; count: number; distinct: number; values: unknown[]; locations: Located[] };
  ioc?: IocMatch;
  /** For a finding on a connection: the findings on the process that owns it (its pid). */
  relatedTo?: { id: string; title: string; level: Level }[];
}

/** A finding a team allowlist took away: which rule, which allowlist entry, where the record is. */
export interface Suppressed {
  rule: string;
  allowlist: string;
  entry: string;
  location: Located;
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
  /** Findings that team allowlists suppressed (rules only; IOC hits are never suppressed). */
  suppressed: Suppressed[];
}

export interface TriageOptions {
  rules: CompiledRule[];
  intel?: Intel;
  onTimeline?: (e: TimelineEvent) => void;
  /** Every image/file hash seen, with the first record that has it (for VirusTotal). */
  onHash?: (hash: string, ref: RecordRef) => void;
  /**
   * Where the records read from captures go (flow, dns, beacon): a folder of the triage output,
   * `abs` on disk and `rel` to the evidence folder, so findings point at a file and line. Without
   * it the records are only evaluated.
   */
  derivedDir?: { abs: string; rel: string };
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

// Built once per rule list: a case of many hosts triages each with the same index.
const indexes = new WeakMap<CompiledRule[], RuleIndex>();
function ruleIndexOf(rules: CompiledRule[]): RuleIndex {
  let ix = indexes.get(rules);
  if (!ix) indexes.set(rules, (ix = new RuleIndex(rules)));
  return ix;
}

export async function triageFolder(dir: string, opts: TriageOptions): Promise<TriageResult> {
  const manifest = readManifest(dir);
  let host = manifest.target.hostname ?? manifest.target.name;
  const problems: string[] = [];
  const findings: Finding[] = [];
  const counts: TriageResult['counts'] = {};
  // Each rule once per record kind it reads (a Sigma rule may read several, each its own way).
  const index = ruleIndexOf(opts.rules);
  const allowlists = opts.rules.filter((r) => r.allow);
  const suppressed: Suppressed[] = [];
  const groups = new Map<CompiledRule, Map<string, Group>>();
  const sigmaMatches = new Map<CompiledRule, CorrelationMatch[]>();
  // Facts are derived for Windows records only (a Linux host says so in its host record).
  let linux = false;

  const addFinding = (f: Omit<Finding, 'id' | 'host'>) => findings.push({ ...f, id: '', host });
  const ruleInfo = (r: CompiledRule): Finding['rule'] => ({
    id: r.def.id,
    title: r.def.title,
    level: r.def.level,
    tags: r.def.tags,
    description: r.def.description.trim(),
    source: r.sigma ? 'sigma' : 'rule',
    file: r.file,
    // A community rule's attribution travels with its findings (SigmaHQ: Detection Rule License).
    ...(r.sigma ? { author: r.def.author ?? null, references: r.def.references, falsepositives: r.def.falsepositives, license: r.sigma.license } : {}),
  });

  const evaluate = (ref: RecordRef) => {
    counts[ref.kind] = (counts[ref.kind] ?? 0) + 1;
    const before = findings.length;
    const facts = linux ? undefined : deriveFacts(ref.kind, ref.record);
    if (facts) ref.record.facts = facts;
    index.forEach(ref.kind, ref.record, ({ rule, match, bind }) => {
      if (rule.os && rule.os !== (linux ? 'linux' : 'windows')) return;
      if (!match(ref.record)) return;
      const allowed = allowlists.length ? allowedBy(allowlists, rule.def.id, ref.record) : undefined;
      if (allowed) {
        suppressed.push({ rule: rule.def.id, allowlist: allowed.list, entry: allowed.entry, location: { file: ref.file, line: ref.line } });
        return;
      }
      for (const c of rule.feeds ?? []) {
        const corr = c.sigmaCorrelation!;
        const list = sigmaMatches.get(c) ?? [];
        sigmaMatches.set(c, list);
        list.push({ rule: corr.rules.indexOf(rule), kind: ref.kind, time: recordTime(ref.record), ...matchKey(corr, bind, ref.record), record: ref.record, file: ref.file, line: ref.line });
      }
      if (rule.hidden) return;
      const c = rule.def.correlation;
      if (!c) {
        addFinding({ rule: ruleInfo(rule), kind: ref.kind, record: ref.record, location: { file: ref.file, line: ref.line } });
        return;
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
    });
    if (opts.intel) {
      for (const m of opts.intel.match(ref.record)) {
        const { what, level, listed } = iocFindingInfo(m);
        addFinding({
          rule: {
            id: `ioc-${m.ioc.type}`,
            title: `${what} on the IOC list: ${m.value}`,
            level,
            tags: ['ioc'],
            description: `The ${m.field} of this ${ref.kind} record is listed as ${listed}. Treat the host as compromised: isolate it, collect memory before rebooting, and look for the same indicator on other hosts.`,
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
  linux = hostRef?.record.os === 'linux';
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
  // The rules that flagged each process: its connections carry them (processFlaggedBy), so a rule
  // can ask for the connections of a masquerading or fileless process.
  const flaggedBy = new Map<Rec, string[]>();
  for (const f of findings) if (f.kind === 'process') flaggedBy.set(f.record, [...new Set([...(flaggedBy.get(f.record) ?? []), f.rule.id])]);

  // Pass 2: everything else, streamed.
  const rest: RecordKind[] = ['connection', 'autorun', 'detection', 'dump', 'file', 'event', 'capture'];
  const owners = new ConnectionIndex();
  for await (const ref of readRecords(dir, manifest, rest, (p) => problems.push(p))) {
    if (ref.kind === 'connection') owners.add(ref.record);
    if (ref.kind === 'connection' && typeof ref.record.pid === 'number') {
      const p = byPid.get(ref.record.pid)?.record;
      if (p) Object.assign(ref.record, { processPath: p.path ?? null, processCommandLine: p.commandLine ?? null, processName: ref.record.processName ?? p.name }, flaggedBy.has(p) ? { processFlaggedBy: flaggedBy.get(p) } : {});
    }
    evaluate(ref);
  }
  // Pass 3: what the captures hold, read by tshark on this machine (never on the host).
  await triageCaptures(dir, manifest, owners, opts.derivedDir, evaluate, (p) => problems.push(p));

  for (const [rule, matches] of sigmaMatches) {
    const c = rule.sigmaCorrelation!;
    for (const g of judge(c, matches)) {
      const first = g.window[0];
      const what = c.type === 'value_count' ? `${g.distinct} distinct ${c.condition.field}` : c.type === 'event_count' ? `${g.count} matches` : `${c.rules.length} rules in order`;
      addFinding({
        rule: { ...ruleInfo(rule), title: `${rule.def.title} (${what})` },
        kind: first.kind as RecordKind,
        record: first.record,
        location: { file: first.file, line: first.line },
        group: { by: g.by, count: g.count, distinct: g.distinct, values: [...new Set(g.window.map((m) => m.value).filter((v) => v !== null))].slice(0, 50), locations: g.window.slice(0, MAX_LOCATIONS).map((m) => ({ file: m.file, line: m.line })) },
      });
    }
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
  return { host, manifest, findings, problems, counts, processes, hostRecord: hostRef?.record, suppressed };
}

/** Most severe first; ids F0001… follow that order. */
export function sortFindings(findings: Finding[]): void {
  findings.sort((a, b) => levelRank(b.rule.level) - levelRank(a.rule.level) || a.rule.id.localeCompare(b.rule.id) || a.location.file.localeCompare(b.location.file) || a.location.line - b.location.line);
  findings.forEach((f, i) => (f.id = `F${String(i + 1).padStart(4, '0')}`));
  // A finding on a connection points at the findings on its process (same host and pid), by the
  // ids just given: the pool connection leads to the masquerading process that opened it.
  const byProcess = new Map<string, Finding[]>();
  const key = (f: Finding) => `${f.host}\u0000${f.record.pid}`;
  for (const f of findings) if (f.kind === 'process' && typeof f.record.pid === 'number') byProcess.set(key(f), [...(byProcess.get(key(f)) ?? []), f]);
  for (const f of findings) {
    if (f.kind !== 'connection') continue;
    const related = typeof f.record.pid === 'number' ? byProcess.get(key(f)) : undefined;
    if (related) f.relatedTo = related.map((r) => ({ id: r.id, title: r.rule.title, level: r.rule.level }));
    else delete f.relatedTo;
  }
}

const TIME_FIELDS: Partial<Record<RecordKind, [string, string][]>> = {
  host: [['bootTime', 'System Boot']],
  process: [['startTime', 'Process Start']],
  connection: [['createdTime', 'Connection Created']],
  autorun: [['time', 'Autorun Entry Last Written']],
  detection: [['time', 'Defender Event']],
  capture: [['startTime', 'Capture Started']],
  flow: [['firstSeen', 'Flow First Seen']],
  dns: [['time', 'DNS Query']],
  beacon: [['firstSeen', 'Beacon First Seen']],
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
    case 'flow':
      return `${r.protocol} ${r.src}:${r.srcPort} → ${r.dst}:${r.dstPort} ${r.packets} packets ${r.bytes} bytes${r.sni ? ` SNI ${r.sni}` : ''}${r.httpHost ? ` Host ${r.httpHost}` : ''} (frames ${r.firstFrame}-${r.lastFrame} of ${r.capture})`;
    case 'dns':
      return `DNS ${r.type ?? ''} ${r.query} → ${r.rcode ?? 'no answer'} ${((r.answers as string[]) ?? []).join(', ')} (frame ${r.firstFrame} of ${r.capture})`.replace(/\s+/g, ' ');
    case 'beacon':
      return `${r.connections} ${r.protocol} connections ${r.src} → ${r.dst}:${r.dstPort} every ${r.intervalSeconds} s (jitter ${r.jitterSeconds} s, score ${r.beaconScore})`;
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

// ---------------------------------------------------------------------------------------------
// Facts: what the engine derives from a Windows process or autostart record before the rules
// see it, under `facts.*` (documented in playbooks/rules/README.md). Rules weigh these together
// (a valid signature from a known publisher, the folder class, the name) instead of firing on
// one attribute.

/** Publishers whose valid signature counts as "known" (signer CN, or autorunsc's signer text). */
export const KNOWN_PUBLISHERS = [
  'Microsoft Windows', 'Microsoft Windows Publisher', 'Microsoft Corporation', 'Microsoft Windows Hardware Compatibility Publisher', 'Microsoft Windows Third Party Component',
  'VMware, Inc.', 'Broadcom Inc', 'McAfee, Inc.', 'McAfee, LLC', 'Musarubra US LLC', 'Trellix', 'HP Inc.', 'Hewlett-Packard Company', 'Hewlett Packard Enterprise Company', 'HP Enterprise',
  'Intel Corporation', 'Intel(R) Software Development Products', 'Google LLC', 'Google Inc', 'Adobe Inc.', 'Adobe Systems, Incorporated', 'Dell Inc', 'Dell Technologies Inc.', 'Citrix Systems, Inc.',
  'Oracle America, Inc.', 'Mozilla Corporation', 'NVIDIA Corporation', 'Realtek Semiconductor Corp.', 'Cisco Systems, Inc.', 'Veeam Software Group GmbH', 'Zoom Video Communications, Inc.',
].map((p) => p.toLowerCase());
const KNOWN_PUBLISHER_SET = new Set(KNOWN_PUBLISHERS);

const SYSTEM_DIRS = ['system32', 'syswow64', 'sysnative', 'winsxs', 'servicing', 'microsoft.net', 'systemapps', 'immersivecontrolpanel', 'shellexperiences', 'shellcomponents'];
/** Folders that exist directly under C:\Windows on Windows 10/11 and Server 2012–2025 (and of common roles and agents). */
const WINDOWS_DIRS = new Set([
  ...SYSTEM_DIRS, 'addins', 'adam', 'appcompat', 'apppatch', 'appreadiness', 'assembly', 'bcastdvr', 'bitlockerdiscoveryvolumecontents', 'boot', 'branding', 'cbstemp', 'ccm', 'ccmcache', 'ccmsetup',
  'cluster', 'containers', 'csc', 'cursors', 'debug', 'diagnostics', 'diagtrack', 'digitallocker', 'downloaded program files', 'downloaded installations', 'ehome', 'elambkup', 'en-us', 'fonts',
  'globalization', 'help', 'ime', 'inf', 'inputmethod', 'installer', 'l2schemas', 'lastgood', 'livekernelreports', 'logs', 'media', 'migration', 'minidump', 'modemlogs', 'ntds', 'ocr',
  'offline web pages', 'panther', 'pchealth', 'performance', 'pla', 'policydefinitions', 'prefetch', 'printdialog', 'provisioning', 'registration', 'remotepackages', 'rescache',
  'resources', 'sysvol', 'schcache', 'schemas', 'security', 'serviceprofiles', 'servicestate', 'setup', 'skb', 'softwaredistribution', 'speech', 'speech_onecore', 'system', 'systemresources',
  'system32', 'tapi', 'tasks', 'temp', 'tracing', 'twain_32', 'vss', 'waas', 'web', 'wbem', 'wid', 'windowsupdate', 'winstore', 'servicing', 'usoshared', 'rtkbtmanserv', 'dtcinstall',
]);
const SYSTEM_LOOKALIKE_DIRS = ['system32', 'syswow64', 'sysnative', 'system'];
/** The names of System32 and its siblings, which fake folders imitate letter for letter. */
const SYSTEM32_NAMES = SYSTEM_LOOKALIKE_DIRS.slice(0, 3);

/** Processes and programs whose names malware imitates (file names without .exe). */
const IMITATED = ['svchost', 'lsass', 'csrss', 'smss', 'services', 'wininit', 'winlogon', 'explorer', 'spoolsv', 'taskhostw', 'conhost', 'dllhost', 'rundll32', 'userinit', 'iexplore', 'ctfmon', 'lsaiso', 'msmpeng', 'searchindexer', 'wuauclt', 'taskmgr', 'regsvr32'];
/** Real Windows programs one letter away from an imitated name. */
const REAL_NEIGHBOURS = new Set([...IMITATED, 'taskhost', 'taskhostex', 'dllhst3g', 'spoolss', 'sihost', 'dashost', 'lsass', 'svchost', 'wuaucltcore', 'explorer', 'service', 'userinit', 'iexplorer']);
REAL_NEIGHBOURS.delete('service');
REAL_NEIGHBOURS.delete('iexplorer');
const LOOKALIKE_LIST = /^(scvhost|svch0st|svhost|svchots|svchosts|svchost32|svchost64|scvh0st|lsasss|lsas|lssas|isass|1sass|lsass32|csrs|cssrs|csrsss|crss|smsss|sms|servces|servicess|service|wininit32|winlogin|winlog0n|wlnlogon|explorer32|expl0rer|explore|exploer|iexplorer|taskhost32|taskhosts)$/;

/** Commands cmd.exe runs itself: as a task's "program" they are not a missing file. */
const CMD_BUILTINS = new Set(['assoc', 'break', 'call', 'cd', 'chdir', 'cls', 'color', 'copy', 'date', 'del', 'dir', 'echo', 'endlocal', 'erase', 'exit', 'for', 'ftype', 'goto', 'if', 'md', 'mkdir', 'mklink', 'move', 'path', 'pause', 'popd', 'prompt', 'pushd', 'rd', 'rem', 'ren', 'rename', 'rmdir', 'set', 'setlocal', 'shift', 'start', 'time', 'title', 'type', 'ver', 'verify', 'vol']);
/** Programs that run other code named on their command line. */
const LAUNCHERS = new Set(['cmd', 'wscript', 'cscript', 'mshta', 'powershell', 'pwsh', 'rundll32', 'regsvr32', 'msiexec', 'conhost', 'forfiles', 'schtasks', 'bitsadmin', 'certutil', 'installutil', 'regasm', 'msbuild']);
const SCRIPT_EXT = /\.(bat|cmd|vbs|vbe|js|jse|wsf|wsh|hta|ps1|psm1|sct|scr|pif|lnk)$/i;

export type FolderClass = 'system' | 'windows' | 'windows-root' | 'fake-system' | 'program-files' | 'user-writable' | 'other' | 'unresolved';

/** Environment variables at the start of a Windows path, and the folders they stand for. */
const PATH_VARS: [RegExp, string][] = [
  [/^%(windir|systemroot)%/, 'c:\\windows'],
  [/^%programfiles\(x86\)%/, 'c:\\program files (x86)'],
  [/^%(programfiles|programw6432)%/, 'c:\\program files'],
  [/^%commonprogramfiles%/, 'c:\\program files\\common files'],
  [/^%commonprogramfiles\(x86\)%/, 'c:\\program files (x86)\\common files'],
  [/^%(programdata|allusersprofile)%/, 'c:\\programdata'],
  [/^%systemdrive%/, 'c:'],
];

/** A Windows path made comparable: lower case, backslashes, environment variables and \??\ prefixes resolved. */
export function normalizeWindowsPath(p: string): string {
  let s = p.trim().replace(/^"|"$/g, '').replace(/\//g, '\\').toLowerCase();
  s = s.replace(/^\\\\\?\\|^\\\?\?\\/, '');
  s = s.replace(/^\\systemroot\\/, 'c:\\windows\\').replace(/^system32\\/, 'c:\\windows\\system32\\');
  for (const [re, to] of PATH_VARS) s = s.replace(re, to);
  return s;
}

/** The class of the folder a Windows path is in. */
export function folderClass(path: string): FolderClass {
  const s = normalizeWindowsPath(path);
  if (/^%(localappdata|appdata|temp|tmp|userprofile|public|onedrive)%/.test(s)) return 'user-writable';
  if (s.startsWith('%')) return 'unresolved';
  const parts = s.split('\\');
  if (!/^[a-z]:$/.test(parts[0]) || parts.length < 2) return 'other';
  const dirs = parts.slice(1, -1);
  // A System32 look-alike anywhere, or a real system folder name outside C:\Windows.
  const winRoot = dirs[0] === 'windows' || dirs[0] === 'winnt';
  for (let i = 0; i < dirs.length; i++) {
    const d = dirs[i];
    const real = SYSTEM_LOOKALIKE_DIRS.includes(d);
    if (real && !(winRoot && i === 1)) {
      if (d !== 'system' || !winRoot) return 'fake-system';
    }
    if (!real && d.length >= 6 && nearSystem32(d)) return 'fake-system';
  }
  if (s.includes('\\$recycle.bin\\') || s.includes('\\appdata\\')) return 'user-writable';
  if (dirs[0] === 'users' || dirs[0] === 'documents and settings' || dirs[0] === 'perflogs' || dirs[0] === '$recycle.bin') return 'user-writable';
  if (dirs[0] === 'programdata') return dirs[1] === 'microsoft' && dirs[2] === 'windows defender' ? 'program-files' : 'user-writable';
  if (winRoot) {
    if (dirs.length === 1) return 'windows-root';
    const sub = dirs[1];
    if (['temp', 'tasks', 'tracing', 'debug'].includes(sub)) return 'user-writable';
    if (SYSTEM_DIRS.includes(sub)) {
      if (sub === 'system32' && ['tasks', 'spool\\drivers\\color'].includes(dirs.slice(2).join('\\'))) return 'user-writable';
      return 'system';
    }
    return WINDOWS_DIRS.has(sub) ? 'windows' : 'fake-system';
  }
  if (/^program files( \(x86\))?$|^progra~[12]$/.test(dirs[0])) return 'program-files';
  if (dirs[0] === 'temp' || dirs[0] === 'tmp') return 'user-writable';
  return 'other';
}

/** Damerau–Levenshtein distance (optimal string alignment). */
export function editDistance(a: string, b: string): number {
  // Three rows of the table (the transposition looks two rows back), not the whole table: this
  // runs several times for every process and autostart.
  let prev2: number[] = [];
  let prev: number[] = Array.from({ length: b.length + 1 }, (_, j) => j);
  for (let i = 1; i <= a.length; i++) {
    const row: number[] = [i];
    for (let j = 1; j <= b.length; j++) {
      const cost = a[i - 1] === b[j - 1] ? 0 : 1;
      let d = Math.min(prev[j] + 1, row[j - 1] + 1, prev[j - 1] + cost);
      if (i > 1 && j > 1 && a[i - 1] === b[j - 2] && a[i - 2] === b[j - 1]) d = Math.min(d, prev2[j - 2] + 1);
      row.push(d);
    }
    prev2 = prev;
    prev = row;
  }
  return prev[b.length];
}

/** A folder name two letters or fewer away from System32, SysWOW64 or Sysnative (lengths rule most out). */
const nearSystem32 = remembered((d) => SYSTEM32_NAMES.some((x) => Math.abs(d.length - x.length) <= 2 && editDistance(d, x) <= 2));

const stem = (file: string) => file.toLowerCase().replace(/\.(exe|com|scr|dll|sys|bat|cmd)$/, '');
const baseName = (p: string) => normalizeWindowsPath(p).split('\\').pop() ?? '';

/** The name imitates a Windows system program (scvhost, svch0st, lsasss) without being one. */
export function isLookalikeName(file: string): boolean {
  const s = stem(file);
  if (!s || REAL_NEIGHBOURS.has(s)) return false;
  if (LOOKALIKE_LIST.test(s)) return true;
  const unleet = s.replace(/0/g, 'o').replace(/1/g, 'l').replace(/3/g, 'e').replace(/5/g, 's');
  const dotless = unleet.replace(/l/g, 'i');
  for (const name of IMITATED) {
    if (unleet === name || unleet === name + '32' || unleet === name + '64' || dotless === name) return true;
    if (name.length >= 5 && s.length >= 5 && Math.abs(s.length - name.length) <= 1 && editDistance(s, name) === 1) return true;
  }
  return false;
}

// Pieces of words seen in Windows, driver and vendor service and program names. A name made of
// these (and short leftovers) is not random, whatever its case.
const MORPHEMES = `
access account acpi action activation active adapter add addin admin adobe agent alert alg all analytics app appid appinfo application apps arm array assist assoc audio audiosrv auth authentication
auto autoconfig autotimesvc autoupdate avc backup base bdesvc bfe bio bits block bluetooth bonjour boot broker browser bth cache call camera capture card cdp cert certprop
cert check chrome cis cisse client clip clock cloud cluster com common config connect connected console consent container control core cpu credential crypt crypto cscservice
data dcom dcs defrag delivery deploy des desktop detect dev device devices diag diagnostic dial direct disk display dmw dns doc dot dps driver drive dsm dsvc dusm dhcp
edge eap efs elevation embedded emc engine enhanced enterprise enum error esrv event events exchange experience explorer ext fax fdp fdres file filter fire firewall flow font fontcache
frame framework gateway gfx google gp gpsvc graphics group guest handler health hello helper hid host hosts hp hpe hpq hpsi hub hyper hypervisor iis ike ikeext image index info infra
input insight install installer integration intel interface ipsec iscsi iphlp jhi kdc key keyiso kpssvc ktm kvp lan lanman launch launcher lfsvc license licensing link lld local location log
logon lm lsm maintenance manager map maps mcafee mcx media message messaging mfe mfefire mfemms mfevtp mgmt mgr microsoft mixed mobile model monitor mp mps msdtc msi msiscsi ms msmq net
netlogon netman netprofm netsetup network nla notification nsi ntds ntfrs office offline one onedrive online orchestrator pack package pager panel passport pca peer perf perfhost phone pim
platform plug pnp policy power print printer printworkflow profile program protect protection provider proxy push qwave radio ras rdp reader ready recovery redirector registry remote
report reporting resolver retail rmsvc route routing rpc rsop run runtime scan scard schedule scheduler scpolicy sdrsvc search sec seclogon secure security sens sensor server serv service
services session setup share shared shell shellhw smart smartcard smp sms snmp software spectrum spooler spot sql ssdp ssh sstp state storage store storsvc support svc svr srv srvc swprv sync
sys sysmain system tablet tapi task telemetry term terminal themes threat tiering tile time token tools touch trace tracker transfer trap trk trusted trust tzautoupdate ualsvc ui umrdp uni unistore
update updater upnp usb user users uso vault vds vga vgauth video virtual vm vmic vmtools vmware vmvss vss vpn wallet wam wbio wcm wcs wdi wdnis web wecsvc wep wer wia wifi win windows winhttp
winmgmt winrm wks wlan wlid wmi wmiap wpd wpn work workflow workstation wsc wsearch wua wuau xbox xbl xbox zoom elam edp aad aar ngc gip iot sgrm sppsvc spp sms smphost vm3d vmtoolsd ams cpq
masvc macmn macmnsvc mfewc mfevtps mfeesp mfetp mfeens ens hpwmi wmiex smh cissesrv tcp ip tcpip netbt ncb ncd nca wlms ssdp scp lxss rasman rasauto sstp lfs mrxsmb clipsvc appx edgeupdate
gupdate gupdatem end point endpoint build builder start smh ax inst warp jit wfds con chromeelevation cpl wercpl natural authentication arm ntlm kerberos lsa sam samss dfs dfsr dnscache dhcpserver ldap ad adws certsvc dsrm w32 w32time tzsync xblauth smsrouter
`.split(/\s+/).filter((w) => w.length >= 2);
const DICT = new Set(MORPHEMES);
const MAX_MORPHEME = Math.max(...MORPHEMES.map((m) => m.length));

/** The stretches of a token that no known word piece explains, for the segmentation that explains most. */
function unexplained(token: string): string[] {
  type Best = { covered: number; left: string[]; gap: boolean };
  const best: Best[] = [{ covered: 0, left: [], gap: false }];
  for (let i = 1; i <= token.length; i++) {
    const prev = best[i - 1];
    const left = prev.gap ? [...prev.left.slice(0, -1), prev.left[prev.left.length - 1] + token[i - 1]] : [...prev.left, token[i - 1]];
    let cand: Best = { covered: prev.covered, left, gap: true };
    for (let k = 2; k <= Math.min(MAX_MORPHEME, i); k++) {
      if (!DICT.has(token.slice(i - k, i))) continue;
      const b = best[i - k];
      if (b.covered + k > cand.covered) cand = { covered: b.covered + k, left: b.left, gap: false };
    }
    best.push(cand);
  }
  return best[token.length].left;
}

/** Judges a name by itself, not its case: random-looking when a long stretch no word piece explains is unpronounceable. */
export function looksRandom(name: string): boolean {
  let s = name.toLowerCase().replace(/\.(exe|dll|sys|com|scr)$/, '');
  s = s.replace(/\{?[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}\}?/g, ' ').replace(/s-1-5-[\d-]+/g, ' ');
  s = s.replace(/_[0-9a-f]{4,8}$/, ''); // per-user service instance suffix (CDPUserSvc_4f1c2)
  for (const token of s.split(/[^a-z0-9]+/)) {
    if (/^[0-9a-f]{16,}$/.test(token) && /\d/.test(token) && /[a-f]/.test(token)) return true; // a hex blob
    const letters = token.replace(/\d+/g, '');
    const gaps = unexplained(letters);
    if (gaps.some((gap) => gap.length >= 6 && gibberish(gap))) return true;
    // Short word pieces found by chance (tb·vm·qkwe) explain little of a random name.
    const left = gaps.join('');
    if (left.length >= 5 && left.length / letters.length > 0.6 && gibberish(left)) return true;
    // Letters and digits mixed at random (x7k2p9q4).
    if (token.length >= 8 && (token.match(/\d/g) ?? []).length >= 3 && /[a-z]\d+[a-z]+\d/.test(token) && !/^[a-z]+\d+$/.test(token)) return true;
  }
  return false;
}

export function gibberish(s: string): boolean {
  const vowels = (s.match(/[aeiou]/g) ?? []).length;
  const runs = s.match(/[^aeiou]+/g) ?? [];
  const longestRun = Math.max(0, ...runs.map((r) => r.length));
  const letters = new Set(s).size;
  const entropy = [...new Set(s)].reduce((e, c) => {
    const p = s.split(c).length - 1;
    return e - (p / s.length) * Math.log2(p / s.length);
  }, 0);
  const rare = (s.match(/[jqxzvwk]/g) ?? []).length;
  return vowels / s.length < 0.25 || longestRun >= 4 || (entropy >= Math.log2(s.length) - 0.2 && letters >= 7 && rare >= 2);
}

const PATH_IN_TEXT = /(?:[a-z]:\\|%[a-z_()0-9]+%\\|\\systemroot\\)[^"<>|*?\r\n]*?\.(?:exe|com|dll|cpl|ocx|scr|bat|cmd|vbs|vbe|js|jse|wsf|wsh|hta|ps1|psm1|sct|pif|lnk|jar|msi)\b/gi;

export interface Facts {
  /** Folder class of the image: system, windows, windows-root, fake-system, program-files, user-writable, other, unresolved. */
  folder: FolderClass | null;
  /** The image and the files a launcher (cmd, wscript, rundll32, …) in front of it runs. */
  targets: string[];
  userWritable: boolean;
  fakeSystemFolder: boolean;
  windowsRoot: boolean;
  /** Image under System32/SysWOW64, another real Windows folder, or Program Files. */
  usualFolder: boolean;
  lookalikeName: boolean;
  randomName: boolean;
  publisher: string | null;
  /** A valid signature from a publisher on the known list. */
  knownPublisher: boolean;
  cmdBuiltin: boolean;
  /** A program named without a folder, found through PATH (sc.exe, cmd.exe). */
  bareImage: boolean;
  unresolvedImage: boolean;
  imageMissing: boolean;
  /** The image is missing from Program Files: an uninstalled product left its entry. */
  staleVendor: boolean;
  scriptLauncher: boolean;
  /** Every script file the entry names is in System32 or Program Files (Windows' own calluxxprovider.vbs). */
  scriptsInSystemFolders: boolean;
}

/** The signer's CN (collection gives the certificate subject, autorunsc the name). */
export function publisherOf(signer: unknown): string | null {
  if (typeof signer !== 'string' || !signer.trim()) return null;
  const cn = /(?:^|,\s*)CN=("([^"]*)"|[^,]*)/i.exec(signer);
  return (cn ? (cn[2] ?? cn[1]) : signer).trim() || null;
}

const trimmed = (v: unknown) => (typeof v === 'string' && v.trim() ? v.trim() : null);

/**
 * A check of a name, remembered: a host runs the same few hundred programs from the same folders
 * over and over, and the look-alike, random-name and near-System32 checks cost microseconds each.
 * Bounded, so that a million random names cannot grow it without end.
 */
function remembered(check: (name: string) => boolean, max = 10_000): (name: string) => boolean {
  const known = new Map<string, boolean>();
  return (name) => {
    let v = known.get(name);
    if (v === undefined) {
      if (known.size >= max) known.clear();
      known.set(name, (v = check(name)));
    }
    return v;
  };
}
const lookalikeFileName = remembered(isLookalikeName);
const randomFileName = remembered(looksRandom);

/** Facts for a Windows process or autostart record; undefined for other kinds and Linux records. */
export function deriveFacts(kind: RecordKind, r: Rec): Facts | undefined {
  let image: string | null;
  let text: string | null;
  let name: string;
  if (kind === 'process') {
    image = trimmed(r.path);
    text = trimmed(r.commandLine);
    name = trimmed(r.name) ?? '';
  } else if (kind === 'autorun') {
    image = trimmed(r.imagePath);
    text = trimmed(r.launchString);
    const entry = trimmed(r.entry) ?? '';
    name = entry.split('\\').pop() ?? entry;
  } else return undefined;
  if ((image ?? text ?? '').startsWith('/')) return undefined; // Linux
  const notFound = image !== null && /^file not found:\s*/i.test(image);
  if (notFound) image = image!.replace(/^file not found:\s*/i, '');
  const imageName = image ? stem(baseName(image)) : '';
  const bareImage = image !== null && !/[\\/]/.test(image) && !image.startsWith('%');
  const cmdBuiltin = bareImage && CMD_BUILTINS.has(image!.toLowerCase());
  const unresolvedImage = image !== null && normalizeWindowsPath(image).startsWith('%');
  const targets = image && !cmdBuiltin ? [image] : [];
  if (text && (bareImage || LAUNCHERS.has(imageName) || !image)) {
    const seen = new Set(targets.map(normalizeWindowsPath));
    for (const [t] of text.matchAll(PATH_IN_TEXT)) {
      const n = normalizeWindowsPath(t);
      if (!seen.has(n)) targets.push(t), seen.add(n);
    }
  }
  // Each target's folder class, computed once (the image, when it has a folder, is the first).
  const inFolders = targets.filter((t) => t.includes('\\'));
  const classes = inFolders.map(folderClass);
  const folder = image && !bareImage ? (inFolders[0] === image ? classes[0] : folderClass(image)) : null;
  const scriptClasses = classes.filter((_, i) => SCRIPT_EXT.test(inFolders[i]));
  // The entry's own name and the file names of its targets, each once (the checks ignore case).
  const fileNames = [...new Set([name, ...targets.map(baseName)].map((n) => n.toLowerCase()))].filter(Boolean);
  const publisher = publisherOf(r.signer);
  const imageMissing = (notFound || r.imageExists === false) && !bareImage && !cmdBuiltin && !unresolvedImage;
  return {
    folder,
    targets,
    userWritable: classes.includes('user-writable'),
    fakeSystemFolder: classes.includes('fake-system'),
    windowsRoot: folder === 'windows-root',
    usualFolder: folder === 'system' || folder === 'windows' || folder === 'program-files',
    lookalikeName: fileNames.some(lookalikeFileName),
    randomName: fileNames.some(randomFileName),
    publisher,
    knownPublisher: r.signed === true && publisher !== null && KNOWN_PUBLISHER_SET.has(publisher.toLowerCase()),
    cmdBuiltin,
    bareImage,
    unresolvedImage,
    imageMissing,
    staleVendor: imageMissing && folder === 'program-files',
    scriptsInSystemFolders: scriptClasses.length > 0 && scriptClasses.every((c) => c === 'system' || c === 'program-files'),
    scriptLauncher: ['wscript', 'cscript', 'mshta', 'powershell', 'pwsh'].includes(imageName) || targets.some((t) => SCRIPT_EXT.test(t)),
  };
}
