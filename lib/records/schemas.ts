// The record kinds: the contract between collection (steps, importers) and triage (rules).
// Loose objects: a step may add fields; the ones named here must have these types.
import { z } from 'zod';
import type { RecordKind } from '../definitions.ts';

const iso = z.string().regex(/^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d+)?Z$/, 'an ISO 8601 UTC time');
const opt = <T extends z.ZodType>(t: T) => t.nullable().optional();
const hex = (n: number) => z.string().regex(new RegExp(`^[A-Fa-f0-9]{${n}}$`), `${n} hex digits`);

export const HostRecord = z.looseObject({
  hostname: z.string(),
  fqdn: opt(z.string()),
  domain: opt(z.string()),
  os: opt(z.string()),
  osName: opt(z.string()),
  osVersion: opt(z.string()),
  build: opt(z.string()),
  timezone: opt(z.string()),
  clockUtc: opt(iso),
  bootTime: opt(iso),
  user: opt(z.string()),
  admin: opt(z.boolean()),
});

export const ProcessRecord = z.looseObject({
  pid: z.number().int().nonnegative(),
  ppid: opt(z.number().int().nonnegative()),
  name: z.string(),
  path: opt(z.string()),
  commandLine: opt(z.string()),
  user: opt(z.string()),
  startTime: opt(iso),
  sha256: opt(hex(64)),
  sha1: opt(hex(40)),
  md5: opt(hex(32)),
  signatureStatus: opt(z.string()),
  signer: opt(z.string()),
  signed: opt(z.boolean()),
  // Linux: CPU time used (user + system), where the image is (memfd, tmp, hidden, other), names
  // that imitate a kernel thread or differ from the image, and the exact bytes of a path or
  // command line that is not UTF-8 (the text fields show U+FFFD for those bytes).
  cpuSeconds: opt(z.number().nonnegative()),
  deleted: opt(z.boolean()),
  imageLocation: opt(z.enum(['memfd', 'tmp', 'hidden', 'other'])),
  kernelThread: opt(z.boolean()),
  kernelThreadLookalike: opt(z.boolean()),
  nameMismatch: opt(z.boolean()),
  pathBase64: opt(z.base64()),
  commandLineBase64: opt(z.base64()),
});

export const ConnectionRecord = z.looseObject({
  protocol: z.enum(['tcp', 'udp']),
  localAddress: z.string(),
  localPort: z.number().int().min(0).max(65535),
  remoteAddress: opt(z.string()),
  remotePort: opt(z.number().int().min(0).max(65535)),
  state: opt(z.string()),
  pid: opt(z.number().int().nonnegative()),
  processName: opt(z.string()),
  createdTime: opt(iso),
});

export const AutorunRecord = z.looseObject({
  location: z.string(),
  entry: z.string(),
  category: opt(z.string()),
  enabled: opt(z.boolean()),
  profile: opt(z.string()),
  description: opt(z.string()),
  company: opt(z.string()),
  signer: opt(z.string()),
  signed: opt(z.boolean()),
  imagePath: opt(z.string()),
  launchString: opt(z.string()),
  time: opt(iso),
  md5: opt(hex(32)),
  sha1: opt(hex(40)),
  sha256: opt(hex(64)),
});

export const DetectionRecord = z.looseObject({
  /** threat: something was detected; protection-disabled, exclusion: the defence was weakened; ransom-note, recovery-disabled, mass-rename: ransomware-signs. */
  type: z.enum(['threat', 'protection-disabled', 'exclusion', 'status', 'ransom-note', 'recovery-disabled', 'mass-rename']),
  source: z.string(),
  time: opt(iso),
  threatName: opt(z.string()),
  severity: opt(z.string()),
  category: opt(z.string()),
  action: opt(z.string()),
  resources: opt(z.array(z.string())),
  processName: opt(z.string()),
  user: opt(z.string()),
  eventId: opt(z.number().int()),
});

export const DumpRecord = z.looseObject({
  pid: z.number().int().nonnegative(),
  name: z.string(),
  file: z.string(),
  size: z.number().int().nonnegative(),
  sha256: opt(hex(64)),
});

export const FileRecord = z.looseObject({
  path: z.string(),
  size: opt(z.number().int().nonnegative()),
  sha256: opt(hex(64)),
  sha1: opt(hex(40)),
  md5: opt(hex(32)),
  created: opt(iso),
  modified: opt(iso),
});

/**
 * One Windows event (an .evtx record, lib/importers/evtx.ts). `data`: EventData's <Data Name=…>
 * pairs (unnamed Data as Data1, Data2…), or for a UserData event its leaf elements by name.
 */
export const EventRecord = z.looseObject({
  channel: z.string(),
  provider: z.string(),
  eventId: z.number().int().nonnegative(),
  time: iso,
  computer: opt(z.string()),
  recordId: opt(z.number().int().nonnegative()),
  level: opt(z.number().int().nonnegative()),
  user: opt(z.string()),
  data: z.record(z.string(), z.string().nullable()),
});

export const RECORD_SCHEMAS: Record<RecordKind, z.ZodType<Record<string, unknown>>> = {
  host: HostRecord,
  process: ProcessRecord,
  connection: ConnectionRecord,
  autorun: AutorunRecord,
  detection: DetectionRecord,
  dump: DumpRecord,
  file: FileRecord,
  text: z.looseObject({}),
  event: EventRecord,
};

export type HostRecord = z.infer<typeof HostRecord>;
export type ProcessRecord = z.infer<typeof ProcessRecord>;
export type ConnectionRecord = z.infer<typeof ConnectionRecord>;
export type AutorunRecord = z.infer<typeof AutorunRecord>;
export type DetectionRecord = z.infer<typeof DetectionRecord>;
export type EventRecord = z.infer<typeof EventRecord>;
