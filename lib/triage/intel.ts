// Local threat intelligence: IOC files (see ioc-formats.ts for what is read) matched against
// hashes, addresses, domain names and URLs in command lines, and LOKI/THOR filename regexes
// against image paths and command lines.
import { readFileSync } from 'node:fs';
import { basename } from 'node:path';
import ipaddr from 'ipaddr.js';
import { InputError } from '../errors.ts';
import { sha256Text } from '../evidence/hash.ts';
import { classify, compileLokiRegex, normalizeAs, normalizeIp, normalizeUrl, parseIocText, refang, type IocEntry, type IocType, type SkippedLine } from './ioc-formats.ts';
import type { Rec } from './matcher.ts';
import type { Level } from './rule-def.ts';

export type { IocType } from './ioc-formats.ts';
export { refang } from './ioc-formats.ts';

export interface Ioc {
  type: IocType;
  value: string;
  source: string;
  /** Where in the source file (a MISP JSON file: the attribute's position). */
  line?: number;
  comment?: string;
  /** Filename IOCs: the level their score maps to (LOKI: 40 notice, 60 warning, 100 alert). */
  level?: Level;
  score?: number;
}

export interface IocMatch {
  ioc: Ioc;
  field: string;
  value: string;
}

/** What one IOC file gave, as listed in triage.json. */
export interface IocFileInfo {
  file: string;
  sha256: string;
  format: string;
  indicators: number;
  /** Lines (MISP JSON: attributes) that were not indicators, skipped. */
  skipped: number;
  /** Rows of types that match nothing here (e-mail, filename, CVE…). */
  ignored: number;
}

export interface IocFileResult extends IocFileInfo {
  skippedLines: SkippedLine[];
  unit: 'line' | 'attribute';
  ignoredTypes: string[];
  /** Why the file gave nothing at all, when it did not. */
  unusable?: string;
}

interface FilenameIoc {
  ioc: Ioc;
  re: RegExp;
  falsePositive?: RegExp;
}

