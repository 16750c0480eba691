// Velociraptor collection results: one JSON object a line (JSONL, as the GUI and `velociraptor
// artifacts collect --format jsonl` write them), or a JSON array. The artifact is told from the
// columns its query SELECTs (artifacts/definitions in Velocidex/velociraptor):
// - Windows.Network.NetstatEnriched: Pid, Ppid, Name, Path, CommandLine, Hash, Username,
//   Authenticode, Family, Type, Status, Laddr, Lport, Raddr, Rport, Timestamp;
//   Windows.Network.Netstat: Pid, Family, Type, Status, Laddr.IP, Laddr.Port, Raddr.IP, Raddr.Port, Timestamp;
// - Windows.System.Pslist: CreateTime, Pid, Ppid, TokenIsElevated, Name, CommandLine, Exe,
//   TokenInfo, Hash {MD5, SHA1, SHA256}, Authenticode {Trusted, SubjectName, …}, Username;
// - Windows.Sys.StartupItems: Name, OSPath (FullPath before 0.6.8), Details, Enabled;
// - Windows.Sysinternals.Autoruns: autorunsc's CSV columns (Entry Location, Entry, …).
// Hunt exports add ClientId, FlowId, Fqdn and _Source; they are ignored.
import { InputError } from '../errors.ts';
import type { RecordKind } from '../definitions.ts';
import { autorunRecords } from './autoruns.ts';
import { DateReader } from './dates.ts';
import { decodeText, hashOrNull, jsonItems, nonEmpty } from './text.ts';
import type { Imported, ImportOptions, Importer } from './types.ts';

type Row = Record<string, unknown>;

const STATES: Record<string, string> = {
  ESTAB: 'Established', ESTABLISHED: 'Established', LISTEN: 'Listen', LISTENING: 'Listen', SYNSENT: 'SynSent', SYNRECV: 'SynReceived',
  SYNRCVD: 'SynReceived', SYNRECEIVED: 'SynReceived', FINWAIT1: 'FinWait1', FINWAIT2: 'FinWait2', TIMEWAIT: 'TimeWait', CLOSE: 'Closed',
  CLOSED: 'Closed', CLOSEWAIT: 'CloseWait', LASTACK: 'LastAck', CLOSING: 'Closing', DELETETCB: 'DeleteTCB', BOUND: 'Bound',
};

const isObj = (v: unknown): v is Row => !!v && typeof v === 'object' && !Array.isArray(v);

/** A column filled by a VQL subquery may arrive as the value, a one-row list, or a one-column row. */
function scalar(v: unknown, field?: string): unknown {
  if (Array.isArray(v)) return scalar(v[0], field);
  if (isObj(v) && field && field in v) return v[field];
  return v;
}

const str = (v: unknown, field?: string): string | null => {
  const s = scalar(v, field);
  return s === null || s === undefined || isObj(s) ? null : nonEmpty(s);
};

const num = (v: unknown, field?: string): number | null => {
  const s = scalar(v, field);
  const n = typeof s === 'number' ? s : typeof s === 'string' && s.trim() !== '' ? Number(s) : NaN;
  return Number.isInteger(n) && n >= 0 ? n : null;
};

