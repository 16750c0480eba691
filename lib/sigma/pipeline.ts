// Sigma logsource → which Magpie records and events a rule reads, and how its field names map to
// theirs (playbooks/sigma/*.yaml, data teams extend, in the manner of pySigma's pipelines).
import { existsSync, readdirSync } from 'node:fs';
import { join } from 'node:path';
import { z } from 'zod';
import { RECORD_KINDS, type RecordKind } from '../definitions.ts';
import { gatherInputErrors, InputErrors, type InputError } from '../errors.ts';
import { BUILTIN_DIR } from '../paths.ts';
import { readYaml, validateYaml } from '../yaml-file.ts';
import { fieldAccess, getField, type FieldAccess, type Rec } from '../triage/matcher.ts';

export const BUILTIN_PIPELINES = join(BUILTIN_DIR, 'sigma');

const Logsource = z.strictObject({ product: z.string().optional(), category: z.string().optional(), service: z.string().optional() });
const EventSource = z.strictObject({
  channel: z.string().min(1),
  eventId: z.union([z.number().int(), z.array(z.number().int()).min(1)]).optional(),
  /** Sigma field → EventData name, where the two differ (Security 4688's NewProcessName is Image). */
  fields: z.record(z.string(), z.string()).default({}),
});
const PipelineDef = z.strictObject({
  name: z.string().min(1),
  description: z.string().optional(),
  /** `%name%` values for the `expand` modifier. */
  placeholders: z.record(z.string(), z.array(z.string())).default({}),
  logsources: z
    .array(
      z.strictObject({
        logsource: Logsource,
        /** Record kind → (Sigma field → record field, or $derived). */
        records: z.partialRecord(z.enum(RECORD_KINDS), z.record(z.string(), z.string())).default({}),
        events: z.array(EventSource).default([]),
      }),
    )
    .default([]),
});
export type PipelineDef = z.infer<typeof PipelineDef>;

export interface Pipeline {
  names: string[];
  placeholders: Record<string, string[]>;
  entries: PipelineDef['logsources'];
}

/** Fields Magpie derives for Sigma from a record (`$name` in a pipeline). */
const DERIVED: Record<string, (r: Rec) => unknown> = {
  // Sysmon's Hashes field: MD5=…,SHA1=…,SHA256=… (upper case), from the hashes the record has.
  hashes: (r) => {
    const parts = (['md5', 'sha1', 'sha256'] as const).filter((k) => typeof r[k] === 'string' && r[k]).map((k) => `${k.toUpperCase()}=${String(r[k]).toUpperCase()}`);
    return parts.length ? parts.join(',') : undefined;
  },
  // A registry-backed autostart as Sysmon names the value it set: the key path and the value name.
  registryPath: (r) => {
    if (typeof r.location !== 'string' || !/^(HK(LM|CU|U|CR)|HKEY_)/i.test(r.location)) return undefined;
    const key = r.location
      .replace(/^HKEY_LOCAL_MACHINE/i, 'HKLM')
      .replace(/^HKEY_CURRENT_USER/i, 'HKCU')
      .replace(/^HKEY_USERS/i, 'HKU')
      .replace(/^HKEY_CLASSES_ROOT/i, 'HKCR');
    return typeof r.entry === 'string' && r.entry ? `${key}\\${r.entry}` : key;
  },
  setValue: (r) => (DERIVED.registryPath(r) === undefined ? undefined : 'SetValue'),
  // Sysmon 3's Initiated: a snapshot does not say who dialled; an ephemeral local port towards a
  // lower remote port is this host's outbound connection, a listener's socket is not.
  initiated: (r) => {
    if (r.state === 'Listen' || typeof r.localPort !== 'number' || typeof r.remotePort !== 'number' || !r.remotePort) return undefined;
    return r.localPort >= 49152 || r.localPort > r.remotePort ? 'true' : 'false';
  },
};

/** Reads the built-in pipelines and any `sigma-pipeline-*.yaml` a team put in its rules folders. */
export function loadPipeline(extraFiles: string[] = []): Pipeline {
  const files = [
    ...(existsSync(BUILTIN_PIPELINES) ? readdirSync(BUILTIN_PIPELINES).filter((f) => /\.ya?ml$/.test(f)).sort().map((f) => join(BUILTIN_PIPELINES, f)) : []),
    ...extraFiles,
  ];
  const errors: InputError[] = [];
  const out: Pipeline = { names: [], placeholders: {}, entries: [] };
  for (const file of files) {
    gatherInputErrors(errors, () => {
      const def = validateYaml(readYaml(file), PipelineDef);
      out.names.push(def.name);
      Object.assign(out.placeholders, def.placeholders);
      // A team's entry for the same logsource comes first, so it wins.
      out.entries.unshift(...def.logsources);
    });
  }
  if (errors.length) throw new InputErrors(errors);
  return out;
}

