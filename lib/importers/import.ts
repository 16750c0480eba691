// Existing tool output → an evidence folder of the usual shape (one step per file, the source
// file kept under files/), marked as imported. Several kinds may be imported together for one
// host (a netstat and a tasklist): one folder, one step per source, so triage joins them; the
// manifest says the sources were captured separately (a PID may have been reused in between).
import { copyFileSync, createWriteStream, mkdtempSync, readFileSync, rmSync, writeFileSync, mkdirSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { basename, join } from 'node:path';
import { InputError } from '../errors.ts';
import { sha256File, sha256Text } from '../evidence/hash.ts';
import { EvidenceWriter } from '../evidence/writer.ts';
import type { Plan, PlannedStep } from '../plan.ts';
import { importAutoruns } from './autoruns.ts';
import { importDefender } from './defender.ts';
import { importEvtx } from './evtx.ts';
import { importNetstat } from './netstat.ts';
import { importPcap } from './pcap.ts';
import { importProcessCsv } from './processes-csv.ts';
import { importTasklist } from './tasklist.ts';
import type { Imported, ImportOptions, Importer } from './types.ts';
import type { RecordKind } from '../definitions.ts';
import { importVelociraptor } from './velociraptor.ts';
import type { DateOrder } from './dates.ts';

/**
 * A kind read from its file as a stream (a tool run on it, records handed over one by one), for
 * sources too large for memory: the records go to onRecord, in order, awaited.
 */
export type StreamImporter = (file: string, onRecord: (r: Record<string, unknown>) => void | Promise<void>) => Promise<{ kind: RecordKind; count: number; warnings: string[] }>;

/** The in-memory form of a stream-only kind: says how to read it instead. */
const streamOnly = (kind: string): Importer => (_buf: Buffer, name: string): Imported => {
  throw new InputError(`${kind} is read from the file itself, as a stream (magpie import ${kind} FILE, importSources), not from a buffer`, { file: name });
};

export const IMPORTERS: Record<string, { importer: Importer; what: string; stream?: StreamImporter }> = {
  autoruns: { importer: importAutoruns, what: 'autorunsc -c CSV (UTF-16 or UTF-8), -x XML, or the CSV through Import-Csv | ConvertTo-Json' },
  netstat: { importer: importNetstat, what: 'netstat -ano / -anob / -an text' },
  tasklist: { importer: importTasklist, what: 'tasklist /fo csv, tasklist /v' },
  'processes-csv': { importer: importProcessCsv, what: 'Get-Process or Get-CimInstance Win32_Process | Export-Csv' },
  defender: { importer: importDefender, what: 'Get-MpThreatDetection, Get-MpComputerStatus or Get-MpPreference JSON; Defender events from Get-WinEvent | ConvertTo-Json, an evtx parser\'s JSON, or wevtutil qe /f:xml' },
  velociraptor: { importer: importVelociraptor, what: 'Velociraptor JSONL: Windows.Network.NetstatEnriched, Windows.System.Pslist, Windows.Sys.StartupItems, Windows.Sysinternals.Autoruns' },
  pcap: { importer: streamOnly('pcap'), stream: importPcap, what: 'a packet capture (pcap or pcapng: Wireshark, tcpdump, dumpcap, etl2pcapng), read at triage with tshark (apt-get install tshark)' },
  evtx: { importer: streamOnly('evtx'), stream: (file, onRecord) => importEvtx(file, onRecord), what: 'Windows event logs (.evtx), every event, read with libyal\'s evtxexport (apt-get install libevtx-utils)' },
};

/** A stream kind's records written to stage/records.jsonl as they come (the stage is removed on failure). */
async function stageStream(stream: StreamImporter, file: string): Promise<{ stage: string; result: Imported & { count: number }; size: number; sha256: string }> {
  const stage = mkdtempSync(join(tmpdir(), 'magpie-import-'));
  try {
    const out = createWriteStream(join(stage, 'records.jsonl'));
    const closed = new Promise<void>((resolve, reject) => {
      out.once('error', reject);
      out.once('close', resolve);
    });
    let r;
    try {
      r = await stream(file, async (rec) => {
        if (!out.write(JSON.stringify(rec) + '\n')) await new Promise<void>((resolve, reject) => {
          out.once('drain', resolve);
          out.once('error', reject);
        });
      });
    } finally {
      out.end();
      await closed;
    }
    const { sha256, size } = await sha256File(file);
    return { stage, result: { kind: r.kind, records: [], warnings: r.warnings, count: r.count }, size, sha256 };
  } catch (e) {
    rmSync(stage, { recursive: true, force: true });
    throw e;
  }
}

/** One source file and the kind it is read as. */
export interface ImportSource {
  kind: string;
  file: string;
}

export interface ImportRunOptions extends ImportOptions {
  host: string;
  caseId: string;
  out: string;
  operator?: string;
  dateOrder?: DateOrder;
}

/** The old single-kind form: every file read as one kind. */
export function importFiles(kindName: string, files: string[], opts: ImportRunOptions): Promise<{ dir: string; records: number; warnings: string[] }> {
  return importSources(files.map((file) => ({ kind: kindName, file })), opts);
}

export async function importSources(sources: ImportSource[], opts: ImportRunOptions): Promise<{ dir: string; records: number; warnings: string[] }> {
  if (!sources.length) throw new InputError('nothing to import: give a kind and one or more files');
  for (const { kind } of sources) {
    if (!IMPORTERS[kind]) throw new InputError(`unknown import kind "${kind}"; known: ${Object.keys(IMPORTERS).join(', ')}`);
  }
  const kinds = [...new Set(sources.map((s) => s.kind))];
  const label = kinds.join('+');
  const several = sources.length > 1 && kinds.length > 1;
  // Parse everything first: bad input stops before any folder exists. A stream kind's records are
  // staged in a temporary records.jsonl as they come, not held in memory.
  const parsed: { kind: string; file: string; size: number; sha256: string; result: Imported & { count: number }; stage?: string }[] = [];
  try {
    for (const { kind, file } of sources) {
      const stream = IMPORTERS[kind].stream;
      if (stream) {
        const s = await stageStream(stream, file);
        parsed.push({ kind, file, ...s });
        continue;
      }
      let buf: Buffer;
      try {
        buf = readFileSync(file);
      } catch (e) {
        throw new InputError(`cannot read: ${(e as Error).message}`, { file });
      }
      const result = IMPORTERS[kind].importer(buf, file, { dateOrder: opts.dateOrder });
      parsed.push({ kind, file, size: buf.length, sha256: sha256Text(buf), result: { ...result, count: result.records.length } });
    }
  } catch (e) {
    for (const p of parsed) if (p.stage) rmSync(p.stage, { recursive: true, force: true });
    throw e;
  }
  const steps: PlannedStep[] = parsed.map(({ kind, file, result }, i) => ({
    index: i + 1,
    id: `import-${kind}`,
    stepId: `import-${kind}`,
    description: `${IMPORTERS[kind].what}: ${basename(file)}`,
    kind: result.kind,
    timeoutSec: 1,
    continueOnError: true,
    admin: false,
    params: { source: basename(file), importKind: kind, ...(several ? { capturedSeparately: true } : {}), ...(opts.dateOrder ? { dateOrder: opts.dateOrder } : {}) },
    tools: [],
    scripts: {},
    source: file,
  }));
  const playbookParams: Record<string, string | boolean | string[]> = several
    ? { sources: parsed.map(({ kind, file }) => `${kind}:${basename(file)}`), capturedSeparately: true, note: 'the sources were captured separately, at different times: a PID in one may have been reused before another was taken' }
    : {};
  if (opts.dateOrder) playbookParams.dateOrder = opts.dateOrder;
  const plan: Plan = { playbook: { name: `import-${label}`, file: '(magpie import)', sha256: sha256Text(`import-${label}`), params: playbookParams }, steps };
  const writer = EvidenceWriter.create({ root: opts.out, caseId: opts.caseId, targetName: opts.host, transport: 'import', plan, operator: opts.operator });
  writer.setImported(
    { kind: label, files: parsed.map(({ file, size, sha256, kind }) => ({ name: basename(file), size, sha256, kind })), ...(several ? { capturedSeparately: true } : {}) },
    opts.host,
  );
  const warnings: string[] = [];
  let records = 0;
  try {
    for (const [i, { file, result, stage: staged }] of parsed.entries()) {
      const stage = staged ?? mkdtempSync(join(tmpdir(), 'magpie-import-'));
      try {
        if (!staged) writeFileSync(join(stage, 'records.jsonl'), result.records.map((r) => JSON.stringify(r) + '\n').join(''));
        writeFileSync(join(stage, 'stderr.log'), result.warnings.map((w) => `[warning] ${w}\n`).join(''));
        mkdirSync(join(stage, 'files'));
        copyFileSync(file, join(stage, 'files', basename(file)));
        const started = new Date();
        await writer.recordStep(steps[i], { status: 'ok', reason: null, partial: false, os: null, fetched: stage, started, ended: new Date() });
      } finally {
        rmSync(stage, { recursive: true, force: true });
      }
      records += result.count;
      warnings.push(...result.warnings);
    }
  } finally {
    for (const p of parsed) if (p.stage) rmSync(p.stage, { recursive: true, force: true });
  }
  const dir = await writer.finish('complete');
  return { dir, records, warnings };
}