/** Fields that hold an image path or a command line, for filename IOCs. */
const PATH_FIELDS = ['path', 'imagePath', 'commandLine', 'launchString'];
/** Fields where a URL or a domain name can appear (url: proxy logs, later). */
const TEXT_FIELDS = ['commandLine', 'launchString', 'remoteHost', 'url', 'query', 'sni', 'httpHost'];
/** Fields holding an address: connections, the two ends of a captured flow, and DNS answers (a list). */
const IP_FIELDS = ['remoteAddress', 'dst', 'src', 'answers'];
const URL_IN_TEXT = /[a-z][a-z0-9+.-]*:\/\/[^\s"'<>`^|]+/gi;

export class Intel {
  readonly hashes = new Map<string, Ioc>();
  readonly ips = new Map<string, Ioc>();
  readonly cidrs: { range: [ipaddr.IPv4 | ipaddr.IPv6, number]; ioc: Ioc }[] = [];
  readonly domains = new Map<string, Ioc>();
  /** Keyed by the URL in lower case. */
  readonly urls = new Map<string, Ioc>();
  readonly filenames: FilenameIoc[] = [];
  readonly files: IocFileInfo[] = [];

  get size(): number {
    return this.hashes.size + this.ips.size + this.cidrs.length + this.domains.size + this.urls.size + this.filenames.length;
  }

  /** Adds one value of a known type (refanged first); false when it is not one. */
  add(type: IocType, raw: string, source: string): boolean {
    if (type === 'filename') {
      try {
        this.addEntry({ line: 0, type, value: raw, level: 'medium' }, source);
        return true;
      } catch {
        return false;
      }
    }
    const e = normalizeAs(type, raw);
    if (!e) return false;
    this.addEntry({ line: 0, ...e }, source);
    return true;
  }

  /** Adds a parsed entry (its value already normalised); returns the key it is stored under. */
  addEntry(e: IocEntry, source: string): string {
    const ioc: Ioc = { type: e.type, value: e.value, source, ...(e.line ? { line: e.line } : {}), ...(e.comment ? { comment: e.comment } : {}), ...(e.level ? { level: e.level, score: e.score } : {}) };
    switch (e.type) {
      case 'hash':
        this.hashes.set(e.value, ioc);
        return `hash:${e.value}`;
      case 'ip':
        if (e.value.includes('/')) {
          if (!this.cidrs.some((c) => c.ioc.value === e.value)) this.cidrs.push({ range: ipaddr.parseCIDR(e.value), ioc });
        } else this.ips.set(e.value, ioc);
        return `ip:${e.value}`;
      case 'domain':
        this.domains.set(e.value, ioc);
        return `domain:${e.value}`;
      case 'url':
        this.urls.set(e.value.toLowerCase(), ioc);
        return `url:${e.value.toLowerCase()}`;
      case 'filename':
        this.filenames.push({ ioc, re: compileLokiRegex(e.value), falsePositive: e.falsePositive ? compileLokiRegex(e.falsePositive) : undefined });
        return `filename:${e.value}`;
    }
  }

  /** Hash fields, remote addresses, domain names and URLs in command lines, filename regexes on paths and command lines. */
  match(r: Rec): IocMatch[] {
    const out: IocMatch[] = [];
    if (this.hashes.size) {
      for (const f of ['sha256', 'sha1', 'md5']) {
        const v = r[f];
        if (typeof v === 'string') {
          const ioc = this.hashes.get(v.toLowerCase());
          if (ioc) out.push({ ioc, field: f, value: v });
        }
      }
    }
    if (this.ips.size || this.cidrs.length) {
      for (const f of IP_FIELDS) {
        const field = r[f];
        for (const v of Array.isArray(field) ? field : [field]) {
          if (typeof v !== 'string') continue;
          const a = normalizeIp(v);
          if (!a) continue;
          const exact = this.ips.get(a);
          if (exact) {
            out.push({ ioc: exact, field: f, value: v });
            continue;
          }
          const parsed = ipaddr.parse(a);
          const hit = this.cidrs.find((c) => c.range[0].kind() === parsed.kind() && parsed.match(c.range));
          if (hit) out.push({ ioc: hit.ioc, field: f, value: v });
        }
      }
    }
    if (this.urls.size) {
      for (const f of TEXT_FIELDS) {
        const v = r[f];
        if (typeof v !== 'string' || !v.includes('://')) continue;
        for (const token of v.match(URL_IN_TEXT) ?? []) {
          const u = normalizeUrl(token.replace(/[.,;:)\]}'"]+$/, ''));
          if (!u) continue;
          const key = u.toLowerCase();
          // The URL as listed, or without its query string and fragment.
          const ioc = this.urls.get(key) ?? this.urls.get(key.replace(/[?#].*$/, '').replace(/^([^/]+\/\/[^/]+)\/$/, '$1'));
          if (ioc) out.push({ ioc, field: f, value: u });
        }
      }
    }
    if (this.domains.size) {
      for (const f of TEXT_FIELDS) {
        const v = r[f];
        if (typeof v !== 'string') continue;
        for (const token of v.toLowerCase().match(/[a-z0-9_-]+(?:\.[a-z0-9_-]+)+/g) ?? []) {
          // A listed domain matches itself and its subdomains.
          const parts = token.split('.');
          for (let i = 0; i < parts.length - 1; i++) {
            const ioc = this.domains.get(parts.slice(i).join('.'));
            if (ioc) {
              out.push({ ioc, field: f, value: token });
              break;
            }
          }
        }
      }
    }
    if (this.filenames.length) {
      for (const fn of this.filenames) {
        for (const f of PATH_FIELDS) {
          const v = r[f];
          if (typeof v !== 'string' || !fn.re.test(v) || fn.falsePositive?.test(v)) continue;
          out.push({ ioc: fn.ioc, field: f, value: v });
          break;
        }
      }
    }
    return out;
  }
}

export interface LoadIocOptions {
  /**
   * Stop at the first line that is not an indicator (an InputError with file:line). Without it,
   * such lines are skipped and listed in the result, which the caller must show. Strict unless
   * told otherwise, so that a caller who does not look at the result never loses lines silently.
   */
  strict?: boolean;
}

/** Reads an IOC file's bytes as text: UTF-8 (with or without BOM) or UTF-16 with BOM. */
function decode(buf: Buffer): string {
  if (buf[0] === 0xff && buf[1] === 0xfe) return buf.subarray(2).toString('utf16le');
  if (buf[0] === 0xfe && buf[1] === 0xff) return Buffer.from(buf.subarray(2)).swap16().toString('utf16le');
  return buf.toString('utf8').replace(/^\uFEFF/, '');
}

/** Loads one IOC file, whatever its format, and says what it gave and what it skipped. */
export function loadIocFile(intel: Intel, file: string, opts: LoadIocOptions = {}): IocFileResult {
  const strict = opts.strict ?? true;
  let bytes: Buffer;
  try {
    bytes = readFileSync(file);
  } catch (e) {
    throw new InputError(`cannot read IOC file: ${(e as Error).message}`, { file });
  }
  const text = decode(bytes);
  const source = basename(file);
  const parsed = parseIocText(text, source);
  if (strict) {
    const bad = parsed.skipped[0];
    if (bad) {
      const what = `"${bad.text}" is ${bad.why}`;
      throw new InputError(parsed.unit === 'attribute' ? `attribute ${bad.line}: ${what}` : what, parsed.unit === 'line' ? { file, line: bad.line } : { file });
    }
    if (parsed.unusable && /^(not valid JSON|JSON without)/.test(parsed.unusable)) throw new InputError(parsed.unusable, { file });
  }
  const keys = new Set<string>();
  for (const e of parsed.entries) keys.add(intel.addEntry(e, source));
  const result: IocFileResult = {
    file,
    sha256: sha256Text(text),
    format: parsed.format,
    indicators: keys.size,
    skipped: parsed.skipped.length,
    ignored: parsed.ignored,
    skippedLines: parsed.skipped,
    unit: parsed.unit,
    ignoredTypes: parsed.ignoredTypes,
    unusable: parsed.unusable,
  };
  intel.files.push({ file, sha256: result.sha256, format: result.format, indicators: result.indicators, skipped: result.skipped, ignored: result.ignored });
  return result;
}

/**
 * The one warning a file deserves, or undefined when it loaded cleanly: the lines skipped (the
 * first few numbers and how many more) and why, or why it gave no indicator at all.
 */
export function iocFileWarning(r: IocFileResult, maxLines = 5): string | undefined {
  const parts: string[] = [];
  if (r.skippedLines.length) {
    const unit = r.unit === 'attribute' ? 'MISP attribute' : 'line';
    const n = r.skippedLines.length;
    const nums = r.skippedLines.slice(0, maxLines).map((s) => s.line).join(', ') + (n > maxLines ? ` and ${n - maxLines} more` : '');
    const byWhy = new Map<string, SkippedLine>();
    for (const s of r.skippedLines) if (!byWhy.has(s.why)) byWhy.set(s.why, s);
    const whys = [...byWhy.values()].slice(0, 3).map((s) => `${s.why} (${unit} ${s.line}: "${s.text}")`);
    if (byWhy.size > 3) whys.push(`${byWhy.size - 3} other reasons`);
    parts.push(`skipped ${n} ${unit}${n === 1 ? '' : 's'} (${unit}${n === 1 ? '' : 's'} ${nums}): ${whys.join('; ')}`);
  }
  if (r.indicators === 0) {
    const why =
      r.unusable ??
      (r.skippedLines.length
        ? 'no line was an indicator'
        : r.ignored
          ? `every row is of a type that matches nothing here (${r.ignoredTypes.slice(0, 5).join(', ')})`
          : 'nothing in it is an indicator');
    parts.push(`no indicator loaded: ${why}; it is listed in triage.json with 0 indicators`);
  } else if (parts.length) parts.push(`loaded ${r.indicators} indicator${r.indicators === 1 ? '' : 's'} (--strict-ioc stops at the first bad line instead)`);
  return parts.length ? `${r.file} (${r.format}): ${parts.join('; ')}` : undefined;
}

/** Guesses a single value's type, refanged: what `add` would store it as. */
export function classifyIoc(raw: string): { type: IocType; value: string } | undefined {
  return classify(refang(raw));
}

const WHAT: Record<IocType, string> = { hash: 'file hash', ip: 'address', domain: 'domain', url: 'URL', filename: 'file name pattern' };

/**
 * How a match reads and weighs as a finding: hashes critical; addresses, domains and URLs high;
 * filename IOCs at the level of their score. `listed` names the entry: value, file, line, comment.
 */
export function iocFindingInfo(m: IocMatch): { what: string; level: Level; listed: string } {
  const { ioc } = m;
  const where = `${ioc.source}${ioc.line ? ` line ${ioc.line}` : ''}`;
  return {
    what: WHAT[ioc.type],
    level: ioc.level ?? (ioc.type === 'hash' ? 'critical' : 'high'),
    listed: `${ioc.value} in ${where}${ioc.score !== undefined ? `, score ${ioc.score}` : ''}${ioc.comment ? ` (${ioc.comment})` : ''}`,
  };
}
