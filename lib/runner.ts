// Runs a plan's steps in order on one session and hands each result to the evidence writer.
// It never reads records for meaning: that is triage's job.
import type { ManifestStep, StepStatus } from './evidence/manifest.ts';
import type { EvidenceWriter, StepOutcome } from './evidence/writer.ts';
import type { Plan, PlannedStep } from './plan.ts';
import { composeScript } from './script.ts';
import type { Session, TransferProgress } from './session/session.ts';
import { safeLine } from './text.ts';
import { resolveTools, toolsFor } from './tools.ts';
import { bindSelectors } from './selectors.ts';
import { addStepRecords } from './step-records.ts';

export type RunEvent =
  | { type: 'host-started'; host: string }
  | { type: 'host-opened'; host: string; hostname: string; os: string; dir: string }
  | { type: 'step-started'; host: string; step: PlannedStep }
  | { type: 'step-ended'; host: string; step: PlannedStep; status: StepStatus; reason: string | null; records: number; durationMs: number }
  | { type: 'step-progress'; host: string; step: PlannedStep; file: string; done: number; total: number }
  | { type: 'host-ended'; host: string; state: string; dir: string | null; error: string | null };

export interface RunnerOptions {
  signal?: AbortSignal;
  /** The responder's folder of helper programs (default ./tools). */
  toolsDir?: string;
  onEvent?: (e: RunEvent) => void;
  host: string;
}

export async function runPlan(plan: Plan, session: Session, writer: EvidenceWriter, opts: RunnerOptions): Promise<ManifestStep[]> {
  const results: ManifestStep[] = [];
  let stopReason: string | null = null;
  for (const planned of plan.steps) {
    const os = session.info.os;
    opts.onEvent?.({ type: 'step-started', host: opts.host, step: planned });
    let outcome: StepOutcome;
    const bound = await bindSelectors(planned, writer.dir).catch((e: Error) => ({ error: `its parameters could not be resolved from this run's records: ${safeLine(e.message)}` }));
    const step = 'step' in bound ? bound.step : planned;
    const script = composeScript(step, os);
    // A responder step runs its module here and sends PowerShell to the target call by call.
    const responderRuns = step.responder?.os.includes(os) ?? false;
    if ('error' in bound) {
      outcome = { status: 'failed', reason: bound.error, partial: false, os: null };
    } else if (bound.nothingSelected) {
      outcome = skipped(bound.nothingSelected);
    } else if (opts.signal?.aborted) {
      outcome = skipped('the run was interrupted before this step');
    } else if (stopReason) {
      outcome = skipped(stopReason);
    } else if (writer.diskFull) {
      outcome = skipped(`not run: ${writer.diskFull}`);
    } else if (!script && !responderRuns) {
      outcome = skipped(`no script for ${os}; this step supports ${(step.responder?.os ?? Object.keys(step.scripts)).join(', ') || 'no OS'}`);
    } else if (step.admin && !session.info.admin) {
      outcome = skipped(
        session.info.adminFiltered
          ? `needs administrator rights; ${session.info.user} is in Administrators on ${session.info.hostname}, but UAC filters a local account's token on a network logon: use a domain account in Administrators (or the built-in Administrator), or set LocalAccountTokenFilterPolicy=1 under HKLM\\SOFTWARE\\Microsoft\\Windows\\CurrentVersion\\Policies\\System on the target`
          : `needs administrator rights; ${session.info.user} is not an administrator on ${session.info.hostname}`,
      );
    } else if (responderRuns) {
      const { runResponderStep } = await import('./responder/run-step.ts');
      outcome = await runResponderStep(step, session, writer, opts);
      if ('notes' in bound && bound.notes.length) outcome.hostOutput = [...bound.notes, outcome.hostOutput].filter(Boolean).join('\n');
    } else {
      outcome = await runStep(step, script!, session, writer, opts);
      if ('notes' in bound && bound.notes.length) outcome.hostOutput = [...bound.notes, outcome.hostOutput].filter(Boolean).join('\n');
    }
    outcome.os ??= script || responderRuns ? os : null;
    writer.updateTarget(session.info);
    const entry = await writer.recordStep(step, outcome);
    if (outcome.fetched) writer.releaseStaging(step);
    results.push(entry);
    opts.onEvent?.({ type: 'step-ended', host: opts.host, step, status: entry.status, reason: entry.reason, records: entry.records, durationMs: entry.durationMs });
    if ((entry.status === 'failed' || entry.status === 'timeout') && !step.continueOnError) {
      stopReason = `step ${step.id} ${entry.status} and has continueOnError: false`;
    }
    const lost = session.lostReason?.();
    if (lost && !stopReason) stopReason = `the connection to the host was lost: ${safeLine(lost)}`;
  }
  return results;
}