/** Authenticode.Trusted: "trusted" is a valid signature; "unsigned", "untrusted", "disallowed", "error" are not. */
function signature(a: unknown): { signatureStatus: string | null; signer: string | null; signed: boolean | null } {
  const auth = scalar(a, 'Authenticode');
  if (!isObj(auth)) return { signatureStatus: null, signer: null, signed: null };
  const trusted = nonEmpty(auth.Trusted);
  const subject = nonEmpty(auth.SubjectName);
  const cn = subject ? (/(?:^|,\s*)CN=("[^"]*"|[^,]*)/.exec(subject)?.[1]?.replace(/^"|"$/g, '') ?? subject) : null;
  return { signatureStatus: trusted, signer: cn, signed: trusted === null ? null : /^trusted$/i.test(trusted) };
}

function hashes(h: unknown): { md5: string | null; sha1: string | null; sha256: string | null } {
  const o = scalar(h, 'Hash');
  if (!isObj(o)) return { md5: null, sha1: null, sha256: null };
  return { md5: hashOrNull(o.MD5, 32), sha1: hashOrNull(o.SHA1, 40), sha256: hashOrNull(o.SHA256, 64) };
}

type Artifact = 'netstat' | 'pslist' | 'startup' | 'autoruns';

function artifactOf(r: Row): Artifact | null {
  const src = typeof r._Source === 'string' ? r._Source : '';
  if (/Network\.Netstat/i.test(src) || (('Laddr' in r || 'Laddr.IP' in r) && ('Type' in r || 'Family' in r))) return 'netstat';
  if (/Sysinternals\.Autoruns|Sys\.Autoruns/i.test(src) || ('Entry Location' in r && 'Entry' in r)) return 'autoruns';
  if (/StartupItems/i.test(src) || ('Name' in r && ('OSPath' in r || 'FullPath' in r) && 'Details' in r)) return 'startup';
  if (/Pslist/i.test(src) || ('Pid' in r && 'Ppid' in r && ('Exe' in r || 'CreateTime' in r))) return 'pslist';
  return null;
}

const KIND: Record<Artifact, RecordKind> = { netstat: 'connection', pslist: 'process', startup: 'autorun', autoruns: 'autorun' };
const NAME: Record<Artifact, string> = { netstat: 'Windows.Network.NetstatEnriched', pslist: 'Windows.System.Pslist', startup: 'Windows.Sys.StartupItems', autoruns: 'Windows.Sysinternals.Autoruns' };

function connection(r: Row, dates: DateReader, i: number): Row | null {
  const type = String(scalar(r.Type) ?? '').toUpperCase();
  if (type !== 'TCP' && type !== 'UDP') return null;
  const laddr = str(r.Laddr, 'IP') ?? str(r['Laddr.IP']);
  const lport = num(r.Lport) ?? num(r.Laddr, 'Port') ?? num(r['Laddr.Port']);
  if (laddr === null || lport === null) return null;
  const tcp = type === 'TCP';
  const status = str(r.Status);
  const state = status ? (STATES[status.toUpperCase().replace(/[_\s-]/g, '')] ?? status) : null;
  return {
    protocol: tcp ? 'tcp' : 'udp',
    localAddress: laddr,
    localPort: lport,
    remoteAddress: tcp ? (str(r.Raddr, 'IP') ?? str(r['Raddr.IP'])) : null,
    remotePort: tcp ? (num(r.Rport) ?? num(r.Raddr, 'Port') ?? num(r['Raddr.Port'])) : null,
    state: tcp ? state : null,
    pid: num(r.Pid),
    processName: str(r.Name, 'Name'),
    processPath: str(r.Path, 'Exe'),
    processCommandLine: str(r.CommandLine, 'CommandLine'),
    user: str(r.Username, 'Username'),
    family: str(r.Family),
    createdTime: dates.iso(scalar(r.Timestamp) ?? null, `row ${i + 1} Timestamp`),
    ...hashes(r.Hash),
    ...signature(r.Authenticode),
  };
}

function processRow(r: Row, dates: DateReader, i: number): Row | null {
  const pid = num(r.Pid);
  const name = str(r.Name);
  if (pid === null || name === null) return null;
  const elevated = scalar(r.TokenIsElevated);
  return {
    pid,
    ppid: num(r.Ppid),
    name,
    path: str(r.Exe),
    commandLine: str(r.CommandLine),
    user: str(r.Username),
    startTime: dates.iso(scalar(r.CreateTime) ?? null, `row ${i + 1} CreateTime`),
    elevated: typeof elevated === 'boolean' ? elevated : null,
    ...hashes(r.Hash),
    ...signature(r.Authenticode),
  };
}

const HIVES: [RegExp, string][] = [[/^HKEY_LOCAL_MACHINE\\/i, 'HKLM\\'], [/^HKEY_USERS\\/i, 'HKU\\'], [/^HKEY_CURRENT_USER\\/i, 'HKCU\\']];

/** The program a launch string starts: the quoted first token, or up to the first executable extension. */
export function imageOf(command: string): string {
  const s = command.trim();
  if (s.startsWith('"')) {
    const end = s.indexOf('"', 1);
    return end > 0 ? s.slice(1, end) : s.slice(1);
  }
  const m = /^(.*?\.(?:exe|com|bat|cmd|ps1|vbs|vbe|js|jse|wsf|hta|dll|scr|cpl|msi|lnk))(?=\s|,|$)/i.exec(s);
  return m ? m[1] : s.split(/\s+/)[0];
}

function startupRow(r: Row): Row | null {
  const name = str(r.Name);
  const osPath = str(r.OSPath) ?? str(r.FullPath);
  if (name === null || osPath === null) return null;
  const registry = /^HKEY_/i.test(osPath);
  const cut = Math.max(osPath.lastIndexOf('\\'), osPath.lastIndexOf('/'));
  let location = cut > 0 ? osPath.slice(0, cut) : osPath;
  for (const [re, short] of HIVES) location = location.replace(re, short);
  const details = scalar(r.Details);
  const launch = typeof details === 'string' ? nonEmpty(details) : null;
  const lnkTarget = isObj(details) ? (str(details.LinkTarget, 'LinkTarget') ?? str(isObj(details.LinkInfo) ? details.LinkInfo.LocalBasePath : null)) : null;
  const user = registry ? /^HKEY_USERS\\([^\\]+)/i.exec(osPath)?.[1] : /[\\/]Users[\\/]([^\\/]+)[\\/]/i.exec(osPath)?.[1];
  const enabled = str(r.Enabled);
  return {
    location,
    entry: name,
    category: 'Logon',
    enabled: enabled === null ? null : /^enabled?$/i.test(enabled),
    profile: user ?? 'System-wide',
    description: null,
    company: null,
    signer: null,
    signed: null,
    imagePath: registry ? (launch ? imageOf(launch) : null) : (lnkTarget ?? osPath),
    launchString: registry ? launch : (lnkTarget ?? osPath),
    time: null,
    ...(isObj(details) && !lnkTarget ? hashes(details) : { md5: null, sha1: null, sha256: null }),
  };
}

export function importVelociraptorRows(rows: Row[], name: string, opts: ImportOptions = {}): Imported {
  const counts = new Map<Artifact | null, number>();
  for (const r of rows) counts.set(artifactOf(r), (counts.get(artifactOf(r)) ?? 0) + 1);
  const artifact = [...counts].filter(([a]) => a !== null).sort((a, b) => b[1] - a[1])[0]?.[0] as Artifact | undefined;
  if (!artifact) {
    throw new InputError('not a Velociraptor result this importer knows: expected rows of Windows.Network.NetstatEnriched (Laddr, Lport, Type), Windows.System.Pslist (Pid, Ppid, Exe), Windows.Sys.StartupItems (Name, OSPath, Details) or Windows.Sysinternals.Autoruns (Entry Location, Entry)', { file: name });
  }
  const mine = rows.filter((r) => artifactOf(r) === artifact);
  const warnings: string[] = [];
  const others = rows.length - mine.length;
  if (others) warnings.push(`${name}: ${others} row${others === 1 ? ' is' : 's are'} not ${NAME[artifact]} (the file mixes artifacts: import each artifact's rows as its own file), skipped`);
  if (artifact === 'autoruns') {
    const r = autorunRecords(mine, name, opts, 'Windows.Sysinternals.Autoruns');
    return { ...r, warnings: [...warnings, ...r.warnings] };
  }
  const dates = new DateReader(name, opts.dateOrder).decide(mine.map((r) => scalar(artifact === 'netstat' ? r.Timestamp : r.CreateTime)));
  const records: Row[] = [];
  let bad = 0;
  mine.forEach((r, i) => {
    const rec = artifact === 'netstat' ? connection(r, dates, i) : artifact === 'pslist' ? processRow(r, dates, i) : startupRow(r);
    if (rec) records.push(rec);
    else bad++;
  });
  if (bad) warnings.push(`${name}: ${bad} ${NAME[artifact]} row${bad === 1 ? '' : 's'} without the fields a record needs (${artifact === 'netstat' ? 'Type TCP/UDP, Laddr, Lport' : artifact === 'pslist' ? 'Pid, Name' : 'Name, OSPath'}), skipped`);
  warnings.push(...dates.warnings());
  return { kind: KIND[artifact], records, warnings };
}

export const importVelociraptor: Importer = (buf, name, opts = {}) => {
  let items: unknown[];
  try {
    items = jsonItems(decodeText(buf));
  } catch (e) {
    throw new InputError(`not Velociraptor JSONL (one JSON object a line): ${(e as Error).message}`, { file: name });
  }
  const rows = items.filter(isObj);
  if (!rows.length) throw new InputError('no rows: a Velociraptor result has one JSON object a line', { file: name });
  return importVelociraptorRows(rows, name, opts);
};
