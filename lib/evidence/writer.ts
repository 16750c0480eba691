// Writes one host's evidence folder: write-once files, custody log, manifest, SHA256SUMS.
// The folder lives as `<stamp>.partial` until the run ends, then is renamed; an interrupted
// or crashed run leaves the .partial folder with a manifest that says what finished.
// Steps stage inside it (`.staging/NN-id`), and their output is copied, never moved, into
// place: a process that still held a staged file open can only write into the staged copy.
import { constants, copyFileSync, existsSync, lstatSync, mkdirSync, readdirSync, readFileSync, renameSync, rmSync, unlinkSync, writeFileSync } from 'node:fs';
import { hostname, platform } from 'node:os';
import { custodyActor, localUser } from '../identity.ts';
import { join, relative, resolve, sep } from 'node:path';
import type { OsName } from '../definitions.ts';
import type { PlannedStep, Plan } from '../plan.ts';
import type { TargetInfo, Transport } from '../session/session.ts';
import type { StepSummary } from '../script.ts';
import { CustodyLog } from './custody.ts';
import { sha256File, sha256Text } from './hash.ts';
import { Manifest, type ManifestFile, type ManifestStep, type StepStatus } from './manifest.ts';
import { safeRelativePath, safeSegment, timestampName } from './names.ts';
import { formatSums } from './sums.ts';
import { claimStampedDir } from './claim-dir.ts';
import { TOOL_VERSION, runtimeName } from '../version.ts';
import { InputError } from '../errors.ts';

/** Claims `<hostDir>/<stamp>.partial`, saying plainly when --out cannot be written. */
function claimOutDir(hostDir: string, stamp: string): string {
  try {
    return claimStampedDir(hostDir, stamp, '.partial');
  } catch (e) {
    const code = (e as NodeJS.ErrnoException).code ?? '';
    if (['EACCES', 'EPERM', 'EROFS', 'ENOENT', 'ENOTDIR'].includes(code)) {
      throw new InputError(`cannot create the evidence folder here: the output folder is not writable (${code}: ${(e as Error).message}); choose another --out`, { file: hostDir });
    }
    if (isDiskFull(e)) throw new InputError('no space left to create the evidence folder; free space or choose another --out', { file: hostDir });
    throw e;
  }
}

export interface WriterOptions {
  root: string;
  caseId: string;
  /** The target as named by the responder (before the session said its hostname). */
  targetName: string;
  transport: Transport;
  plan: Plan;
  operator?: string;
  now?: Date;
}

export interface StepOutcome {
  status: StepStatus;
  reason: string | null;
  partial: boolean;
  os: OsName | null;
  script?: string;
  summary?: StepSummary;
  /** Local folder with what the step produced (records.jsonl, stdout.log, stderr.log, files/). */
  fetched?: string;
  hostOutput?: string;
  started?: Date;
  ended?: Date;
  /** A responder step: its module (kept as what ran, in place of script.ps1) and how many PowerShell calls it made on the target. */
  responder?: { name: string; source: string; invocations: number };
}

/** `<root>/<case>/<target>`: where a target's run folders are, for the writer and for --resume. */
export function hostFolder(root: string, caseId: string, targetName: string): string {
  // Absolute: the folder is handed to PowerShell hosts that run in a folder of their own, where a
  // relative --out (the default `evidence`) would name another place and the records be lost.
  return join(resolve(root), safeSegment(caseId), safeSegment(targetName));
}

/**
 * The hashes the target computed of each invocation's files/ (kept in its invocation.json by
 * lib/responder/invocations.ts), keyed like takeTree's paths: `NNN/files/<path>`.
 */
function invocationTargetHashes(root: string): Map<string, string> {
  const hashes = new Map<string, string>();
  for (const n of readdirSync(root)) {
    const file = join(root, n, 'invocation.json');
    if (!existsSync(file)) continue;
    try {
      const inv = JSON.parse(readFileSync(file, 'utf8')) as { targetFiles?: { path: string; sha256: string }[] };
      for (const f of inv.targetFiles ?? []) hashes.set(`${n}/files/${f.path.replace(/\\/g, '/')}`, f.sha256);
    } catch {
      // Unreadable: the files are still taken and hashed here, only without the target's hashes.
    }
  }
  return hashes;
}

