// Brings a step's remote folder home, for every remote transport: records.jsonl, the logs and
// files/** into the local stage folder, each file hashed as it arrives and compared with the hash
// the target computed.
import { mkdirSync } from 'node:fs';
import { join } from 'node:path';
import type { StepSummary } from '../script.ts';
import type { TransferProgress } from './session.ts';

export interface RemoteEntry {
  /** Relative to the listed root, '/'-separated. */
  rel: string;
  kind: 'dir' | 'file' | 'other';
  size: number;
}

/** What a transport offers for fetching a folder (SFTP; WinRM's PowerShell). */
export interface StageFiles {
  /** Every entry under `root`: links and special files as 'other', never followed. */
  list(root: string): Promise<RemoteEntry[]>;
  /** Streams one file to `localFile` (created, never overwritten); its size and SHA-256 as they arrived, and anything worth saying (a resumed transfer, throughput). */
  fetch(remote: string, localFile: string, listedSize: number, onProgress?: (done: number, total: number) => void): Promise<{ size: number; sha256: string; note?: string }>;
  /** Files fetched at once: a step's small logs cost round trips, not bandwidth (1 where the channel takes one request at a time). */
  readonly parallel: number;
}

export interface StageFetch {
  /** Every file arrived and matches what the target says it held. */
  verified: boolean;
  problems: string[];
  /** Entries deliberately left out (links, special files): said, not failed. */
  notes: string[];
  /** The whole remote listing, tools included, for removing the folder afterwards. */
  entries: RemoteEntry[];
}

/** Hashes files on the target (paths relative to the stage, '/'-separated) → sha256 hex, or undefined where it could not. */
export type RemoteHasher = (rels: string[]) => Promise<Map<string, string | undefined>>;

/**
 * `summary` holds the target's hashes of files/** when the step finished; the prelude closes its
 * logs before it prints the summary, so their listed sizes are final. Without a summary (stopped
 * step) the target is asked for every hash through `hasher`.
 */
/** Files this large report their progress (smaller ones arrive before anyone could read it). */
const LARGE = 16 * 1024 * 1024;

export async function fetchStage(files: StageFiles, remoteRoot: string, localDir: string, summary: StepSummary | undefined, hasher: RemoteHasher, onProgress?: (p: TransferProgress) => void): Promise<StageFetch> {
  const problems: string[] = [];
  const notes: string[] = [];
  const entries = await files.list(remoteRoot);
  const got = new Map<string, { size: number; sha256: string; listed: number }>();
  const toFetch: RemoteEntry[] = [];
  for (const e of entries) {
    // Tools are Magpie's own uploads, not evidence; they go with the folder.
    if (e.rel === 'tools' || e.rel.startsWith('tools/')) continue;
    if (e.kind === 'dir') mkdirSync(join(localDir, ...e.rel.split('/')), { recursive: true });
    else if (e.kind === 'other') notes.push(`not fetched: ${e.rel} is a link or special file on the target`);
    else toFetch.push(e);
  }
  const fetchOne = async (e: RemoteEntry) => {
    try {
      const progress = onProgress && e.size >= LARGE ? (done: number, total: number) => onProgress({ file: e.rel, done, total }) : undefined;
      const { note, ...f } = await files.fetch(`${remoteRoot}/${e.rel}`, join(localDir, ...e.rel.split('/')), e.size, progress);
      got.set(e.rel, { ...f, listed: e.size });
      if (note) notes.push(`${e.rel}: ${note}`);
    } catch (err) {
      problems.push(`${e.rel}: ${(err as Error).message}`);
    }
  };
  const queue = [...toFetch];
  await Promise.all(Array.from({ length: Math.min(files.parallel, queue.length) }, async () => {
    for (let e = queue.shift(); e; e = queue.shift()) await fetchOne(e);
  }));

  const expected = new Map<string, string>();
  if (summary) {
    for (const f of summary.files) expected.set('files/' + f.path.replace(/\\/g, '/'), f.sha256);
    for (const rel of expected.keys()) if (!got.has(rel) && !problems.some((p) => p.startsWith(rel + ':'))) problems.push(`${rel}: hashed on the target but not found there afterwards`);
  }
  const unhashed = [...got.keys()].filter((rel) => !expected.has(rel) && !(summary && !rel.startsWith('files/')));
  if (unhashed.length) {
    try {
      for (const [rel, sha] of await hasher(unhashed)) if (sha) expected.set(rel, sha);
    } catch (err) {
      problems.push(`the target could not hash what the step left: ${(err as Error).message}`);
    }
  }
  for (const [rel, f] of got) {
    const want = expected.get(rel);
    if (want) {
      if (want !== f.sha256) problems.push(`${rel}: SHA-256 ${f.sha256} here, ${want} on the target`);
    } else if (summary && !rel.startsWith('files/')) {
      if (f.size !== f.listed) problems.push(`${rel}: ${f.size} bytes arrived, ${f.listed} listed on the target`);
    } else {
      problems.push(`${rel}: the target gave no hash to compare with`);
    }
  }
  return { verified: problems.length === 0, problems, notes, entries };
}
