// What to act on first: findings named by the thing they are about (entry, process, path,
// address), identical findings (same rule, same thing) grouped, and the groups ordered by level,
// then corroboration — other rules flagging the same image, an IOC hit or a VirusTotal verdict on it.
import type { Finding } from './engine.ts';
import { levelRank } from './engine.ts';
import type { Level } from './rule-def.ts';

/** The thing a finding is about, as a responder would name it. */
export interface Subject {
  /** Short name: the entry, process name, remote address, threat or path. */
  name: string;
  /** Where it lives: the image path, registry location, or detail (may be empty). */
  detail: string;
  /** Identity for grouping (case-insensitive). */
  key: string;
}

export interface FindingGroup {
  /** Same rule, same thing: in finding order (ids F0001…). */
  findings: Finding[];
  first: Finding;
  level: Level;
  subject: Subject;
  /** Other rules (by title) that flagged the same image or thing. */
  alsoFlaggedBy: string[];
  ioc: boolean;
  virustotal: boolean;
  /** Corroboration score: distinct other rules + IOC hit + VirusTotal verdict. */
  corroboration: number;
}

const str = (v: unknown): string => (typeof v === 'string' ? v.trim() : typeof v === 'number' ? String(v) : '');
const baseName = (p: string) => p.split(/[\\/]/).filter(Boolean).pop() ?? p;
/** Paths compare case-insensitively with one kind of slash, without quotes or a file-not-found prefix. */
const normPath = (p: string) => p.replace(/^file not found:\s*/i, '').replace(/^"|"$/g, '').replace(/\//g, '\\').toLowerCase();

export function subjectOf(f: Finding): Subject {
  const r = f.record;
  const withKey = (name: string, detail: string, key: string): Subject => ({ name: name || f.kind, detail, key: `${f.kind}:${key.toLowerCase()}` });
  switch (f.kind) {
    case 'process': {
      const path = str(r.path);
      const name = str(r.name) || baseName(path) || `pid ${str(r.pid)}`;
      return withKey(name, path || str(r.commandLine), path || name);
    }
    case 'autorun': {
      const entry = str(r.entry) || baseName(str(r.imagePath)) || str(r.launchString);
      // A launcher (cmd.exe /c …) says less than the line it runs.
      const image = str(r.imagePath) && /[\\/]/.test(str(r.imagePath)) ? str(r.imagePath) : str(r.launchString) || str(r.imagePath);
      const where = str(r.location);
      return withKey(entry, [image, where].filter(Boolean).join(' · '), `${where}|${entry}|${image}`);
    }
    case 'connection': {
      const remote = str(r.remoteAddress);
      const addr = remote ? `${remote}${r.remotePort !== undefined && r.remotePort !== null ? `:${str(r.remotePort)}` : ''}` : `${str(r.localAddress)}:${str(r.localPort)}`;
      const by = str(r.processName) || (r.pid !== undefined && r.pid !== null ? `pid ${str(r.pid)}` : '');
      return withKey(addr, by ? `${str(r.protocol)} by ${by}${r.processPath ? ` (${str(r.processPath)})` : ''}`.trim() : str(r.protocol), `${addr}|${by}`);
    }
    case 'detection': {
      const resources = Array.isArray(r.resources) ? r.resources.map(str).filter(Boolean) : [];
      const name = str(r.threatName) || str(r.detail) || str(r.type) || 'Defender';
      const detail = [resources.join(', '), str(r.exclusionType), str(r.source)].filter(Boolean).join(' · ');
      return withKey(name, detail, `${name}|${resources.join('|')}`);
    }
    case 'file': {
      const path = str(r.path);
      return withKey(baseName(path) || path, path, path);
    }
    case 'event': {
      // The program, service or account the event is about, else the event itself.
      const d = (r.data ?? {}) as Record<string, unknown>;
      const what = str(d.Image) || str(d.NewProcessName) || str(d.ServiceName) || str(d.TargetObject) || str(d.TargetFilename) || str(d.TargetUserName) || str(d.SubjectUserName);
      const event = `${str(r.channel)} ${str(r.eventId)}`.trim();
      const line = str(d.CommandLine) || str(d.ImagePath) || str(d.ScriptBlockText).slice(0, 200) || str(d.IpAddress);
      return withKey(baseName(what) || event, [event, str(r.time), line].filter(Boolean).join(' · '), `${event}|${what}`);
    }
    case 'text': {
      // ps-history: a user's command; net-context: a hosts entry, a cached name, a share.
      const name = str(r.user) || str(r.address) || str(r.name) || str(r.source);
      const detail = str(r.command).slice(0, 300) || (Array.isArray(r.names) ? r.names.map(str).join(' ') : '') || str(r.data) || str(r.path);
      const at = str(r.file) ? `${str(r.file)}:${str(r.line)}` : '';
      return withKey(name, [detail, at].filter(Boolean).join(' · '), `${str(r.source)}|${name}|${detail}`);
    }
    // From a capture: the far end or the name, and where in the capture to look (Wireshark: Go to packet).
    case 'flow':
    case 'beacon': {
      const to = `${str(r.dst)}:${str(r.dstPort)}`;
      const name = str(r.sni) || str(r.httpHost);
      const what = f.kind === 'beacon' ? `every ${str(r.intervalSeconds)} s, ${str(r.connections)} connections` : `${str(r.packets)} packets`;
      const by = str(r.processName) || (typeof r.pid === 'number' ? `pid ${r.pid}` : '');
      const detail = [`${str(r.protocol)} from ${str(r.src)}${name ? ` to ${name}` : ''}`, what, by, `frames ${str(r.firstFrame)}–${str(r.lastFrame)} of ${str(r.capture)}`].filter(Boolean).join(' · ');
      return withKey(to, detail, `${str(r.src)}|${to}`);
    }
    case 'dns': {
      const q = str(r.query);
      const answer = str(r.rcode) || 'no answer';
      const detail = [`${str(r.type)} from ${str(r.client)} to ${str(r.server)}`, answer, `frame ${str(r.firstFrame)} of ${str(r.capture)}`].filter(Boolean).join(' · ');
      return withKey(q, detail, `${str(r.client)}|${q}`);
    }
    case 'host': {
      const h = str(r.hostname);
      return withKey(h || 'host', [str(r.osName) || str(r.os), str(r.osVersion)].filter(Boolean).join(' '), h);
    }
    default: {
      const name = str(r.name) || str(r.path) || str(r.entry);
      return withKey(name, '', name || JSON.stringify(r).slice(0, 200));
    }
  }
}

/** The images and hashes a finding is about: what other findings corroborate. */
export function imagesOf(f: Finding): string[] {
  const r = f.record;
  const out = new Set<string>();
  const addPath = (v: unknown) => {
    const s = str(v);
    if (s && /[\\/]/.test(s)) out.add(`path:${normPath(s)}`);
  };
  for (const h of [r.sha256, r.sha1, r.md5]) if (str(h)) out.add(`hash:${str(h).toLowerCase()}`);
  if (f.kind === 'process' || f.kind === 'file') addPath(r.path);
  if (f.kind === 'autorun') {
    addPath(r.imagePath);
    const facts = r.facts as { targets?: unknown[] } | undefined;
    for (const t of facts?.targets ?? []) addPath(t);
  }
  if (f.kind === 'connection') addPath(r.processPath);
  if (f.kind === 'detection' && Array.isArray(r.resources)) for (const x of r.resources) addPath(x);
  return [...out];
}

/** Groups identical findings and orders the groups by what to act on first. */
export function prioritise(findings: Finding[]): FindingGroup[] {
  // Which findings touch each image or hash.
  const byImage = new Map<string, Finding[]>();
  const imagesByFinding = new Map<Finding, string[]>();
  for (const f of findings) {
    const imgs = imagesOf(f);
    imagesByFinding.set(f, imgs);
    for (const i of imgs) {
      const list = byImage.get(i);
      if (list) list.push(f);
      else byImage.set(i, [f]);
    }
  }
  const groups = new Map<string, FindingGroup>();
  for (const f of findings) {
    const subject = subjectOf(f);
    // An IOC finding is about the indicator that matched: one item per value and thing.
    const key = `${f.rule.id}\u0000${subject.key}\u0000${f.ioc ? f.ioc.value.toLowerCase() : ''}`;
    const g = groups.get(key);
    if (g) {
      g.findings.push(f);
      if (levelRank(f.rule.level) > levelRank(g.level)) g.level = f.rule.level;
    } else groups.set(key, { findings: [f], first: f, level: f.rule.level, subject, alsoFlaggedBy: [], ioc: false, virustotal: false, corroboration: 0 });
  }
  for (const g of groups.values()) {
    const others = new Map<string, Finding>();
    const self = new Set(g.findings);
    // The same record flagged by other rules, or the same image or hash anywhere.
    for (const f of findings) if (!self.has(f) && f.rule.id !== g.first.rule.id && g.findings.some((x) => x.record === f.record)) others.set(f.rule.id, f);
    for (const f of g.findings) {
      for (const i of imagesByFinding.get(f) ?? []) for (const o of byImage.get(i) ?? []) if (!self.has(o) && o.rule.id !== g.first.rule.id) others.set(o.rule.id, o);
    }
    const list = [...others.values()];
    g.ioc = g.first.rule.source === 'ioc' || list.some((o) => o.rule.source === 'ioc');
    g.virustotal = g.first.rule.source === 'virustotal' || list.some((o) => o.rule.source === 'virustotal');
    g.alsoFlaggedBy = [...new Set(list.map((o) => titleOf(o)))].sort();
    // Each other rule counts once; an IOC hit or VirusTotal verdict on it counts once more.
    g.corroboration = list.length + (list.some((o) => o.rule.source === 'ioc') ? 1 : 0) + (list.some((o) => o.rule.source === 'virustotal') ? 1 : 0);
  }
  const order = new Map(findings.map((f, i) => [f, i]));
  return [...groups.values()].sort(
    (a, b) => levelRank(b.level) - levelRank(a.level) || b.corroboration - a.corroboration || b.findings.length - a.findings.length || order.get(a.first)! - order.get(b.first)!,
  );
}

/** A rule's title without a correlation's count suffix. */
function titleOf(f: Finding): string {
  return f.rule.source === 'ioc' ? 'IOC list' : f.rule.source === 'virustotal' ? 'VirusTotal' : f.rule.title.replace(/ \(\d+ distinct [^)]*\)$/, '');
}