/** `NN-<id>`: a step's folder name, under steps/ and under .staging/ alike. */
const stepFolder = (step: PlannedStep) => `${String(step.index).padStart(2, '0')}-${safeSegment(step.id)}`;

/** Kept free from the start, so a full disk still leaves room to seal the folder. */
const RESERVE_BYTES = 256 * 1024;
const RESERVE = '.reserve';

function isDiskFull(e: unknown): boolean {
  const code = (e as NodeJS.ErrnoException)?.code;
  return code === 'ENOSPC' || code === 'EDQUOT';
}

/** Creates `dest` (never replacing it); a copy the full disk cut short is removed, never kept as evidence. */
function createExclusive(dest: string, write: () => void): void {
  try {
    write();
  } catch (e) {
    if (isDiskFull(e) && existsSync(dest)) unlinkSync(dest);
    throw e;
  }
}

export class EvidenceWriter {
  dir: string;
  private custody: CustodyLog;
  private manifest: Manifest;
  private sealed = false;
  /** Set when the evidence disk filled up: what failed, for the manifest and the remaining steps. */
  diskFull: string | null = null;

  private constructor(dir: string, manifest: Manifest, actor: string) {
    this.dir = dir;
    this.manifest = manifest;
    this.custody = new CustodyLog(join(dir, 'custody.jsonl'), actor);
  }

  /** Creates `<root>/<case>/<host>/<stamp>.partial`, never reusing an existing name. */
  static create(opts: WriterOptions): EvidenceWriter {
    const now = opts.now ?? new Date();
    const hostDir = hostFolder(opts.root, opts.caseId, opts.targetName);
    const dir = claimOutDir(hostDir, timestampName(now));
    try {
      writeFileSync(join(dir, RESERVE), Buffer.alloc(RESERVE_BYTES), { flag: 'wx' });
    } catch (e) {
      if (isDiskFull(e)) throw new InputError(`no space left to start an evidence folder (${RESERVE_BYTES / 1024} KiB at least); free space or choose another --out`, { file: dir });
      throw e;
    }
    const user = localUser().username;
    const operator = opts.operator ?? user;
    const manifest: Manifest = {
      schema: 'magpie.manifest/1',
      state: 'running',
      tool: { name: 'magpie', version: TOOL_VERSION, runtime: runtimeName() },
      case: opts.caseId,
      playbook: { name: opts.plan.playbook.name, file: opts.plan.playbook.file, sha256: opts.plan.playbook.sha256, params: opts.plan.playbook.params },
      operator,
      workstation: { hostname: hostname(), platform: platform(), user },
      target: { name: opts.targetName, hostname: null, os: null, osVersion: null, psVersion: null, psEdition: null, user: null, admin: null, transport: opts.transport },
      error: null,
      started: now.toISOString(),
      ended: null,
      clockSkewMs: null,
      steps: [],
      files: [],
    };
    const w = new EvidenceWriter(dir, manifest, custodyActor(operator));
    w.custody.append('collection-started', { case: opts.caseId, target: opts.targetName, transport: opts.transport, playbook: opts.plan.playbook.name, playbookSha256: opts.plan.playbook.sha256, tool: `magpie ${TOOL_VERSION}` });
    w.saveManifest();
    return w;
  }

  get state(): Manifest['state'] {
    return this.manifest.state;
  }

  setTarget(info: TargetInfo, startupScript?: string): void {
    this.updateTarget(info, startupScript);
    this.custody.append('session-opened', { hostname: info.hostname, os: info.os, psVersion: info.psVersion, user: info.user, admin: info.admin, clockSkewMs: info.clockSkewMs, connection: info.connection ?? null });
    this.saveManifest();
  }

  /** Facts a session learns as it runs (a local session's PowerShell version, from the first step). */
  updateTarget(info: TargetInfo, startupScript?: string): void {
    const { name: _n, transport: _t, clockSkewMs, ...rest } = info;
    this.manifest.target = { ...this.manifest.target, ...rest, ...(startupScript ? { startupScript: this.manifest.target.startupScript ?? startupScript } : {}) };
    this.manifest.clockSkewMs = clockSkewMs;
  }

  /** Marks the folder as made from existing tool output, with the source files' hashes. */
  setImported(imported: NonNullable<Manifest['imported']>, targetName: string): void {
    this.manifest.imported = imported;
    this.manifest.target.hostname = targetName;
    this.custody.append('import-started', { kind: imported.kind, files: imported.files });
    this.saveManifest();
  }