export type SigmaLogsource = { product?: string; category?: string; service?: string };

/** What a rule of this logsource reads: record kinds with their mapping, and event sources. */
export interface Target {
  os?: string;
  records: Partial<Record<RecordKind, Record<string, string>>>;
  events: z.infer<typeof EventSource>[];
}

const same = (a?: string, b?: string) => (a ?? '').toLowerCase() === (b ?? '').toLowerCase();

export function targetFor(p: Pipeline, ls: SigmaLogsource): Target | undefined {
  const e = p.entries.find((x) => same(x.logsource.product, ls.product) && same(x.logsource.category, ls.category) && same(x.logsource.service, ls.service));
  if (!e) return undefined;
  return { os: e.logsource.product?.toLowerCase(), records: e.records, events: e.events };
}

/** Looks a Sigma field up in a record through a mapping; an unmapped field is absent. */
export function recordResolver(map: Record<string, string>): (r: Rec, field: string) => unknown {
  const lower = new Map(Object.entries(map).map(([k, v]) => [k.toLowerCase(), v]));
  return (r, field) => {
    const to = lower.get(field.toLowerCase());
    if (to === undefined) return undefined;
    if (to.startsWith('$')) return DERIVED[to.slice(1)]?.(r);
    return getField(r, to);
  };
}

const HASH_NAMES = new Set(['md5', 'sha1', 'sha256', 'imphash']);
/** `MD5=A,SHA256=B` → { md5: 'A', sha256: 'B' } (names lower-case). */
export function splitHashes(text: string): Record<string, string> {
  const out: Record<string, string> = {};
  for (const part of text.split(',')) {
    const eq = part.indexOf('=');
    if (eq > 0) out[part.slice(0, eq).trim().toLowerCase()] = part.slice(eq + 1).trim();
  }
  return out;
}

const SYSTEM_FIELDS: Record<string, string> = { eventid: 'eventId', channel: 'channel', provider_name: 'provider', computer: 'computer', eventrecordid: 'recordId', level: 'level' };

/** Looks a Sigma field up in an event: System fields, then EventData (renamed for this source). */
export function eventResolver(rename: Record<string, string>): (r: Rec, field: string) => unknown {
  const lower = new Map(Object.entries(rename).map(([k, v]) => [k.toLowerCase(), v]));
  return (r, field) => {
    const f = field.toLowerCase();
    const sys = SYSTEM_FIELDS[f];
    if (sys) return r[sys];
    const data = r.data as Rec | undefined;
    if (!data) return undefined;
    const name = lower.get(f) ?? field;
    if (name in data) return data[name];
    // Sysmon packs the hashes in one field (MD5=…,SHA256=…,IMPHASH=…): rules may name each.
    if (HASH_NAMES.has(f) && typeof data.Hashes === 'string') return splitHashes(data.Hashes)[f];
    // Sigma names EventData without case or spaces: Defender's "Threat Name" is ThreatName.
    const want = name.toLowerCase().replace(/\s+/g, '');
    for (const k of Object.keys(data)) if (k.toLowerCase().replace(/\s+/g, '') === want) return data[k];
    return undefined;
  };
}

/** Whether an event comes from one of the sources (channel, event IDs). */
export function eventAccepts(src: z.infer<typeof EventSource>): (r: Rec) => boolean {
  const ids = src.eventId === undefined ? undefined : new Set(Array.isArray(src.eventId) ? src.eventId : [src.eventId]);
  const channel = src.channel.toLowerCase();
  return (r) => typeof r.channel === 'string' && r.channel.toLowerCase() === channel && (!ids || ids.has(Number(r.eventId)));
}

/** The engine's index key of an event source: channel (any case) and event ID, `*` for every ID. */
export const eventKey = (channel: string, id: string | number) => `${channel.toLowerCase()}#${id}`;

/**
 * Field access for every rule of one mapping (a record kind's, or an event source's renames),
 * bound once per field and shared: the thousands of rules that test Image read and lower-case it
 * once per record.
 */
const binders = new WeakMap<object, (field: string) => FieldAccess>();
function sharedBinder(map: Record<string, string>, resolve: (r: Rec, field: string) => unknown): (field: string) => FieldAccess {
  let binder = binders.get(map);
  if (binder) return binder;
  const bound = new Map<string, FieldAccess>();
  binder = (field) => {
    const key = field.toLowerCase();
    let a = bound.get(key);
    if (!a) bound.set(key, (a = fieldAccess((r) => resolve(r, field))));
    return a;
  };
  binders.set(map, binder);
  return binder;
}

export const recordBinder = (map: Record<string, string>) => sharedBinder(map, recordResolver(map));
export const eventBinder = (rename: Record<string, string>) => sharedBinder(rename, eventResolver(rename));
