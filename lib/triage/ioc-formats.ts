// IOC file formats: what each line or row of a threat-intelligence file says, before anything is
// loaded. Plain lists, LOKI/THOR lists (hash;comment, regex;score[;false-positive regex],
// ip-or-domain;comment), CSV with a header (MISP, OTX, abuse.ch Feodo Tracker, ThreatFox,
// MalwareBazaar, URLhaus — their header line is often a comment) or `type,value` without one,
// and MISP event JSON. Defanged values (hxxp, [.], [:], [at]) are refanged. A line that cannot be
// read is returned as skipped with its number and why; the caller decides whether that is fatal.
import ipaddr from 'ipaddr.js';
import type { Level } from './rule-def.ts';

export type IocType = 'hash' | 'ip' | 'domain' | 'url' | 'filename';

export interface IocEntry {
  line: number;
  type: IocType;
  /** Normalised: hashes lower case, addresses canonical, URLs refanged; a filename IOC's regex as written. */
  value: string;
  comment?: string;
  /** Filename IOCs: the level their score maps to. */
  level?: Level;
  score?: number;
  /** Filename IOCs: LOKI's third column, a regex that clears a match (false positive). */
  falsePositive?: string;
}

export interface SkippedLine {
  line: number;
  /** Short, shared by lines skipped for the same reason ("not a valid hash"). */
  why: string;
  /** The value as written (shortened). */
  text: string;
}

export interface ParsedIocFile {
  /** What the file was read as: "plain list", "LOKI/THOR hash list", "CSV (abuse.ch Feodo Tracker)"… */
  format: string;
  entries: IocEntry[];
  skipped: SkippedLine[];
  /** Rows of a type that matches nothing here (e-mail addresses, file names, CVEs…). */
  ignored: number;
  ignoredTypes: string[];
  /** Why the file cannot give any indicator at all (no known column, JSON without events). */
  unusable?: string;
  /** What `line` counts: lines of the file, or MISP attributes (JSON has no useful line numbers). */
  unit: 'line' | 'attribute';
}

export const HASH_RE = /^(?:[a-f0-9]{32}|[a-f0-9]{40}|[a-f0-9]{64})$/i;
const DOMAIN_RE = /^(?=.{1,253}$)(?:[a-z0-9_](?:[a-z0-9_-]{0,61}[a-z0-9])?\.)+[a-z][a-z0-9-]{0,62}$/;