  stepDirName(step: PlannedStep): string {
    return `steps/${stepFolder(step)}`;
  }

  /**
   * Logs the exact script before it runs: the record exists even if the run never returns. For a
   * responder step `script` is its module's source, and each PowerShell call it makes is logged
   * on its own (invocationStarting).
   */
  stepStarting(step: PlannedStep, os: OsName, script: string, tools: Record<string, { sha256: string }> = {}): void {
    const toolHashes = Object.fromEntries(Object.entries(tools).map(([name, t]) => [name, t.sha256]));
    const runsOn = step.responder ? { responder: relative(process.cwd(), step.responder.file) } : {};
    this.custody.append('step-started', { step: step.id, index: step.index, os, scriptSha256: sha256Text(script), params: step.params, tools: toolHashes, staging: this.stagingName(step), ...runsOn });
  }

  /**
   * Where a responder step's PowerShell call number `n` stages (`invocations/NNN` in the step's
   * staging folder, created empty); taken into `steps/NN-id/invocations/NNN` with the step.
   */
  invocationDir(step: PlannedStep, n: number): string {
    const dir = join(this.dir, this.invocationName(step, n));
    mkdirSync(dir, { recursive: true });
    return dir;
  }

  private invocationName(step: PlannedStep, n: number): string {
    return `${this.stagingName(step)}/invocations/${String(n).padStart(3, '0')}`;
  }

  /** A responder step's call on the target, logged before it runs, exactly as it will run. */
  invocationStarting(step: PlannedStep, n: number, script: string, params: Record<string, unknown>, tools: Record<string, { sha256: string }> = {}): void {
    const toolHashes = Object.fromEntries(Object.entries(tools).map(([name, t]) => [name, t.sha256]));
    this.custody.append('invocation-started', { step: step.id, index: step.index, invocation: n, scriptSha256: sha256Text(script), params, tools: toolHashes, staging: this.invocationName(step, n) });
  }

  /** How the call ended, with the hashes of what it brought back (as staged; the step's record hashes the copies). */
  async invocationEnded(step: PlannedStep, n: number, details: { outcome: string; status: string | null; records: number; errors: number; durationMs: number; message: string | null }): Promise<void> {
    const dir = join(this.dir, this.invocationName(step, n));
    const files: { path: string; sha256: string }[] = [];
    const walk = async (rel: string) => {
      for (const name of readdirSync(join(dir, rel)).sort()) {
        const relPath = rel ? `${rel}/${name}` : name;
        const st = lstatSync(join(dir, relPath));
        if (st.isDirectory()) await walk(relPath);
        else if (st.isFile()) files.push({ path: relPath, sha256: (await sha256File(join(dir, relPath))).sha256 });
      }
    };
    await walk('');
    this.custody.append('invocation-ended', { step: step.id, index: step.index, invocation: n, ...details, files });
  }

  /** Where a step's output lands before it is recorded (created empty here). */
  stagingDir(step: PlannedStep): string {
    const dir = join(this.dir, this.stagingName(step));
    mkdirSync(dir, { recursive: true });
    return dir;
  }

  private stagingName(step: PlannedStep): string {
    return `.staging/${stepFolder(step)}`;
  }

  /** Removes a step's staging folder once recorded; kept when the disk filled before it could be copied. */
  releaseStaging(step: PlannedStep): void {
    if (this.diskFull) return;
    rmSync(join(this.dir, this.stagingName(step)), { recursive: true, force: true });
  }

