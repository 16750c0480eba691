// One PowerShell call of a responder step on the target: composed like any step script (prelude +
// body), run through the step's session as one Session.run, its output staged as
// `invocations/NNN/` of the step (script.ps1, params.json, records.jsonl, stdout.log, stderr.log,
// files/, invocation.json) and logged in the custody log before and after. So the evidence shows
// every command that touched the host exactly as it ran, whoever composed it.
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import type { EvidenceWriter } from '../evidence/writer.ts';
import type { ParamValue } from '../params.ts';
import type { PlannedStep } from '../plan.ts';
import { withPrelude, type StepSummary } from '../script.ts';
import type { RunOutcome, Session } from '../session/session.ts';

export interface InvocationRequest {
  /** PowerShell run inside Invoke-MagpieStep (its values already bound to parameters). */
  body: string;
  params: Record<string, ParamValue>;
  /** What the call is for, in the script's header line (e.g. `ps`, `fetch`, `push`). */
  purpose: string;
  /** Files to put in the call's staging folder on the target first, hash-checked ($Tools[name]). */
  tools?: Record<string, { file: string; sha256: string }>;
}

export interface InvocationResult {
  n: number;
  /** The local folder holding what the call brought back. */
  dir: string;
  outcome: RunOutcome;
  summary?: StepSummary;
  /** The objects the call returned, parsed (read from its records.jsonl). */
  records: Record<string, unknown>[];
  hostOutput: string;
  fetchError?: string;
  durationMs: number;
}

export interface InvocationLimits {
  /** Milliseconds left of the step's timeout. */
  remainingMs(): number;
  /** Ctrl-C. */
  signal?: AbortSignal;
}

/** Runs a step's calls one at a time: the session has one PowerShell, and the evidence numbers them in the order they ran. */
export class Invocations {
  private count = 0;
  private queue: Promise<unknown> = Promise.resolve();
  private closed = false;

  constructor(
    private session: Session,
    private writer: EvidenceWriter,
    private step: PlannedStep,
    private limits: InvocationLimits,
  ) {}

  get made(): number {
    return this.count;
  }

  /**
   * `cleanup`: a call that must run even after a stop (removing what the step pushed): its own
   * minute, no Ctrl-C, and it runs after the step was closed.
   */
  run(req: InvocationRequest, opts: { cleanup?: boolean } = {}): Promise<InvocationResult> {
    const next = this.queue.then(() => this.runNow(req, opts.cleanup ?? false));
    this.queue = next.catch(() => undefined);
    return next;
  }

  /**
   * No call starts after this (a queued one is recorded as not run); resolves when the one running
   * has brought its output home, so the step is recorded only after its last call ended.
   */
  async close(): Promise<void> {
    this.closed = true;
    await this.queue;
  }

  private async runNow(req: InvocationRequest, cleanup: boolean): Promise<InvocationResult> {
    const n = ++this.count;
    const os = this.session.info.os;
    const origin = this.step.responder?.file ?? this.step.source;
    const script = withPrelude(`step ${this.step.id} (${this.step.stepId}, ${os}): responder call ${n} (${req.purpose}) from ${origin}`, req.body);
    const dir = this.writer.invocationDir(this.step, n);
    writeFileSync(join(dir, 'script.ps1'), script, { flag: 'wx' });
    writeFileSync(join(dir, 'params.json'), JSON.stringify(req.params, null, 2) + '\n', { flag: 'wx' });
    this.writer.invocationStarting(this.step, n, script, req.params, req.tools);
    const started = new Date();
    const remaining = cleanup ? 60_000 : this.limits.remainingMs();
    let run: Awaited<ReturnType<Session['run']>> | { outcome: RunOutcome; hostOutput: string; durationMs: number };
    let failure: Error | undefined;
    if (!cleanup && this.closed) run = { outcome: 'aborted', hostOutput: 'not run: the step had ended', durationMs: 0 };
    else if (!cleanup && this.limits.signal?.aborted) run = { outcome: 'aborted', hostOutput: 'not run: the operator interrupted the run', durationMs: 0 };
    else if (remaining <= 0) run = { outcome: 'timeout', hostOutput: 'not run: the step had no time left', durationMs: 0 };
    else {
      try {
        run = await this.session.run(script, req.params, { timeoutMs: remaining, signal: cleanup ? undefined : this.limits.signal, stageDir: dir, tools: req.tools });
      } catch (e) {
        // The call's end is recorded whatever happened to it: the custody log has no gaps.
        failure = e as Error;
        run = { outcome: 'completed', hostOutput: `the call failed on the responder: ${failure.message}`, durationMs: 0 };
      }
    }
    const ended = new Date();
    const records = readRecords(join(dir, 'records.jsonl'));
    const summary = 'summary' in run ? run.summary : undefined;
    const fetchError = 'fetchError' in run ? run.fetchError : undefined;
    const info = {
      invocation: n,
      purpose: req.purpose,
      started: started.toISOString(),
      ended: ended.toISOString(),
      durationMs: ended.getTime() - started.getTime(),
      outcome: run.outcome,
      status: summary?.status ?? null,
      records: records.length,
      errors: summary?.errors ?? 0,
      message: summary?.message ?? null,
      hostOutput: run.hostOutput || null,
      fetchError: fetchError ?? null,
      psVersion: summary?.psVersion ?? null,
      targetFiles: summary?.files ?? [],
    };
    writeFileSync(join(dir, 'invocation.json'), JSON.stringify(info, null, 2) + '\n', { flag: 'wx' });
    await this.writer.invocationEnded(this.step, n, { outcome: run.outcome, status: failure ? 'failed' : info.status, records: records.length, errors: info.errors, durationMs: info.durationMs, message: failure?.message ?? info.message });
    if (failure) throw failure;
    return { n, dir, outcome: run.outcome, summary, records, hostOutput: run.hostOutput, fetchError, durationMs: info.durationMs };
  }
}

function readRecords(file: string): Record<string, unknown>[] {
  if (!existsSync(file)) return [];
  const out: Record<string, unknown>[] = [];
  for (const line of readFileSync(file, 'utf8').split('\n')) {
    if (!line.trim()) continue;
    // The prelude writes one JSON value a line; a line cut short by a stop is left out.
    try {
      out.push(JSON.parse(line));
    } catch {
      // kept in the evidence as it arrived
    }
  }
  return out;
}
