// Records a step's tool output becomes on the responder (step.yaml `records:`): after the fetch,
// the file the step left in its files/ is read by the same importer `magpie import` uses, and the
// records are appended to the step's records.jsonl (the importer's warnings to its stderr.log).
// One parser, so a tool run by Magpie and the same tool's output imported later give identical
// records. The file itself stays in files/ as it came from the host, hashed like any evidence.
import { appendFileSync, existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import type { PlannedStep } from './plan.ts';
import type { ImportOptions, Importer } from './importers/types.ts';

async function importerFor(name: 'autoruns'): Promise<Importer> {
  // Loaded only for a step that asks for it.
  switch (name) {
    case 'autoruns':
      return (await import('./importers/autoruns.ts')).importAutoruns;
  }
}

/**
 * `stageDir`: the step's fetched output (records.jsonl, stderr.log, files/). Returns how many
 * records were added, or why none could be made (the file is missing or is not the tool's output).
 */
export async function addStepRecords(step: PlannedStep, stageDir: string): Promise<{ records: number; warnings: string[] } | { error: string }> {
  const spec = step.records;
  if (!spec) return { records: 0, warnings: [] };
  const file = join(stageDir, 'files', spec.file);
  if (!existsSync(file)) return { error: `the step wrote no files/${spec.file} to read its records from` };
  const importer = await importerFor(spec.importer);
  const opts: ImportOptions = spec.utc ? { timesUtc: true } : {};
  let result;
  try {
    result = importer(readFileSync(file), `files/${spec.file}`, opts);
  } catch (e) {
    return { error: `files/${spec.file} could not be read as ${spec.importer} output (kept as it came): ${(e as Error).message}` };
  }
  if (result.kind !== step.kind) return { error: `files/${spec.file} gave ${result.kind} records, but the step is of kind ${step.kind}` };
  const lines = result.records.map((r) => JSON.stringify(r) + '\n').join('');
  if (lines) appendFileSync(join(stageDir, 'records.jsonl'), lines);
  const note = `[responder] ${result.records.length} ${result.kind} records read from files/${spec.file} by the ${spec.importer} importer (as magpie import ${spec.importer} reads it)`;
  appendFileSync(join(stageDir, 'stderr.log'), [...result.warnings.map((w) => `[warning] ${w}`), note].join('\n') + '\n');
  return { records: result.records.length, warnings: result.warnings };
}
