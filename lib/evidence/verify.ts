// Re-hashes an evidence folder and names every file that changed, is missing or was added.
// Three accounts must agree with the disk and with each other: manifest.json, SHA256SUMS and
// the custody chain. The chain's seal entry holds the hashes of manifest.json and SHA256SUMS,
// and its head (printed) is what a responder notes elsewhere: re-hashing a forged record into
// the manifest and the sums does not fool it, because the custody log still holds the original.
import { existsSync, readdirSync, readFileSync, lstatSync, type Stats } from 'node:fs';
import { join } from 'node:path';
import { readCustody, type CustodyEntry } from './custody.ts';
import { sha256File, sha256Text } from './hash.ts';
import { Manifest } from './manifest.ts';
import { parseSums, type SumEntry } from './sums.ts';

export interface VerifyReport {
  dir: string;
  checked: number;
  changed: string[];
  missing: string[];
  added: string[];
  problems: string[];
  /** Facts that are not integrity failures (an interrupted run, a folder that never sealed). */
  notes: string[];
  /** SHA-256 of custody.jsonl's last line: note it in the ticket; any later rewrite changes it. */
  head: string | null;
  /** SHA-256 of the seal entry's line (the head when collection ended; later triage entries follow it). */
  sealHead: string | null;
  /** Triage runs recorded in the custody log, with when they ran. */
  triageRuns: { dir: string; time: string }[];
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

/** A path as evidence lists name it: relative, `/`-separated, no `.`/`..`/empty segments. */
export function isPlainRelative(path: string): boolean {
  if (path.startsWith('/') || /^[A-Za-z]:/.test(path) || path.includes('\\') || path.includes('\0')) return false;
  return path.split('/').every((seg) => seg !== '' && seg !== '.' && seg !== '..');
}

const ROOT_FILES = new Set(['manifest.json', 'SHA256SUMS', 'custody.jsonl']);
/** What a run leaves while it is still going (or if it died): described, not counted as added. */
const WORK_FILES = /^(\.staging\/|\.reserve$|\.manifest\.json\.tmp$|custody\.jsonl\.lock$)/;

function recordedFiles(entries: CustodyEntry[]): Map<string, string> {
  const out = new Map<string, string>();
  for (const e of entries) {
    if (e.action !== 'step-recorded' || !Array.isArray(e.files)) continue;
    for (const f of e.files as { path: string; sha256: string }[]) out.set(f.path, f.sha256);
  }
  return out;
}

export async function verifyEvidence(dir: string, onProgress?: (done: number, total: number) => void): Promise<VerifyReport> {
  const report: VerifyReport = { dir, checked: 0, changed: [], missing: [], added: [], problems: [], notes: [], head: null, sealHead: null, triageRuns: [], ok: false };
  if (!existsSync(join(dir, 'manifest.json'))) {
    report.problems.push(`${dir} has no manifest.json: it is not a Magpie evidence folder`);
    return report;
  }
  let manifest: Manifest | undefined;
  const manifestText = readFileSync(join(dir, 'manifest.json'));
  const manifestSha = sha256Text(manifestText);
  try {
    manifest = Manifest.parse(JSON.parse(manifestText.toString('utf8')));
  } catch (e) {
    report.problems.push(`manifest.json does not match the manifest schema: ${(e as Error).message.slice(0, 500)}`);
  }
  const sealed = existsSync(join(dir, 'SHA256SUMS'));
  let sums: SumEntry[] = [];
  if (sealed) {
    try {
      sums = parseSums(readFileSync(join(dir, 'SHA256SUMS'), 'utf8'));
    } catch (e) {
      report.problems.push((e as Error).message);
    }
    sums.forEach((s, i) => {
      if (!isPlainRelative(s.path)) report.problems.push(`SHA256SUMS:${i + 1}: "${s.path}" points outside the evidence folder or is not a plain relative path: the sums were tampered with`);
    });
    sums = sums.filter((s) => isPlainRelative(s.path));
  }

  // The custody log: its chain, its seal, the files each step recorded, and triage runs.
  let entries: CustodyEntry[] = [];
  let seal: CustodyEntry | undefined;
  if (existsSync(join(dir, 'custody.jsonl'))) {
    const c = readCustody(join(dir, 'custody.jsonl'));
    entries = c.entries;
    report.problems.push(...c.problems);
    report.head = c.head;
    report.sealHead = c.sealHead;
    seal = entries.find((e) => e.action === 'collection-sealed' || e.action === 'collection-interrupted');
  } else {
    report.missing.push('custody.jsonl');
  }
  const custodyFiles = recordedFiles(entries);

  if (manifest) {
    if (manifest.state === 'running') {
      const tmp = join(dir, '.manifest.json.tmp');
      if (existsSync(tmp) && lstatSync(tmp).size === 0) report.notes.push('disk full during the run: the manifest could not be saved any more (a 0-byte .manifest.json.tmp is left); steps after the last one listed never ran or were not recorded');
      else report.notes.push('the collection stopped without sealing (the run crashed or was killed): steps after the last one listed never ran');
    } else if (manifest.state !== 'complete') {
      report.notes.push(`the collection is ${manifest.state}${manifest.error ? `: ${manifest.error}` : ''}`);
    }
  }
  if (!sealed) report.notes.push('no SHA256SUMS: the collection never finished (crashed or killed); checking against manifest.json and custody.jsonl instead');

  // Root files: the seal anchors manifest.json and SHA256SUMS in the chain.
  if (sealed) {
    if (!seal || typeof seal.manifestSha256 !== 'string' || typeof seal.sumsSha256 !== 'string') {
      report.problems.push('custody.jsonl has no seal entry holding the hashes of manifest.json and SHA256SUMS: the log was cut or rewritten (or the folder was sealed by a Magpie before 0.2)');
    } else {
      if (manifestSha !== seal.manifestSha256) report.changed.push('manifest.json');
      if ((await sha256File(join(dir, 'SHA256SUMS'))).sha256 !== seal.sumsSha256) report.changed.push('SHA256SUMS');
    }
    const manifestSum = sums.find((s) => s.path === 'manifest.json');
    if (!manifestSum) report.problems.push('SHA256SUMS does not list manifest.json');
    else if (manifestSha !== manifestSum.sha256) report.changed.includes('manifest.json') || report.changed.push('manifest.json');
  }

  // Collected files: each must stand in the manifest, the sums (once sealed) and the custody log, with one hash.
  const inManifest = new Map((manifest?.files ?? []).filter((f) => f.path !== 'custody.jsonl').map((f) => [f.path, f.sha256]));
  const inSums = new Map(sums.filter((s) => !ROOT_FILES.has(s.path)).map((s) => [s.path, s.sha256]));
  const expected = new Set([...inManifest.keys(), ...(sealed ? inSums.keys() : []), ...custodyFiles.keys()]);
  let done = 0;
  for (const path of [...expected].sort()) {
    onProgress?.(++done, expected.size);
    if (!isPlainRelative(path)) {
      report.problems.push(`"${path}" is listed as evidence but is not a plain relative path: tampering`);
      continue;
    }
    const accounts: [string, string | undefined][] = [
      ['manifest.json', inManifest.get(path)],
      ['custody.jsonl', custodyFiles.get(path)],
      ...(sealed ? ([['SHA256SUMS', inSums.get(path)]] as [string, string | undefined][]) : []),
    ];
    for (const [where, sha] of accounts) if (sha === undefined) report.problems.push(`${path}: not in ${where}, though ${accounts.filter(([, s]) => s).map(([w]) => w).join(' and ')} list it`);
    const found = await inspect(dir, path);
    if (found.kind === 'missing') {
      report.missing.push(path);
      continue;
    }
    report.checked++;
    if (found.kind === 'other') {
      report.problems.push(`${path}: not a regular file (${found.what}); evidence files are regular files`);
      continue;
    }
    const actual = found.sha256;
    const disagree = accounts.filter(([, sha]) => sha !== undefined && sha !== actual).map(([w]) => w);
    if (disagree.length) {
      report.changed.push(path);
      if (disagree.length < accounts.filter(([, s]) => s).length) report.problems.push(`${path}: its hash matches ${accounts.filter(([w, s]) => s && !disagree.includes(w)).map(([w]) => w).join(' and ')} but not ${disagree.join(' and ')}: re-hashed after collection`);
    }
  }

  // Triage outputs: only folders that a triage run recorded in the custody log, checked against it.
  const triageListed = new Set<string>();
  for (const e of entries) {
    if (e.action !== 'triage-written' || typeof e.dir !== 'string' || !Array.isArray(e.files)) continue;
    report.triageRuns.push({ dir: e.dir, time: e.time });
    for (const f of e.files as { path: string; sha256: string }[]) {
      const rel = `${e.dir}/${f.path}`;
      if (!isPlainRelative(rel) || !rel.startsWith('triage/')) {
        report.problems.push(`custody.jsonl:${e.seq}: triage path "${rel}" is not inside triage/: tampering`);
        continue;
      }
      triageListed.add(rel);
      const found = await inspect(dir, rel);
      if (found.kind === 'missing') report.missing.push(rel);
      else if (found.kind === 'other') report.problems.push(`${rel}: not a regular file (${found.what})`);
      else if (found.sha256 !== f.sha256) report.changed.push(rel);
      report.checked++;
    }
  }

  for (const f of listFiles(dir)) {
    if (ROOT_FILES.has(f) || expected.has(f) || triageListed.has(f)) {
      const st = ROOT_FILES.has(f) ? lstatSync(join(dir, f)) : undefined;
      if (st && !st.isFile()) report.problems.push(`${f}: not a regular file (${describeKind(st)})`);
      continue;
    }
    if (WORK_FILES.test(f) && manifest?.state !== 'complete') {
      report.notes.push(f.startsWith('.staging/') ? `${f}: written by a step but never recorded (the run stopped, or the disk filled, first): not evidence the manifest vouches for` : `${f}: left by a run that did not finish`);
      continue;
    }
    report.added.push(f);
  }
  report.ok = !report.changed.length && !report.missing.length && !report.added.length && !report.problems.length;
  return report;
}

/** What stands at a listed path, looked at once without following links. */
async function inspect(dir: string, rel: string): Promise<{ kind: 'missing' } | { kind: 'other'; what: string } | { kind: 'file'; sha256: string }> {
  const file = join(dir, ...rel.split('/'));
  let st: Stats;
  try {
    st = lstatSync(file);
  } catch {
    return { kind: 'missing' };
  }
  if (!st.isFile()) return { kind: 'other', what: describeKind(st) };
  return { kind: 'file', sha256: (await sha256File(file)).sha256 };
}

function describeKind(st: Stats): string {
  if (st.isSymbolicLink()) return 'a symbolic link';
  if (st.isDirectory()) return 'a folder';
  if (st.isFIFO()) return 'a pipe';
  if (st.isSocket()) return 'a socket';
  return 'a device or special file';
}
