// Re-hashes an evidence folder and names every file that changed, is missing or was added.
import { existsSync, readdirSync, readFileSync, lstatSync } from 'node:fs';
import { join } from 'node:path';
import { checkCustodyChain } from './custody.ts';
import { sha256File } from './hash.ts';
import { Manifest } from './manifest.ts';
import { parseSums } from './sums.ts';

export interface VerifyReport {
  dir: string;
  checked: number;
  changed: string[];
  missing: string[];
  added: string[];
  problems: string[];
  /** Facts that are not integrity failures (an interrupted run, a folder that never sealed). */
  notes: string[];
  ok: boolean;
}

/** Every non-folder entry below `root`, as /-separated relative paths, sorted. */
export function listFiles(root: string, rel = ''): string[] {
  const out: string[] = [];
  for (const name of readdirSync(join(root, rel)).sort()) {
    const relPath = rel ? `${rel}/${name}` : name;
    const st = lstatSync(join(root, relPath));
    if (st.isDirectory()) out.push(...listFiles(root, relPath));
    else out.push(relPath);
  }
  return out;
}

export async function verifyEvidence(dir: string, onProgress?: (done: number, total: number) => void): Promise<VerifyReport> {
  const report: VerifyReport = { dir, checked: 0, changed: [], missing: [], added: [], problems: [], notes: [], ok: false };
  if (!existsSync(join(dir, 'manifest.json'))) {
    report.problems.push(`${dir} has no manifest.json: it is not a Magpie evidence folder`);
    return report;
  }
  let manifest: Manifest | undefined;
  try {
    manifest = Manifest.parse(JSON.parse(readFileSync(join(dir, 'manifest.json'), 'utf8')));
  } catch (e) {
    report.problems.push(`manifest.json does not match the manifest schema: ${(e as Error).message.slice(0, 500)}`);
  }
  let expected: { sha256: string; path: string }[];
  if (existsSync(join(dir, 'SHA256SUMS'))) {
    try {
      expected = parseSums(readFileSync(join(dir, 'SHA256SUMS'), 'utf8'));
    } catch (e) {
      report.problems.push((e as Error).message);
      expected = [];
    }
  } else {
    report.notes.push('no SHA256SUMS: the collection never finished (crashed or killed); checking against manifest.json instead');
    expected = manifest?.files ?? [];
  }
  if (manifest && manifest.state !== 'complete') report.notes.push(manifest.state === 'running' ? 'the collection stopped without sealing (the run crashed or was killed): steps after the last one listed never ran' : `the collection is ${manifest.state}${manifest.error ? `: ${manifest.error}` : ''}`);

  const listed = new Set(expected.map((e) => e.path));
  listed.add('SHA256SUMS');
  let done = 0;
  for (const { sha256, path } of expected) {
    const file = join(dir, ...path.split('/'));
    if (path.split('/').includes('..') || !existsSync(file)) {
      report.missing.push(path);
    } else if ((await sha256File(file)).sha256 !== sha256) {
      report.changed.push(path);
    }
    report.checked++;
    onProgress?.(++done, expected.length);
  }
  // An unsealed folder's manifest and custody log were still being written: their own checks
  // (schema, hash chain) stand in for a hash.
  if (!existsSync(join(dir, 'SHA256SUMS'))) {
    listed.add('manifest.json');
    listed.add('custody.jsonl');
  }
  // Triage outputs live in triage/<stamp>/ with their own SHA256SUMS: checked, never counted as added evidence.
  const triageRuns = existsSync(join(dir, 'triage')) ? readdirSync(join(dir, 'triage')) : [];
  for (const run of triageRuns) {
    const sumsFile = join(dir, 'triage', run, 'SHA256SUMS');
    if (!existsSync(sumsFile)) continue;
    for (const { sha256, path } of parseSums(readFileSync(sumsFile, 'utf8'))) {
      const rel = `triage/${run}/${path}`;
      listed.add(rel);
      const file = join(dir, 'triage', run, path);
      if (path.includes('/') || !existsSync(file)) report.missing.push(rel);
      else if ((await sha256File(file)).sha256 !== sha256) report.changed.push(rel);
      report.checked++;
    }
    listed.add(`triage/${run}/SHA256SUMS`);
  }
  for (const f of listFiles(dir)) if (!listed.has(f)) report.added.push(f);
  if (manifest) {
    const summed = new Map(expected.map((e) => [e.path, e.sha256]));
    for (const f of manifest.files) {
      const inSums = summed.get(f.path);
      if (inSums && inSums !== f.sha256) report.problems.push(`${f.path}: manifest.json and SHA256SUMS disagree on its hash`);
    }
  }
  if (existsSync(join(dir, 'custody.jsonl'))) report.problems.push(...checkCustodyChain(join(dir, 'custody.jsonl')));
  else report.missing.includes('custody.jsonl') || report.problems.push('custody.jsonl is missing');
  report.ok = !report.changed.length && !report.missing.length && !report.added.length && !report.problems.length;
  return report;
}