function skipped(reason: string): StepOutcome {
  return { status: 'skipped', reason, partial: false, os: null };
}

async function runStep(step: PlannedStep, script: string, session: Session, writer: EvidenceWriter, opts: RunnerOptions): Promise<StepOutcome> {
  const os = session.info.os;
  const resolved = await resolveTools(toolsFor(step.tools, os), opts.toolsDir);
  if ('error' in resolved) {
    if (resolved.missing && step.onlyWithTools) return { ...skipped(`when: tools-present, and it ${resolved.error}`), os };
    return { status: 'failed', reason: resolved.error, partial: false, os, script };
  }
  writer.stepStarting(step, os, script, resolved.tools);
  const stageDir = writer.stagingDir(step);
  const started = new Date();
  // A large fetch says how far it is, at most once a second (and when it ends).
  let shown = 0;
  const onProgress = (p: TransferProgress) => {
    const now = Date.now();
    if (p.done < p.total && now - shown < 1000) return;
    shown = now;
    opts.onEvent?.({ type: 'step-progress', host: opts.host, step, ...p });
  };
  const run = await session.run(script, step.params, { timeoutMs: step.timeoutSec * 1000, signal: opts.signal, tools: resolved.tools, stageDir, onProgress });
  const ended = new Date();
  const hostOutput = [run.hostOutput, run.fetchError && `fetch: ${run.fetchError}`].filter(Boolean).join('\n');
  const base = { os, script, started, ended, summary: run.summary, fetched: stageDir, hostOutput };
  switch (run.outcome) {
    case 'timeout':
      return { ...base, status: 'timeout', reason: `stopped after its ${step.timeoutSec}s timeout; what it produced before is kept`, partial: true };
    case 'aborted':
      return { ...base, status: 'failed', reason: 'interrupted by the operator; what it produced before is kept', partial: true };
    case 'host-lost':
      return { ...base, status: 'failed', reason: `the PowerShell host stopped during the step: ${safeLine(run.hostOutput)}`, partial: true };
    case 'completed':
      if (!run.summary) return { ...base, status: 'failed', reason: `the script did not run: ${safeLine(run.hostOutput) || 'no output'}`, partial: false };
      if (run.summary.status === 'failed') return { ...base, status: 'failed', reason: safeLine(run.summary.message ?? 'the step threw'), partial: false };
      if (step.records) {
        // The tool's output file becomes records here, on the responder (lib/step-records.ts).
        if (run.fetchError) return { ...base, status: 'failed', reason: `no records made from files/${step.records.file}: the step's output did not all arrive (${safeLine(run.fetchError)})`, partial: true };
        const made = await addStepRecords(step, stageDir);
        if ('error' in made) return { ...base, status: 'failed', reason: safeLine(made.error), partial: false };
        const note = `records: ${made.records} made on the responder from files/${step.records.file} by the ${step.records.importer} importer`;
        return { ...base, summary: { ...run.summary, records: run.summary.records + made.records }, hostOutput: [hostOutput, note].filter(Boolean).join('\n'), status: 'ok', reason: null, partial: false };
      }
      return { ...base, status: 'ok', reason: null, partial: false };
  }
}
