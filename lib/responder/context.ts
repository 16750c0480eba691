// What a responder step's module receives: its parameters, `ps` for PowerShell on the target,
// `emit` for its records, `out` for files it writes here, earlier steps' records and files,
// fetch/push through the transport, zx's `$` for local commands, and `signal` for its stop.
import { appendFileSync, existsSync, mkdirSync, readFileSync } from 'node:fs';
import { basename, join } from 'node:path';
import { randomBytes } from 'node:crypto';
import type { OsName, RecordKind } from '../definitions.ts';
import type { EvidenceWriter } from '../evidence/writer.ts';
import { sha256File } from '../evidence/hash.ts';
import { safeSegment } from '../evidence/names.ts';
import type { ParamValue } from '../params.ts';
import type { PlannedStep } from '../plan.ts';
import { readManifest } from '../records/reader.ts';
import { RECORD_SCHEMAS } from '../records/schemas.ts';
import type { TargetInfo } from '../session/session.ts';
import { flaggedProcesses, type FlaggedProcess } from '../selectors.ts';
import type { Level } from '../triage/rule-def.ts';
import { composePsCall } from './ps-template.ts';
import type { InvocationRequest, InvocationResult, Invocations } from './invocations.ts';
import { localShell, type LocalShell } from './local-shell.ts';

/** What `ps` returns: the objects the call returned, with what else it said. */
export type PsResult = Record<string, any>[] & {
  /** The call's number: its folder is invocations/NNN of the step. */
  readonly invocation: number;
  /** Non-terminating errors it wrote (each in its stderr.log). */
  readonly errors: number;
  /** Text it printed (Write-Host, bare strings): its stdout.log. */
  readonly stdout: string;
  readonly stderr: string;
};

export interface EarlierFile {
  /** The file in this run's evidence folder, to read (never to change). */
  path: string;
  /** Its path in the evidence folder, as the manifest lists it. */
  evidencePath: string;
  size: number;
  sha256: string;
  /** The name the host gave, when it had to be made safe. */
  originalName?: string;
}

export interface ResponderContext {
  params: Record<string, ParamValue>;
  /** The target's OS (which PowerShell to write). */
  os: OsName;
  target: Pick<TargetInfo, 'name' | 'hostname' | 'user' | 'admin' | 'transport' | 'psVersion'>;
  step: { id: string; kind: RecordKind };
  /** PowerShell on the target: every `${value}` travels as data, never as source. */
  ps: (pieces: TemplateStringsArray, ...values: unknown[]) => Promise<PsResult>;
  /** One record of the step's kind, checked against that kind's schema. */
  emit: (record: Record<string, unknown>) => void;
  /** A folder on the responder for files the step writes; hashed into the evidence as its files/. */
  out: string;
  /** The records an earlier step of this run collected (by its id in the playbook). */
  records: (stepId: string) => Promise<Record<string, any>[]>;
  /** The files an earlier step of this run brought back (its files/, and its calls' files/). */
  files: (stepId: string) => Promise<EarlierFile[]>;
  /** Processes the built-in rules flag at `level` (default high) or above in this run's records so far. */
  flagged: (level?: Level) => Promise<FlaggedProcess[]>;
  /** Files on the target brought here through the transport, hash-checked end to end; their local paths. */
  fetch: {
    (remotePath: string): Promise<string>;
    (remotePaths: string[]): Promise<string[]>;
  };
  /** A local file put on the target (removed when the step ends), hash-checked there; its remote path. */
  push: (localPath: string) => Promise<string>;
  /** zx's `$` for commands on the responder: values quoted for its shell, stopped with the step, each command logged. */
  $: LocalShell;
  /** A line in the step's stdout.log. */
  log: (text: string) => void;
  /** Aborted at the step's timeout and on Ctrl-C; `reason` says which. */
  signal: AbortSignal;
}