  /** Takes what a step produced into the evidence folder and records it. */
  async recordStep(step: PlannedStep, out: StepOutcome): Promise<ManifestStep> {
    if (this.sealed) throw new Error(`${this.dir} is sealed; nothing more is recorded into it`);
    const dirName = this.stepDirName(step);
    const stepDir = join(this.dir, dirName);
    mkdirSync(stepDir, { recursive: true });
    const added: ManifestFile[] = [];
    const put = async (name: string, content: string) => {
      const file = join(stepDir, name);
      if (added.some((f) => f.path === this.rel(file))) return;
      createExclusive(file, () => writeFileSync(file, content, { flag: 'wx' }));
      added.push(await this.describe(file));
    };
    // What ran matters most: on a full disk it is written again once the reserve is freed.
    const putScript = async () => {
      if (out.responder) await put(safeSegment(out.responder.name), out.responder.source);
      else if (out.script !== undefined) await put('script.ps1', out.script);
      else return;
      await put('params.json', JSON.stringify(step.params, null, 2) + '\n');
    };
    let records = 0;
    try {
      await putScript();
      if (out.hostOutput) await put('host-output.log', out.hostOutput + '\n');
      if (out.fetched) {
        for (const name of ['records.jsonl', 'stdout.log', 'stderr.log']) {
          const src = join(out.fetched, name);
          if (!existsSync(src)) continue;
          const desc = await this.take(src, join(stepDir, name));
          if (name === 'records.jsonl') records = desc.lines;
          added.push(desc.file);
        }
        const filesSrc = join(out.fetched, 'files');
        const targetHashes = new Map((out.summary?.files ?? []).map((f) => [f.path.replace(/\\/g, '/'), f.sha256]));
        if (existsSync(filesSrc)) await this.takeTree(filesSrc, join(stepDir, 'files'), targetHashes, step, added);
        // A responder step's calls on the target: each with its script, parameters, output and timing.
        const invocationsSrc = join(out.fetched, 'invocations');
        if (existsSync(invocationsSrc)) await this.takeTree(invocationsSrc, join(stepDir, 'invocations'), invocationTargetHashes(invocationsSrc), step, added);
      }
    } catch (e) {
      if (!isDiskFull(e)) throw e;
      this.onDiskFull(`while recording step ${step.id}: ${(e as Error).message}`);
      await putScript();
      out = { ...out, status: 'failed', partial: true, reason: [out.reason, `the evidence disk is full: what the step wrote and was not recorded stays in ${this.stagingName(step)}`].filter(Boolean).join('; ') };
    }
    const entry: ManifestStep = {
      index: step.index,
      id: step.id,
      stepId: step.stepId,
      dir: dirName,
      kind: step.kind,
      status: out.status,
      reason: out.reason,
      partial: out.partial,
      os: out.os,
      params: step.params,
      scriptSha256: out.responder ? sha256Text(out.responder.source) : out.script !== undefined ? sha256Text(out.script) : null,
      ...(out.responder ? { responder: out.responder.name, invocations: out.responder.invocations } : {}),
      started: out.started?.toISOString() ?? null,
      ended: out.ended?.toISOString() ?? null,
      durationMs: out.started && out.ended ? out.ended.getTime() - out.started.getTime() : 0,
      records,
      errors: out.summary?.errors ?? 0,
    };
    if (out.summary && out.summary.records !== records && !out.partial) {
      entry.reason = [entry.reason, `the target counted ${out.summary.records} records, ${records} arrived`].filter(Boolean).join('; ');
    }
    this.manifest.steps.push(entry);
    this.manifest.files.push(...added);
    this.custody.append('step-recorded', { step: step.id, index: step.index, status: out.status, reason: entry.reason, partial: out.partial, records, files: added.map((f) => ({ path: f.path, sha256: f.sha256 })) });
    this.saveManifest();
    return entry;
  }

  /**
   * Copies a staged file in, refusing to replace anything, and hashes the copy: the copy is a
   * new file that no process of the step holds open. An incomplete copy (disk full) is removed;
   * its source stays in staging.
   */
  private async take(src: string, dest: string): Promise<{ file: ManifestFile; lines: number }> {
    if (existsSync(dest)) throw new Error(`refusing to overwrite evidence file ${dest}`);
    createExclusive(dest, () => copyFileSync(src, dest, constants.COPYFILE_EXCL));
    const h = await sha256File(dest);
    return { file: { path: this.rel(dest), size: h.size, sha256: h.sha256 }, lines: h.lines };
  }

