// Existing tool output → an evidence folder of the usual shape (one step per file, the source
// file kept under files/), marked as imported.
import { copyFileSync, mkdtempSync, readFileSync, rmSync, writeFileSync, mkdirSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { basename, join } from 'node:path';
import { InputError } from '../errors.ts';
import { sha256Text } from '../evidence/hash.ts';
import { EvidenceWriter } from '../evidence/writer.ts';
import type { Plan, PlannedStep } from '../plan.ts';
import { importAutoruns } from './autoruns.ts';
import { importDefender } from './defender.ts';
import { importNetstat } from './netstat.ts';
import { importProcessCsv } from './processes-csv.ts';
import { importTasklist } from './tasklist.ts';
import type { Importer } from './types.ts';

export const IMPORTERS: Record<string, { importer: Importer; what: string }> = {
  autoruns: { importer: importAutoruns, what: 'autorunsc -c CSV (UTF-16 or UTF-8)' },
  netstat: { importer: importNetstat, what: 'netstat -ano / -anob text' },
  tasklist: { importer: importTasklist, what: 'tasklist /fo csv, tasklist /v' },
  'processes-csv': { importer: importProcessCsv, what: 'Get-Process or Get-CimInstance Win32_Process | Export-Csv' },
  defender: { importer: importDefender, what: 'Get-MpThreatDetection, Defender event log, Get-MpComputerStatus or Get-MpPreference as JSON' },
};

export async function importFiles(kindName: string, files: string[], opts: { host: string; caseId: string; out: string; operator?: string }): Promise<{ dir: string; records: number; warnings: string[] }> {
  const entry = IMPORTERS[kindName];
  if (!entry) throw new InputError(`unknown import kind "${kindName}"; known: ${Object.keys(IMPORTERS).join(', ')}`);
  // Parse everything first: bad input stops before any folder exists.
  const parsed = files.map((file) => {
    let buf: Buffer;
    try {
      buf = readFileSync(file);
    } catch (e) {
      throw new InputError(`cannot read: ${(e as Error).message}`, { file });
    }
    return { file, buf, result: entry.importer(buf, file) };
  });
  const steps: PlannedStep[] = parsed.map(({ file, result }, i) => ({
    index: i + 1,
    id: `import-${kindName}`,
    stepId: `import-${kindName}`,
    description: `${entry.what}: ${basename(file)}`,
    kind: result.kind,
    timeoutSec: 1,
    continueOnError: true,
    admin: false,
    params: { source: basename(file) },
    tools: [],
    scripts: {},
    source: file,
  }));
  const plan: Plan = { playbook: { name: `import-${kindName}`, file: '(magpie import)', sha256: sha256Text(`import-${kindName}`), params: {} }, steps };
  const writer = EvidenceWriter.create({ root: opts.out, caseId: opts.caseId, targetName: opts.host, transport: 'import', plan, operator: opts.operator });
  writer.setImported({ kind: kindName, files: parsed.map(({ file, buf }) => ({ name: basename(file), size: buf.length, sha256: sha256Text(buf) })) }, opts.host);
  const warnings: string[] = [];
  let records = 0;
  for (const [i, { file, result }] of parsed.entries()) {
    const stage = mkdtempSync(join(tmpdir(), 'magpie-import-'));
    try {
      writeFileSync(join(stage, 'records.jsonl'), result.records.map((r) => JSON.stringify(r) + '\n').join(''));
      writeFileSync(join(stage, 'stderr.log'), result.warnings.map((w) => `[warning] ${w}\n`).join(''));
      mkdirSync(join(stage, 'files'));
      copyFileSync(file, join(stage, 'files', basename(file)));
      const started = new Date();
      await writer.recordStep(steps[i], { status: 'ok', reason: null, partial: false, os: null, fetched: stage, started, ended: new Date() });
    } finally {
      rmSync(stage, { recursive: true, force: true });
    }
    records += result.records.length;
    warnings.push(...result.warnings);
  }
  const dir = await writer.finish('complete');
  return { dir, records, warnings };
}
