// Runs a responder step: its module on the responder, its PowerShell calls on the target through
// the step's session, under the step's timeout and Ctrl-C, into the step's staging folder. The
// outcome has the shape of a PowerShell step's, so the writer and the runner treat both alike.
import { appendFileSync } from 'node:fs';
import { basename, join } from 'node:path';
import type { EvidenceWriter, StepOutcome } from '../evidence/writer.ts';
import type { PlannedStep } from '../plan.ts';
import type { Session } from '../session/session.ts';
import { safeLine } from '../text.ts';
import { buildContext, StepStopped } from './context.ts';
import { Invocations } from './invocations.ts';
import { loadResponderModule } from './load-module.ts';

/** How long a module that ignores its signal may take to return once its step was stopped. */
const GRACE_MS = 5000;

export async function runResponderStep(step: PlannedStep, session: Session, writer: EvidenceWriter, opts: { signal?: AbortSignal }): Promise<StepOutcome> {
  const module = step.responder!;
  const os = session.info.os;
  const name = basename(module.file);
  writer.stepStarting(step, os, module.source);
  const stageDir = writer.stagingDir(step);
  const started = new Date();
  const deadline = started.getTime() + step.timeoutSec * 1000;

  // One signal for the module and its local commands: the step's timeout or the operator's Ctrl-C.
  const stop = new AbortController();
  const timer = setTimeout(() => stop.abort('timeout'), step.timeoutSec * 1000);
  const onAbort = () => stop.abort('aborted');
  if (opts.signal?.aborted) onAbort();
  opts.signal?.addEventListener('abort', onAbort, { once: true });

  let closed = false;
  const invocations = new Invocations(session, writer, step, { remainingMs: () => deadline - Date.now(), signal: opts.signal });
  const built = buildContext({ step, info: session.info, writer, stageDir, invocations, signal: stop.signal, isClosed: () => closed });
  const stderr = (text: string) => appendFileSync(join(stageDir, 'stderr.log'), text.replace(/\n?$/, '\n'));

  let thrown: unknown;
  let abandoned = false;
  try {
    const fn = await loadResponderModule(module.file);
    const ran = Promise.resolve().then(() => fn(built.ctx));
    // A module that ignores its signal is not waited on forever: after the grace it is left behind.
    const stopped = new Promise<'abandoned'>((resolve) => {
      const late = () => setTimeout(() => resolve('abandoned'), GRACE_MS).unref?.();
      if (stop.signal.aborted) late();
      else stop.signal.addEventListener('abort', late, { once: true });
    });
    abandoned = (await Promise.race([ran.then(() => 'returned' as const), stopped])) === 'abandoned';
  } catch (e) {
    thrown = e;
  } finally {
    clearTimeout(timer);
    opts.signal?.removeEventListener('abort', onAbort);
  }
  closed = true;
  // The step is recorded after its last call brought its output home, never while a fetch runs.
  await invocations.close();
  try {
    await built.cleanup();
  } catch (e) {
    stderr(`[warning] pushed files could not be removed from the target: ${(e as Error).message}`);
  }

  const why = stop.signal.aborted ? (stop.signal.reason as 'timeout' | 'aborted') : thrown instanceof StepStopped ? thrown.why : null;
  if (thrown !== undefined && !(thrown instanceof StepStopped)) {
    const err = thrown instanceof Error ? thrown : new Error(String(thrown));
    stderr(`[terminating] ${err.message} | ${err.stack ?? ''}`);
  }
  if (abandoned) stderr(`[warning] ${name} did not return within ${GRACE_MS / 1000} s of being stopped; it was left behind and can record nothing more`);
  const ended = new Date();
  const message = thrown === undefined || thrown instanceof StepStopped ? null : thrown instanceof Error ? thrown.message : String(thrown);
  const base = {
    os,
    started,
    ended,
    fetched: stageDir,
    responder: { name, source: module.source, invocations: invocations.made },
    summary: { status: message ? ('failed' as const) : ('ok' as const), records: built.emitted(), errors: built.errors(), message, files: [] },
  };
  if (why === 'timeout') return { ...base, status: 'timeout', reason: `stopped after its ${step.timeoutSec}s timeout; what it produced before is kept`, partial: true };
  if (why === 'aborted') return { ...base, status: 'failed', reason: 'interrupted by the operator; what it produced before is kept', partial: true };
  if (message !== null) return { ...base, status: 'failed', reason: `${name}: ${safeLine(message)}`, partial: false };
  return { ...base, status: 'ok', reason: null, partial: false };
}