/** A call on the target that ended with a terminating error (or did not run at all). */
export class PsError extends Error {
  constructor(
    message: string,
    readonly invocation: number,
  ) {
    super(message);
    this.name = 'PsError';
  }
}

/** The step was stopped (timeout or Ctrl-C) while the module waited on the target. */
export class StepStopped extends Error {
  constructor(readonly why: 'timeout' | 'aborted') {
    super(why === 'timeout' ? "the step's timeout passed" : 'interrupted by the operator');
    this.name = 'StepStopped';
  }
}

export interface ContextParts {
  step: PlannedStep;
  info: TargetInfo;
  writer: EvidenceWriter;
  stageDir: string;
  invocations: Invocations;
  signal: AbortSignal;
  /** Set once the step's outcome is taken: a module still running afterwards can change nothing. */
  isClosed: () => boolean;
}

export interface BuiltContext {
  ctx: ResponderContext;
  emitted: () => number;
  /** Errors the step's calls counted on the target. */
  errors: () => number;
  /** Removes what push() put on the target (one more recorded call). */
  cleanup: () => Promise<void>;
}

export function buildContext(p: ContextParts): BuiltContext {
  const { step, info, writer, stageDir, invocations, signal } = p;
  const where = `responder step ${step.id} (${basename(step.responder?.file ?? step.source)})`;
  const out = join(stageDir, 'files');
  mkdirSync(out, { recursive: true });
  const recordsFile = join(stageDir, 'records.jsonl');
  appendFileSync(recordsFile, '');
  let emitted = 0;
  let errors = 0;
  const open = (what: string) => {
    if (p.isClosed()) throw new Error(`${where}: ${what} after the step ended; await every call before returning`);
  };
  const log = (text: string) => appendFileSync(join(stageDir, 'stdout.log'), text.replace(/\r?\n$/, '') + '\n');

  const call = async (req: InvocationRequest): Promise<InvocationResult> => {
    open(req.purpose);
    if (signal.aborted) throw new StepStopped(signal.reason === 'timeout' ? 'timeout' : 'aborted');
    const r = await invocations.run(req);
    errors += r.summary?.errors ?? 0;
    const tag = `call ${r.n} (invocations/${String(r.n).padStart(3, '0')})`;
    switch (r.outcome) {
      case 'timeout':
        throw new StepStopped('timeout');
      case 'aborted':
        throw new StepStopped('aborted');
      case 'host-lost':
        throw new PsError(`${tag}: the PowerShell host stopped: ${r.hostOutput}`, r.n);
    }
    if (!r.summary) throw new PsError(`${tag} did not run on the target: ${r.hostOutput || 'no output'}`, r.n);
    if (r.summary.status === 'failed') throw new PsError(`${tag} failed on the target: ${r.summary.message ?? 'it threw'}`, r.n);
    if (r.fetchError) throw new PsError(`${tag}: its output did not all arrive: ${r.fetchError}`, r.n);
    return r;
  };

  const ps = async (pieces: TemplateStringsArray, ...values: unknown[]): Promise<PsResult> => {
    if (!Array.isArray(pieces) || !('raw' in pieces)) throw new TypeError(`${where}: ps is a tagged template: ps\`Get-Process -Id \${pid}\``);
    const { body, params } = composePsCall(pieces, values);
    const r = await call({ body, params, purpose: 'ps' });
    const text = (name: string) => (existsSync(join(r.dir, name)) ? readFileSync(join(r.dir, name), 'utf8') : '');
    return Object.defineProperties(r.records, {
      invocation: { value: r.n },
      errors: { value: r.summary?.errors ?? 0 },
      stdout: { value: text('stdout.log') },
      stderr: { value: text('stderr.log') },
    }) as PsResult;
  };

  const schema = RECORD_SCHEMAS[step.kind];
  const emit = (record: Record<string, unknown>) => {
    open('emit');
    const checked = schema.safeParse(record);
    if (!checked.success) {
      const i = checked.error.issues[0];
      throw new TypeError(`${where}: emit: not a valid ${step.kind} record: ${i.path.join('.') || '(record)'}: ${i.message}: ${JSON.stringify(record)?.slice(0, 300)}`);
    }
    appendFileSync(recordsFile, JSON.stringify(record) + '\n');
    emitted++;
  };

  const earlierStep = (stepId: string) => {
    const manifest = readManifest(writer.dir);
    const s = manifest.steps.find((x) => x.id === stepId) ?? manifest.steps.find((x) => x.stepId === stepId);
    if (!s) throw new Error(`${where}: no step "${stepId}" ran before this one in this run; earlier steps: ${manifest.steps.map((x) => x.id).join(', ') || 'none'}`);
    return { s, manifest };
  };

  const records = async (stepId: string) => {
    const { s } = earlierStep(stepId);
    const file = join(writer.dir, ...s.dir.split('/'), 'records.jsonl');
    if (!existsSync(file)) return [];
    return readFileSync(file, 'utf8').split('\n').filter((l) => l.trim()).map((l) => JSON.parse(l));
  };

  const files = async (stepId: string): Promise<EarlierFile[]> => {
    const { s, manifest } = earlierStep(stepId);
    const own = new RegExp(`^${s.dir.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')}/(invocations/\\d+/)?files/`);
    return manifest.files
      .filter((f) => own.test(f.path))
      .map((f) => ({ path: join(writer.dir, ...f.path.split('/')), evidencePath: f.path, size: f.size, sha256: f.sha256, ...(f.originalName ? { originalName: f.originalName } : {}) }));
  };

  const fetchFiles = async (remote: string | string[]): Promise<any> => {
    const list = Array.isArray(remote) ? remote : [remote];
    if (!list.length) return [];
    if (!list.every((x) => typeof x === 'string' && x)) throw new TypeError(`${where}: fetch takes a path on the target, or a list of them`);
    const taken = new Set<string>();
    const names = list.map((path) => {
      // Without safeSegment's `~`, so the evidence writer keeps the name as it is.
      const base = safeSegment(path.split(/[\\/]/).filter(Boolean).at(-1) ?? 'file').replace(/~/g, '-');
      let name = base;
      for (let n = 2; taken.has(name.toLowerCase()); n++) name = `${base}-${n}`;
      taken.add(name.toLowerCase());
      return name;
    });
    // Hashed where it lies, then copied into the call's $OutDir: the session brings that copy home
    // and compares the target's hash of it with its own, and the source's hash is compared here.
    const r = await call({
      purpose: 'fetch',
      params: { paths: list, names },
      body: [
        '$paths = @($Params.paths); $names = @($Params.names)',
        'for ($i = 0; $i -lt $paths.Count; $i++) {',
        '    $src = $paths[$i]',
        '    try {',
        '        $hash = (Get-FileHash -LiteralPath $src -Algorithm SHA256 -ErrorAction Stop).Hash.ToLowerInvariant()',
        '        Copy-Item -LiteralPath $src -Destination ([IO.Path]::Combine($OutDir, $names[$i])) -ErrorAction Stop',
        '        [pscustomobject]@{ path = $src; name = $names[$i]; sha256 = $hash; error = $null }',
        '    } catch {',
        '        [pscustomobject]@{ path = $src; name = $names[$i]; sha256 = $null; error = $_.Exception.Message }',
        '    }',
        '}',
      ].join('\n'),
    });
    const local: string[] = [];
    for (const [i, path] of list.entries()) {
      const rec = r.records.find((x) => x.name === names[i]) as { sha256?: string; error?: string } | undefined;
      if (!rec || !rec.sha256) throw new PsError(`call ${r.n} (fetch): ${path} could not be read on the target: ${rec?.error ?? 'no answer'}`, r.n);
      const file = join(r.dir, 'files', names[i]);
      if (!existsSync(file)) throw new PsError(`call ${r.n} (fetch): ${path} did not arrive`, r.n);
      const here = (await sha256File(file)).sha256;
      if (here !== rec.sha256) throw new PsError(`call ${r.n} (fetch): ${path} has SHA-256 ${rec.sha256} on the target and ${here} here (it changed while it was copied, or on the way)`, r.n);
      local.push(file);
    }
    return Array.isArray(remote) ? local : local[0];
  };

  // Pushed files live in one folder of the step on the target, named here and removed at its end.
  let pushFolder: string | undefined;
  let pushes = 0;
  const push = async (localPath: string): Promise<string> => {
    if (typeof localPath !== 'string' || !existsSync(localPath)) throw new Error(`${where}: push: no file ${localPath} on the responder`);
    const sha256 = (await sha256File(localPath)).sha256;
    // '~' (safeSegment's mark of a cleaned name) is not a tool name the transports take.
    const name = safeSegment(basename(localPath)).replace(/~/g, '-');
    pushFolder ??= `magpie-push-${randomBytes(6).toString('hex')}`;
    // Each push its own subfolder: two files of one name from different folders both stay as sent.
    const r = await call({
      purpose: 'push',
      params: { folder: `${pushFolder}/${++pushes}`, name },
      tools: { [name]: { file: localPath, sha256 } },
      body: [
        '$dir = [IO.Path]::Combine([IO.Path]::GetTempPath(), $Params.folder)',
        '$null = [IO.Directory]::CreateDirectory($dir)',
        '$dest = [IO.Path]::Combine($dir, $Params.name)',
        'Copy-Item -LiteralPath $Tools[$Params.name] -Destination $dest -ErrorAction Stop',
        '[pscustomobject]@{ path = $dest; sha256 = (Get-FileHash -LiteralPath $dest -Algorithm SHA256).Hash.ToLowerInvariant() }',
      ].join('\n'),
    });
    const rec = r.records[0] as { path?: string; sha256?: string } | undefined;
    if (!rec?.path) throw new PsError(`call ${r.n} (push): ${localPath} was not placed on the target`, r.n);
    if (rec.sha256 !== sha256) throw new PsError(`call ${r.n} (push): ${localPath} has SHA-256 ${sha256} here and ${rec.sha256} on the target`, r.n);
    return rec.path;
  };

  const cleanup = async () => {
    if (!pushFolder) return;
    const r = await invocations.run(
      {
        purpose: 'remove pushed files',
        params: { folder: pushFolder },
        body: "$dir = [IO.Path]::Combine([IO.Path]::GetTempPath(), $Params.folder)\nif ([IO.Directory]::Exists($dir)) { Remove-Item -LiteralPath $dir -Recurse -Force -ErrorAction Stop }",
      },
      { cleanup: true },
    );
    if (r.outcome !== 'completed' || r.summary?.status !== 'ok') throw new Error(`the ${pushFolder} folder in the target's temp folder is left there (call ${r.n}: ${r.outcome}${r.summary?.message ? `, ${r.summary.message}` : ''}); remove it by hand`);
  };

  const ctx: ResponderContext = {
    params: structuredClone(step.params),
    os: info.os,
    target: { name: info.name, hostname: info.hostname, user: info.user, admin: info.admin, transport: info.transport, psVersion: info.psVersion },
    step: { id: step.id, kind: step.kind },
    ps,
    emit,
    out,
    records,
    files,
    flagged: async (level = 'high') => (await flaggedProcesses(writer.dir, level)).flagged,
    fetch: fetchFiles as ResponderContext['fetch'],
    push,
    $: localShell({ signal, log, stderr: (text) => appendFileSync(join(stageDir, 'stderr.log'), text) }),
    log,
    signal,
  };
  return { ctx, emitted: () => emitted, errors: () => errors, cleanup };
}