  /** Brings in the step's files/ tree: names made safe, links and devices left behind (and said). */
  private async takeTree(srcRoot: string, destRoot: string, targetHashes: Map<string, string>, step: PlannedStep, out: ManifestFile[]): Promise<void> {
    const walk = async (rel: string) => {
      for (const name of readdirSync(join(srcRoot, rel)).sort()) {
        const relPath = rel ? `${rel}/${name}` : name;
        const src = join(srcRoot, relPath);
        const st = lstatSync(src);
        if (st.isDirectory()) {
          await walk(relPath);
          continue;
        }
        if (!st.isFile()) {
          this.custody.append('file-not-taken', { step: step.id, name: relPath, why: st.isSymbolicLink() ? 'symbolic link' : 'not a regular file' });
          continue;
        }
        let safe = safeRelativePath(relPath);
        let dest = join(destRoot, ...safe.split('/'));
        for (let n = 2; existsSync(dest); n++) dest = join(destRoot, ...`${safe}-${n}`.split('/'));
        safe = relative(destRoot, dest).split(sep).join('/');
        mkdirSync(join(dest, '..'), { recursive: true });
        const { file } = await this.take(src, dest);
        if (safe !== relPath) file.originalName = relPath;
        const targetSha = targetHashes.get(relPath.replace(/\\/g, "/"));
        if (targetSha) {
          file.targetSha256 = targetSha;
          if (targetSha !== file.sha256) this.custody.append('hash-mismatch', { step: step.id, path: file.path, target: targetSha, local: file.sha256 });
        }
        out.push(file);
      }
    };
    await walk('');
  }

  private async describe(file: string): Promise<ManifestFile> {
    const h = await sha256File(file);
    return { path: this.rel(file), size: h.size, sha256: h.sha256 };
  }

  private rel(file: string): string {
    return relative(this.dir, file).split(sep).join('/');
  }

  /** Frees the reserve so the folder can still be sealed, and stops further collection. */
  private onDiskFull(what: string): void {
    this.diskFull ??= `disk full during the run (${what})`;
    this.freeReserve();
  }

  private freeReserve(): void {
    const reserve = join(this.dir, RESERVE);
    if (existsSync(reserve)) unlinkSync(reserve);
  }

  /** Returns the SHA-256 of what it wrote, so sealing need not read the file back. */
  private saveManifest(): string {
    // The manifest is the writer's own running account until the folder is sealed.
    const tmp = join(this.dir, '.manifest.json.tmp');
    const text = JSON.stringify(Manifest.parse(this.manifest), null, 2) + '\n';
    for (let attempt = 0; ; attempt++) {
      try {
        if (existsSync(tmp)) unlinkSync(tmp);
        writeFileSync(tmp, text, { flag: 'wx' });
        renameSync(tmp, join(this.dir, 'manifest.json'));
        return sha256Text(text);
      } catch (e) {
        if (!isDiskFull(e) || attempt > 0) throw e;
        this.onDiskFull('while saving manifest.json');
        this.manifest.error ??= this.diskFull;
      }
    }
  }

  /**
   * Seals the folder: manifest final, SHA256SUMS written, then the custody log closed with both
   * their hashes, which anchors them in the chain (custody.jsonl itself is not in SHA256SUMS:
   * triage appends to it later, and its chain and head stand for it). Renamed unless interrupted.
   */
  async finish(state: 'complete' | 'interrupted' | 'failed', error?: string): Promise<string> {
    if (this.sealed) return this.dir;
    this.sealed = true;
    if (this.diskFull && state === 'complete') state = 'failed';
    // The reserve has done its job: its space is what the seal needs on a full disk.
    this.freeReserve();
    const staging = join(this.dir, '.staging');
    if (existsSync(staging) && readdirSync(staging).length === 0) rmSync(staging, { recursive: true });
    this.manifest.state = state;
    this.manifest.error = error ?? this.manifest.error ?? this.diskFull;
    this.manifest.ended = new Date().toISOString();
    const manifestSha = this.saveManifest();
    const sums = formatSums([...this.manifest.files, { sha256: manifestSha, path: 'manifest.json' }]);
    writeFileSync(join(this.dir, 'SHA256SUMS'), sums, { flag: 'wx' });
    const sumsSha = sha256Text(sums);
    this.custody.append(state === 'interrupted' ? 'collection-interrupted' : 'collection-sealed', {
      state,
      steps: this.manifest.steps.length,
      files: this.manifest.files.length,
      error: this.manifest.error,
      manifestSha256: manifestSha,
      sumsSha256: sumsSha,
    });
    if (state === 'interrupted') return this.dir;
    const final = this.dir.replace(/\.partial$/, '');
    if (existsSync(final)) return this.dir; // never replace: leave it marked partial
    renameSync(this.dir, final);
    this.dir = final;
    return final;
  }

}
