// Local threat intelligence: IOC files (plain lists, type,value CSV, CSV with headers such as
// Indicator_type,Data, MISP event JSON) matched against hashes, addresses and domain names.
import { readFileSync } from 'node:fs';
import { basename } from 'node:path';
import { parse as parseCsv } from 'csv-parse/sync';
import ipaddr from 'ipaddr.js';
import { InputError } from '../errors.ts';
import { sha256Text } from '../evidence/hash.ts';
import type { Rec } from './matcher.ts';

export type IocType = 'hash' | 'ip' | 'domain';

export interface Ioc {
  type: IocType;
  value: string;
  source: string;
}

export interface IocMatch {
  ioc: Ioc;
  field: string;
  value: string;
}

export class Intel {
  readonly hashes = new Map<string, Ioc>();
  readonly ips = new Map<string, Ioc>();
  readonly cidrs: { range: [ipaddr.IPv4 | ipaddr.IPv6, number]; ioc: Ioc }[] = [];
  readonly domains = new Map<string, Ioc>();
  readonly files: { file: string; sha256: string; indicators: number }[] = [];

  get size(): number {
    return this.hashes.size + this.ips.size + this.cidrs.length + this.domains.size;
  }

  add(type: IocType, raw: string, source: string): boolean {
    const value = raw.trim().replace(/^\[|\]$/g, '');
    if (!value) return false;
    if (type === 'hash') {
      if (!/^([a-f0-9]{32}|[a-f0-9]{40}|[a-f0-9]{64})$/i.test(value)) return false;
      this.hashes.set(value.toLowerCase(), { type, value: value.toLowerCase(), source });
      return true;
    }
    if (type === 'ip') {
      if (value.includes('/')) {
        try {
          this.cidrs.push({ range: ipaddr.parseCIDR(value), ioc: { type, value, source } });
          return true;
        } catch {
          return false;
        }
      }
      const a = normalizeIp(value);
      if (!a) return false;
      this.ips.set(a, { type, value: a, source });
      return true;
    }
    const d = value.toLowerCase().replace(/\.$/, '');
    if (!/^(?=.{1,253}$)([a-z0-9_](?:[a-z0-9_-]{0,61}[a-z0-9])?\.)+[a-z][a-z0-9-]{0,62}$/.test(d)) return false;
    this.domains.set(d, { type: 'domain', value: d, source });
    return true;
  }

  /** Hash fields, remote addresses, and domain names found in command lines and launch strings. */
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
      const v = r.remoteAddress;
      if (typeof v === 'string') {
        const a = normalizeIp(v);
        const exact = a ? this.ips.get(a) : undefined;
        if (exact) out.push({ ioc: exact, field: 'remoteAddress', value: v });
        else if (a) {
          const parsed = ipaddr.parse(a);
          const hit = this.cidrs.find((c) => c.range[0].kind() === parsed.kind() && parsed.match(c.range));
          if (hit) out.push({ ioc: hit.ioc, field: 'remoteAddress', value: v });
        }
      }
    }
    if (this.domains.size) {
      for (const f of ['commandLine', 'launchString', 'remoteHost', 'url']) {
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
    return out;
  }
}

function normalizeIp(v: string): string | undefined {
  const bare = v.trim().replace(/^\[|\]$/g, '').replace(/%.*$/, '');
  if (!ipaddr.isValid(bare)) return undefined;
  return ipaddr.process(bare).toString();
}

const TYPE_NAMES: [RegExp, IocType][] = [
  [/^(md5|sha-?1|sha-?256|hash|filehash[-_]?(md5|sha1|sha256)|imphash-no)$/i, 'hash'],
  [/^(ip|ipv4|ipv6|ip-dst|ip-src|ip[-_]?address|cidr|ipv4-addr|ipv6-addr)$/i, 'ip'],
  [/^(domain|hostname|fqdn|domain-name)$/i, 'domain'],
];

function typeOf(name: string): IocType | undefined {
  // MISP composite types: filename|sha256 is a hash, ip-dst|port an address.
  for (const part of name.trim().split('|')) {
    const t = TYPE_NAMES.find(([re]) => re.test(part))?.[1];
    if (t) return t;
  }
  return undefined;
}

