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

/** One packet capture a traffic-capture step wrote (or `magpie import pcap` took in). */
export const CaptureRecord = z.looseObject({
  /** The capture's path in the step's files/ folder. */
  file: z.string(),
  format: z.enum(['pcapng', 'pcap', 'etl']),
  size: z.number().int().nonnegative(),
  sha256: opt(hex(64)),
  tool: z.string(),
  toolVersion: opt(z.string()),
  interfaces: z.array(z.string()),
  /** The capture filter given to the tool, as it was given. */
  filter: opt(z.string()),
  /** What was left out: Magpie's management connection, e.g. "tcp 10.0.0.5 <-> 10.0.0.9 port 5985". */
  excluded: opt(z.string()),
  startTime: opt(iso),
  endTime: opt(iso),
  durationMs: opt(z.number().int().nonnegative()),
  seconds: opt(z.number().int().nonnegative()),
  maxBytes: opt(z.number().int().nonnegative()),
  /** unknown: an imported capture, taken by hand. */
  stoppedBy: z.enum(['time', 'size', 'interrupted', 'error', 'unknown']),
  complete: z.boolean(),
  packets: opt(z.number().int().nonnegative()),
  error: opt(z.string()),
});

const port = z.number().int().min(0).max(65535);
/** Where in a capture a record comes from: open the file in Wireshark and go to these frames. */
const inCapture = {
  /** The capture file, relative to the evidence folder of its host run. */
  capture: z.string(),
  firstFrame: z.number().int().positive(),
  lastFrame: z.number().int().positive(),
};

/** One conversation in a capture (tshark's tcp.stream / udp.stream), derived on the responder at triage. */
export const FlowRecord = z.looseObject({
  protocol: z.enum(['tcp', 'udp']),
  /** The side that sent the first packet seen (for TCP, the SYN's sender when the SYN was captured). */
  src: z.string(),
  srcPort: port,
  dst: z.string(),
  dstPort: port,
  /** From this host's addresses in the run's connection table: outbound, inbound, local, unknown. */
  direction: opt(z.enum(['outbound', 'inbound', 'local', 'unknown'])),
  firstSeen: iso,
  lastSeen: iso,
  packets: z.number().int().positive(),
  bytes: z.number().int().nonnegative(),
  /** TCP: the SYN was captured; established: the SYN-ACK came back. */
  syn: opt(z.boolean()),
  established: opt(z.boolean()),
  sni: opt(z.string()),
  httpHost: opt(z.string()),
  /** Stratum (mining pool protocol) messages were seen in the payload. */
  stratum: opt(z.boolean()),
  pid: opt(z.number().int().nonnegative()),
  processName: opt(z.string()),
  ...inCapture,
});

/** One DNS query and its answer (if captured). */
export const DnsRecord = z.looseObject({
  query: z.string(),
  type: opt(z.string()),
  /** NoError, NXDomain, ServFail, Refused …; null when no answer was captured. */
  rcode: opt(z.string()),
  answers: z.array(z.string()),
  client: z.string(),
  server: z.string(),
  time: iso,
  /** Shannon entropy (bits per character) of the longest label, its length, and the TLD. */
  entropy: z.number().nonnegative(),
  longestLabel: z.number().int().nonnegative(),
  tld: z.string(),
  ...inCapture,
});

/**
 * The connections from one source to one destination and port, scored for regularity in the
 * manner of RITA: beaconScore 0..1 from the skew and spread of the intervals between connection
 * starts and of the bytes per connection, and from how much of the capture they cover.
 */
export const BeaconRecord = z.looseObject({
  protocol: z.enum(['tcp', 'udp']),
  src: z.string(),
  dst: z.string(),
  dstPort: port,
  direction: opt(z.enum(['outbound', 'inbound', 'local', 'unknown'])),
  connections: z.number().int().positive(),
  intervalSeconds: z.number().nonnegative(),
  jitterSeconds: z.number().nonnegative(),
  beaconScore: z.number().min(0).max(1),
  firstSeen: iso,
  lastSeen: iso,
  pid: opt(z.number().int().nonnegative()),
  processName: opt(z.string()),
  ...inCapture,
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
  capture: CaptureRecord,
  flow: FlowRecord,
  dns: DnsRecord,
  beacon: BeaconRecord,
};

export type HostRecord = z.infer<typeof HostRecord>;
export type ProcessRecord = z.infer<typeof ProcessRecord>;
export type ConnectionRecord = z.infer<typeof ConnectionRecord>;
export type AutorunRecord = z.infer<typeof AutorunRecord>;
export type DetectionRecord = z.infer<typeof DetectionRecord>;
export type EventRecord = z.infer<typeof EventRecord>;