/** Undoes the usual defanging: hxxp(s)://, fxp://, [.], (.), {.}, [dot], [:], [://], [at], (at), [@]. */
export function refang(raw: string): string {
  const v = raw.trim();
  if (!/[[({]|^(?:h(?:xx|\*\*|__)p|fxp)/i.test(v)) return v;
  return v
    .replace(/\[\s*\.\s*\]|\(\s*\.\s*\)|\{\s*\.\s*\}|\[dot\]|\(dot\)|\{dot\}/gi, '.')
    .replace(/\[:\/\/\]/g, '://')
    .replace(/\[\s*:\s*\]/g, ':')
    .replace(/\[at\]|\(at\)|\[@\]/gi, '@')
    .replace(/^h(?:xx|XX|\*\*|__)p(s?):\/\//i, 'http$1://')
    .replace(/^fxp:\/\//i, 'ftp://');
}

const OCTET = '(?:25[0-5]|2[0-4]\\d|1\\d\\d|[1-9]?\\d)';
const IPV4_RE = new RegExp(`^${OCTET}(?:\\.${OCTET}){3}$`);

/** A canonical address ("1.2.3.4", "2001:db8::1"), from "[::1]", "1.2.3.4:443", "[2001:db8::1]:443" or "fe80::1%eth0". */
export function normalizeIp(v: string, allowPort = false): string | undefined {
  let bare = v.trim();
  if (allowPort) {
    const v6 = /^\[([^\]]+)\](?::\d{1,5})?$/.exec(bare);
    if (v6) bare = v6[1];
    else if (/^\d{1,3}(?:\.\d{1,3}){3}:\d{1,5}$/.test(bare)) bare = bare.replace(/:\d+$/, '');
  }
  bare = bare.replace(/^\[|\]$/g, '').replace(/%.*$/, '');
  // Most addresses in a feed are plain dotted quads, already canonical: no need for ipaddr.js.
  if (IPV4_RE.test(bare)) return bare;
  if (!ipaddr.isValid(bare)) return undefined;
  // ipaddr.js accepts "10", "0x0a" and "1.2.3" as IPv4: an IOC list means dotted quads.
  if (!bare.includes(':') && !/^\d{1,3}(?:\.\d{1,3}){3}$/.test(bare)) return undefined;
  return ipaddr.process(bare).toString();
}

function normalizeCidr(v: string): string | undefined {
  const m = /^(.+)\/(\d{1,3})$/.exec(v.trim());
  if (!m) return undefined;
  const a = normalizeIp(m[1]);
  if (!a) return undefined;
  try {
    ipaddr.parseCIDR(`${a}/${m[2]}`);
    return `${a}/${m[2]}`;
  } catch {
    return undefined;
  }
}

export function normalizeDomain(v: string): string | undefined {
  const d = v.trim().toLowerCase().replace(/\.$/, '');
  return DOMAIN_RE.test(d) && !normalizeIp(d) ? d : undefined;
}

/** scheme://host[:port][/path…] with a host that is a domain or an address; refanged, trailing "/" of a bare host dropped. */
export function normalizeUrl(v: string): string | undefined {
  const m = /^([a-z][a-z0-9+.-]*):\/\/([^/?#\s]+)([^\s]*)$/i.exec(v.trim());
  if (!m) return undefined;
  const [, scheme, authority, rest] = m;
  const hostPort = authority.replace(/^[^@]*@/, '');
  const host = /^\[[^\]]+\]/.test(hostPort) ? hostPort.replace(/^\[([^\]]+)\].*$/, '$1') : hostPort.replace(/:\d{1,5}$/, '');
  if (!normalizeDomain(host) && !normalizeIp(host)) return undefined;
  return `${scheme.toLowerCase()}://${authority.toLowerCase()}${rest === '/' ? '' : rest}`;
}

/** Checks and normalises a value of a known type; undefined when it is not one. */
export function normalizeAs(type: Exclude<IocType, 'filename'>, raw: string): { type: IocType; value: string } | undefined {
  const v = refang(raw);
  if (!v) return undefined;
  if (type === 'hash') return HASH_RE.test(v) ? { type, value: v.toLowerCase() } : undefined;
  if (type === 'ip') {
    const a = v.includes('/') ? normalizeCidr(v) : normalizeIp(v, true);
    return a ? { type, value: a } : undefined;
  }
  if (type === 'url') {
    const u = normalizeUrl(v);
    return u ? { type, value: u } : undefined;
  }
  const d = normalizeDomain(v);
  return d ? { type, value: d } : undefined;
}

/** A value of unknown type: hash, address or range, URL, or domain. */
export function classify(raw: string): { type: IocType; value: string } | undefined {
  const v = refang(raw);
  if (HASH_RE.test(v)) return normalizeAs('hash', v);
  if (v.includes('://')) return normalizeAs('url', v);
  return normalizeAs('ip', v) ?? normalizeAs('domain', v);
}

/** LOKI's score thresholds: notice 40, warning 60, alert 100. */
export function scoreLevel(score: number): Level {
  if (score >= 100) return 'high';
  if (score >= 60) return 'medium';
  if (score >= 40) return 'low';
  return 'informational';
}

/**
 * A LOKI/THOR filename regex (Python syntax, case-sensitive unless it starts with "(?i)") as a
 * JavaScript RegExp; throws a SyntaxError when it does not compile.
 */
export function compileLokiRegex(src: string): RegExp {
  let s = src;
  let flags = '';
  const inline = /^\(\?([aiLmsux]+)\)/.exec(s);
  if (inline) {
    s = s.slice(inline[0].length);
    if (inline[1].includes('i')) flags += 'i';
    if (inline[1].includes('s')) flags += 's';
    if (inline[1].includes('m')) flags += 'm';
  }
  // Escapes are read in pairs, so the "\\A" of "\\AppData" stays a backslash and an A.
  s = s.replace(/\(\?P<(\w+)>/g, '(?<$1>').replace(/\(\?P=(\w+)\)/g, '\\k<$1>').replace(/\\(.)/g, (m, c: string) => (c === 'A' ? '^' : c === 'Z' ? '$' : m));
  return new RegExp(s, flags);
}

const NOT_AN_INDICATOR = 'not a hash, IP address, CIDR range, URL or domain';
const short = (s: string) => (s.length > 80 ? s.slice(0, 80) + '…' : s);

interface Line {
  n: number;
  text: string;
}

/** Non-blank lines with their numbers; comment lines ("#…", "//…", ";…") kept apart. */
function splitLines(text: string): { data: Line[]; comments: Line[] } {
  const data: Line[] = [];
  const comments: Line[] = [];
  text.split(/\r\n|\n|\r/).forEach((t, i) => {
    const s = t.trim();
    if (!s) return;
    (/^(#|\/\/)/.test(s) ? comments : data).push({ n: i + 1, text: s });
  });
  return { data, comments };
}

/** Reads an IOC file's text; `name` (the file's base name) decides THOR list types (c2, filename, hash). */
export function parseIocText(text: string, name: string): ParsedIocFile {
  const trimmed = text.trimStart();
  if (trimmed.startsWith('{') || trimmed.startsWith('[')) return parseMispJson(text);
  const { data, comments } = splitLines(text);
  const out: ParsedIocFile = { format: 'plain list', entries: [], skipped: [], ignored: 0, ignoredTypes: [], unit: 'line' };
  if (!data.length) {
    out.unusable = comments.length ? 'the file holds only comments' : 'the file is empty';
    return out;
  }
  const tag = thorTag(name);
  const lastComment = comments.filter((c) => c.n < data[0].n).pop();
  if (headerOf(data[0].text) || (lastComment && headerOf(lastComment.text.replace(/^#\s*/, '')))) return parseCsvLines(data, comments, out);
  if (tag || looksLikeSemicolonList(data)) return parseSemicolonList(data, tag, out);
  // Decided by most lines, not the first: a title line on top of a plain list has commas too.
  const sample = data.slice(0, 50);
  if (sample.filter((l) => l.text.includes(',')).length > sample.length / 2) return parseCsvLines(data, comments, out);
  return parsePlain(data, out);
}

/** THOR's file-name tags: "c2"/"domains", "filename(s)", "hash(es)" as a separate word of the name. */
function thorTag(name: string): 'c2' | 'filename' | 'hash' | undefined {
  const n = name.toLowerCase();
  const has = (w: string) => new RegExp(`(^|[^a-z0-9])(${w})([^a-z0-9]|$)`).test(n);
  if (has('filenames?')) return 'filename';
  if (has('c2|domains')) return 'c2';
  if (has('hash|hashes')) return 'hash';
  return undefined;
}

/** value;comment or regex;score lines, and no comma-separated header. */
function looksLikeSemicolonList(data: Line[]): boolean {
  const sample = data.slice(0, 50);
  const semi = sample.filter((l) => l.text.includes(';')).length;
  return semi > sample.length / 2 && !headerOf(data[0].text);
}

function parsePlain(data: Line[], out: ParsedIocFile): ParsedIocFile {
  let lines = data;
  // A one-column file with a column name on top ("sha256_hash", "url", "Indicator").
  if (headerOf(lines[0].text) || /^(indicators?|iocs?|values?|hashes|domains|urls|ips|addresses)$/i.test(lines[0].text)) lines = lines.slice(1);
  for (const { n, text } of lines) {
    // Trailing comments ("1.2.3.4 # C2"); a URL's #fragment has no space before it.
    const line = text.replace(/\s+#.*$/, '').trim();
    // sha256sum/md5sum output: "<hash>  <file name>".
    const sum = /^([a-f0-9]{32}|[a-f0-9]{40}|[a-f0-9]{64})\s+\*?\S/i.exec(line);
    const e = sum ? normalizeAs('hash', sum[1]) : classify(line);
    if (e) out.entries.push({ line: n, ...e });
    else out.skipped.push({ line: n, why: NOT_AN_INDICATOR, text: short(line) });
  }
  return out;
}

function parseSemicolonList(data: Line[], tag: 'c2' | 'filename' | 'hash' | undefined, out: ParsedIocFile): ParsedIocFile {
  const kinds = new Set<string>();
  for (const { n, text } of data) {
    const fields = text.split(';');
    const [value, second = '', third] = fields.map((f) => f.trim());
    const isScore = /^-?\d+$/.test(second);
    if (tag === 'filename' || (!tag && isScore && !classify(value))) {
      kinds.add('filename');
      if (!isScore) {
        out.skipped.push({ line: n, why: 'a filename IOC needs "regex;score" (the score a whole number)', text: short(text) });
        continue;
      }
      try {
        compileLokiRegex(value);
        if (third) compileLokiRegex(third);
      } catch (e) {
        out.skipped.push({ line: n, why: `not a valid regular expression (${(e as Error).message.replace(/^Invalid regular expression: /, '')})`, text: short(text) });
        continue;
      }
      const score = Number(second);
      out.entries.push({ line: n, type: 'filename', value, score, level: scoreLevel(score), falsePositive: third || undefined });
      continue;
    }
    const e = tag === 'hash' ? normalizeAs('hash', value) : classify(value);
    const why = tag === 'hash' ? 'not an MD5, SHA-1 or SHA-256 hash' : tag === 'c2' ? 'not an IP address, CIDR range, domain or URL' : NOT_AN_INDICATOR;
    if (!e || (tag === 'c2' && e.type === 'hash')) {
      out.skipped.push({ line: n, why, text: short(value) });
      continue;
    }
    kinds.add(e.type === 'hash' ? 'hash' : 'c2');
    out.entries.push({ line: n, ...e, comment: fields.slice(1).join(';').trim() || undefined });
  }
  const names: Record<string, string> = { hash: 'hash', c2: 'C2', filename: 'filename' };
  out.format = `LOKI/THOR ${[...kinds].map((k) => names[k]).join(' + ') || names[tag ?? 'hash']} list`;
  return out;
}

// --- CSV -----------------------------------------------------------------------------------

type ColumnPlan =
  | { kind: 'typed'; typeCol: number; valueCol: number; commentCol: number; feed: string }
  | { kind: 'columns'; cols: [number, Exclude<IocType, 'filename'>][]; commentCol: number; feed: string };

const TYPE_COL = /^(type|ioc_type|ioc type|indicator[ _]type|attribute_type|threat_type_ioc)$/;
const VALUE_COL = /^(value|ioc_value|ioc value|ioc|indicator|data|observable|attribute_value)$/;
const COMMENT_COL = /^(malware_printable|malware|signature|threat|description|comment|event_info)$/;
const TYPED_COLS: [RegExp, Exclude<IocType, 'filename'>][] = [
  [/^(dst_ip|ip|ip_address|ipaddress|ipv4|ipv6|ip-dst|ip_dst|c2_ip|ip_addr)$/, 'ip'],
  [/^(sha256_hash|sha1_hash|md5_hash|sha256|sha1|md5|hash|file_hash|filehash)$/, 'hash'],
  [/^(url)$/, 'url'],
  [/^(domain|domain_name|hostname|fqdn)$/, 'domain'],
];

/** Column names of well-known feeds, for the format name shown to the user. */
function feedName(h: string[]): string {
  const has = (...c: string[]) => c.every((x) => h.includes(x));
  if (has('dst_ip', 'c2_status')) return 'abuse.ch Feodo Tracker';
  if (has('ioc_value', 'ioc_type')) return 'abuse.ch ThreatFox';
  if (has('sha256_hash', 'signature')) return 'abuse.ch MalwareBazaar';
  if (has('url', 'urlhaus_link')) return 'abuse.ch URLhaus';
  if (has('uuid', 'event_id', 'type', 'value')) return 'MISP';
  if (has('indicator type', 'indicator')) return 'OTX';
  return '';
}

/**
 * One CSV record's fields: quoted ("" for a quote) or not, spaces around them trimmed (ThreatFox
 * writes `", "`); undefined when a quote is left open. Hand-written: a feed has 100,000s of rows.
 */
export function cells(line: string): string[] | undefined {
  if (!line.includes('"')) return line.split(',').map((c) => c.trim());
  const out: string[] = [];
  let i = 0;
  const n = line.length;
  for (;;) {
    while (i < n && (line[i] === ' ' || line[i] === '\t')) i++;
    let field = '';
    if (line[i] === '"') {
      i++;
      for (;;) {
        const q = line.indexOf('"', i);
        if (q < 0) return undefined;
        field += line.slice(i, q);
        if (line[q + 1] === '"') {
          field += '"';
          i = q + 2;
        } else {
          i = q + 1;
          break;
        }
      }
      const comma = line.indexOf(',', i);
      // Text after the closing quote (relaxed, as csv-parse's relax_quotes) belongs to the field.
      field += (comma < 0 ? line.slice(i) : line.slice(i, comma)).trimEnd();
      i = comma < 0 ? n : comma;
    } else {
      const comma = line.indexOf(',', i);
      field = (comma < 0 ? line.slice(i) : line.slice(i, comma)).trim();
      i = comma < 0 ? n : comma;
    }
    out.push(field);
    if (i >= n) return out;
    i++; // the comma
  }
}

/** How to read rows under this header line, or undefined when it names no column this tool knows. */
function headerOf(line: string): ColumnPlan | undefined {
  const row = cells(line);
  if (!row) return undefined;
  const h = row.map((c) => c.trim().toLowerCase().replace(/^"|"$/g, ''));
  const commentCol = h.findIndex((c) => COMMENT_COL.test(c));
  const feed = feedName(h);
  const typeCol = h.findIndex((c) => TYPE_COL.test(c));
  const valueCol = h.findIndex((c) => VALUE_COL.test(c));
  if (typeCol >= 0 && valueCol >= 0) return { kind: 'typed', typeCol, valueCol, commentCol, feed };
  const cols: [number, Exclude<IocType, 'filename'>][] = [];
  h.forEach((c, i) => {
    const t = TYPED_COLS.find(([re]) => re.test(c))?.[1];
    if (t) cols.push([i, t]);
  });
  return cols.length ? { kind: 'columns', cols, commentCol, feed } : undefined;
}

const TYPE_NAMES: [RegExp, Exclude<IocType, 'filename'>][] = [
  [/^(md5|sha-?1|sha-?256|hash|filehash[-_]?(md5|sha-?1|sha-?256)|(md5|sha1|sha256)_hash|imphash)$/i, 'hash'],
  [/^(ip|ipv4|ipv6|ip-dst|ip-src|ip[-_ ]?address|cidr|ipv4-addr|ipv6-addr|ip:port|ipv4:port)$/i, 'ip'],
  [/^(domain|hostname|fqdn|domain-name)$/i, 'domain'],
  [/^(url|link)$/i, 'url'],
];

export function typeOfName(name: string): Exclude<IocType, 'filename'> | undefined {
  return TYPE_NAMES.find(([re]) => re.test(name.trim()))?.[1];
}

/**
 * A typed value, composite MISP types included (filename|sha256, ip-dst|port, domain|ip): every
 * part of a known type, or nothing when no part is known.
 */
function typedValues(typeName: string, value: string): { type: Exclude<IocType, 'filename'>; raw: string }[] {
  const types = typeName.split('|');
  const values = types.length > 1 ? value.split('|') : [value];
  const out: { type: Exclude<IocType, 'filename'>; raw: string }[] = [];
  types.forEach((t, i) => {
    const type = typeOfName(t);
    if (type && values[i] !== undefined) out.push({ type, raw: values[i] });
  });
  return out;
}

function quotes(s: string): number {
  let n = 0;
  for (let i = s.indexOf('"'); i >= 0; i = s.indexOf('"', i + 1)) n++;
  return n;
}

function parseCsvLines(data: Line[], comments: Line[], out: ParsedIocFile): ParsedIocFile {
  // abuse.ch puts the header in the last comment line before the data ("# "first_seen_utc",…").
  const lastComment = comments.filter((c) => c.n < data[0].n).pop();
  let plan = headerOf(data[0].text);
  let rows = data;
  if (plan) rows = data.slice(1);
  else if (lastComment) plan = headerOf(lastComment.text.replace(/^#\s*/, ''));
  if (!plan) {
    // `type,value` or `value,comment` without a header; lines above the first such row (a title) are skipped.
    for (let i = 0; i < Math.min(rows.length, 5) && !plan; i++) {
      const row = cells(rows[i].text) ?? [];
      if (row.length >= 2 && typeOfName(row[0])) plan = { kind: 'typed', typeCol: 0, valueCol: 1, commentCol: 2, feed: '' };
      else if (row.length >= 1 && classify(row[0])) plan = { kind: 'columns', cols: [[0, 'url']], commentCol: 1, feed: '' };
      if (plan) {
        for (const r of rows.slice(0, i)) out.skipped.push({ line: r.n, why: 'neither a header this tool knows nor an indicator', text: short(r.text) });
        rows = rows.slice(i);
      }
    }
    if (!plan) {
      const header = (lastComment ? lastComment.text.replace(/^#\s*/, '') : data[0].text).slice(0, 120);
      out.format = 'CSV';
      out.unusable = `no column this tool knows (header: ${header})`;
      return out;
    }
    if (plan.kind === 'columns') return parseValueFirst(rows, out);
  }
  out.format = plan.feed ? `CSV (${plan.feed})` : 'CSV';
  const ignoredTypes = new Set<string>();
  // Quoted fields that span lines (MISP comments) are joined back together.
  for (let i = 0; i < rows.length; i++) {
    const { n } = rows[i];
    let text = rows[i].text;
    while (quotes(text) % 2 === 1 && i + 1 < rows.length) text += '\n' + rows[++i].text;
    const row = cells(text);
    if (!row) {
      out.skipped.push({ line: n, why: 'not a CSV row', text: short(text) });
      continue;
    }
    const comment = plan.commentCol >= 0 ? row[plan.commentCol] || undefined : undefined;
    if (plan.kind === 'typed') {
      if (row.length <= Math.max(plan.typeCol, plan.valueCol)) {
        out.skipped.push({ line: n, why: 'too few columns', text: short(text) });
        continue;
      }
      const parts = typedValues(row[plan.typeCol], row[plan.valueCol]);
      if (!parts.length) {
        out.ignored++;
        ignoredTypes.add(row[plan.typeCol]);
        continue;
      }
      for (const p of parts) {
        const e = normalizeAs(p.type, p.raw);
        if (e) out.entries.push({ line: n, ...e, comment });
        else out.skipped.push({ line: n, why: `not a valid ${p.type === 'ip' ? 'IP address' : p.type === 'url' ? 'URL' : p.type}`, text: short(p.raw) });
      }
    } else {
      const last = Math.max(...plan.cols.map(([c]) => c));
      if (row.length <= last) {
        out.skipped.push({ line: n, why: 'too few columns', text: short(text) });
        continue;
      }
      for (const [c, type] of plan.cols) {
        if (!row[c] || /^(n\/a|none|null|-)$/i.test(row[c])) continue;
        const e = normalizeAs(type, row[c]);
        if (e) out.entries.push({ line: n, ...e, comment });
        else out.skipped.push({ line: n, why: `not a valid ${type === 'ip' ? 'IP address' : type === 'url' ? 'URL' : type}`, text: short(row[c]) });
      }
    }
  }
  out.ignoredTypes = [...ignoredTypes].sort();
  return out;
}

/** `value,comment` rows: the first column is the indicator, of any type. */
function parseValueFirst(rows: Line[], out: ParsedIocFile): ParsedIocFile {
  out.format = 'CSV (value, comment)';
  for (const { n, text } of rows) {
    const row = cells(text) ?? [text];
    const e = classify(row[0] ?? '');
    if (e) out.entries.push({ line: n, ...e, comment: row.slice(1).join(', ') || undefined });
    else out.skipped.push({ line: n, why: NOT_AN_INDICATOR, text: short(row[0] ?? text) });
  }
  return out;
}

// --- MISP JSON -----------------------------------------------------------------------------

function parseMispJson(text: string): ParsedIocFile {
  const out: ParsedIocFile = { format: 'MISP JSON', entries: [], skipped: [], ignored: 0, ignoredTypes: [], unit: 'attribute' };
  let doc: unknown;
  try {
    doc = JSON.parse(text);
  } catch (e) {
    out.format = 'JSON';
    out.unusable = `not valid JSON: ${(e as Error).message}`;
    return out;
  }
  const events: Record<string, unknown>[] = [];
  const collect = (x: unknown) => {
    if (Array.isArray(x)) x.forEach(collect);
    else if (x && typeof x === 'object') {
      const o = x as Record<string, unknown>;
      if (o.Event) collect(o.Event);
      else if (o.response) collect(o.response);
      else if (o.Attribute || o.Object) events.push(o);
    }
  };
  collect(doc);
  if (!events.length) {
    out.format = 'JSON';
    out.unusable = 'JSON without MISP events (expected {"Event": {"Attribute": [...]}})';
    return out;
  }
  const attributes = (e: Record<string, unknown>): Record<string, unknown>[] => [
    ...((e.Attribute as Record<string, unknown>[]) ?? []),
    ...((e.Object as Record<string, unknown>[]) ?? []).flatMap((o) => (o.Attribute as Record<string, unknown>[]) ?? []),
  ];
  const ignoredTypes = new Set<string>();
  let index = 0;
  for (const e of events) {
    for (const a of attributes(e)) {
      index++;
      const typeName = String(a.type ?? '');
      const parts = typedValues(typeName, String(a.value ?? ''));
      if (!parts.length) {
        out.ignored++;
        ignoredTypes.add(typeName);
        continue;
      }
      for (const p of parts) {
        const v = normalizeAs(p.type, p.raw);
        // JSON has no useful line numbers: the attribute's position stands in for one.
        if (v) out.entries.push({ line: index, ...v, comment: typeof a.comment === 'string' && a.comment ? a.comment : undefined });
        else out.skipped.push({ line: index, why: `not a valid ${p.type === 'ip' ? 'IP address' : p.type === 'url' ? 'URL' : p.type}`, text: short(p.raw) });
      }
    }
  }
  out.ignoredTypes = [...ignoredTypes].sort();
  return out;
}