function guessType(value: string): IocType {
  if (/^([a-f0-9]{32}|[a-f0-9]{40}|[a-f0-9]{64})$/i.test(value)) return 'hash';
  const bare = value.replace(/\/\d+$/, '').replace(/^\[|\]$/g, '');
  if (ipaddr.isValid(bare)) return 'ip';
  return 'domain';
}

/** Loads one IOC file, whatever its format; says which line it could not read. */
export function loadIocFile(intel: Intel, file: string): void {
  let text: string;
  try {
    text = readFileSync(file, 'utf8').replace(/^\uFEFF/, '');
  } catch (e) {
    throw new InputError(`cannot read IOC file: ${(e as Error).message}`, { file });
  }
  const source = basename(file);
  const before = intel.size;
  const trimmed = text.trimStart();
  if (trimmed.startsWith('{') || trimmed.startsWith('[')) {
    loadMisp(intel, file, text, source);
  } else if (/,/.test(text.split('\n').find((l) => l.trim() && !l.trim().startsWith('#')) ?? '')) {
    loadCsv(intel, file, text, source);
  } else {
    text.split(/\r?\n/).forEach((raw, i) => {
      const line = raw.replace(/#.*$/, '').trim();
      if (!line) return;
      if (!intel.add(guessType(line), line, source)) throw new InputError(`"${line.slice(0, 80)}" is not a hash, IP address, CIDR range or domain`, { file, line: i + 1 });
    });
  }
  intel.files.push({ file, sha256: sha256Text(text), indicators: intel.size - before });
}

function loadCsv(intel: Intel, file: string, text: string, source: string) {
  let rows: string[][];
  try {
    rows = parseCsv(text, { relax_column_count: true, skip_empty_lines: true, comment: '#', trim: true });
  } catch (e) {
    throw new InputError(`not valid CSV: ${(e as Error).message}`, { file });
  }
  const header = rows[0].map((h) => h.toLowerCase());
  let typeCol = header.findIndex((h) => /type/.test(h));
  let valueCol = header.findIndex((h) => /^(data|value|indicator|ioc|observable)$/.test(h));
  let start = 1;
  if (typeCol < 0 || valueCol < 0) {
    // `type,value` without a header
    typeCol = 0;
    valueCol = 1;
    start = typeOf(rows[0][0]) ? 0 : 1;
  }
  rows.slice(start).forEach((row, i) => {
    const type = typeOf(row[typeCol] ?? '');
    const value = row[valueCol] ?? '';
    if (!type) return; // URLs, e-mail addresses and other types do not apply to these records
    if (!intel.add(type, value, source)) throw new InputError(`"${value.slice(0, 80)}" is not a valid ${type}`, { file, line: i + start + 1 });
  });
}

function loadMisp(intel: Intel, file: string, text: string, source: string) {
  let doc: unknown;
  try {
    doc = JSON.parse(text);
  } catch (e) {
    throw new InputError(`not valid JSON: ${(e as Error).message}`, { file });
  }
  const events: unknown[] = [];
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
  if (!events.length) throw new InputError('JSON without MISP events (expected {"Event": {"Attribute": [...]}})', { file });
  const attributes = (e: Record<string, unknown>): Record<string, unknown>[] => [
    ...((e.Attribute as Record<string, unknown>[]) ?? []),
    ...(((e.Object as Record<string, unknown>[]) ?? []).flatMap((o) => (o.Attribute as Record<string, unknown>[]) ?? [])),
  ];
  for (const e of events as Record<string, unknown>[]) {
    for (const a of attributes(e)) {
      const typeName = String(a.type ?? '');
      const type = typeOf(typeName);
      if (!type) continue;
      const parts = String(a.value ?? '').split('|');
      // Composite values: filename|sha256 keeps the last part; ip-dst|port keeps the first.
      const value = typeName.endsWith('|port') ? parts[0] : parts[parts.length - 1];
      intel.add(type, value, source);
    }
  }
}
