// Fans a plan out over targets: one session and one evidence folder each; a failing host never
// stops the others.
import pLimit from 'p-limit';
import { EvidenceWriter } from './evidence/writer.ts';
import type { Plan } from './plan.ts';
import { runPlan, type RunEvent } from './runner.ts';
import type { Session, Transport } from './session/session.ts';
import { LocalSession, type LocalSessionOptions } from './session/local.ts';
import { safeLine } from './text.ts';

export interface CollectOptions {
  plan: Plan;
  targets: string[];
  transport: Transport;
  out: string;
  caseId: string;
  concurrency: number;
  operator?: string;
  signal?: AbortSignal;
  onEvent?: (e: RunEvent) => void;
  /** The responder's folder of helper programs (default ./tools). */
  toolsDir?: string;
  /** Local-session settings (tests stand in Windows commands through these). */
  local?: LocalSessionOptions;
}

export interface HostResult {
  target: string;
  dir: string | null;
  state: 'complete' | 'interrupted' | 'failed';
  error: string | null;
  failedSteps: number;
}

export async function openSession(target: string, transport: Transport, local: LocalSessionOptions = {}): Promise<Session> {
  switch (transport) {
    case 'local':
      return LocalSession.open({ ...local, name: target === 'localhost' ? undefined : target });
    default:
      throw new Error(`transport "${transport}" is not available in this version; use --transport local`);
  }
}

export async function collect(opts: CollectOptions): Promise<HostResult[]> {
  const limit = pLimit(Math.max(1, opts.concurrency));
  return Promise.all(opts.targets.map((target) => limit(() => collectHost(target, opts))));
}

async function collectHost(target: string, opts: CollectOptions): Promise<HostResult> {
  const emit = opts.onEvent ?? (() => undefined);
  emit({ type: 'host-started', host: target });
  let session: Session | undefined;
  let writer: EvidenceWriter | undefined;
  try {
    try {
      session = await openSession(target, opts.transport, opts.local);
    } catch (e) {
      // Unreachable, refused, no PowerShell: recorded in its own folder, like any other outcome.
      const error = `could not open a ${opts.transport} session to ${target}: ${safeLine((e as Error).message, 1000)}`;
      writer = EvidenceWriter.create({ root: opts.out, caseId: opts.caseId, targetName: target, transport: opts.transport, plan: opts.plan, operator: opts.operator });
      const dir = await writer.finish('failed', error);
      emit({ type: 'host-ended', host: target, state: 'failed', dir, error });
      return { target, dir, state: 'failed', error, failedSteps: 0 };
    }
    const name = session.info.name;
    writer = EvidenceWriter.create({ root: opts.out, caseId: opts.caseId, targetName: name, transport: opts.transport, plan: opts.plan, operator: opts.operator });
    writer.setTarget(session.info, opts.local?.startupScript);
    emit({ type: 'host-opened', host: target, hostname: session.info.hostname, os: session.info.os, dir: writer.dir });
    const steps = await runPlan(opts.plan, session, writer, { signal: opts.signal, onEvent: emit, host: target, toolsDir: opts.toolsDir });
    // The host is not needed to seal the folder: let it exit meanwhile.
    const closing = session.close().catch(() => undefined);
    const dir = await writer.finish(opts.signal?.aborted ? 'interrupted' : 'complete');
    await closing;
    // The writer has the last word: a full evidence disk fails the host.
    const state = writer.state as HostResult['state'];
    const error = writer.diskFull;
    const failedSteps = steps.filter((s) => s.status === 'failed' || s.status === 'timeout').length;
    emit({ type: 'host-ended', host: target, state, dir, error });
    return { target, dir, state, error, failedSteps };
  } catch (e) {
    const error = `collection from ${target} stopped: ${safeLine((e as Error).message, 1000)}`;
    const dir = writer ? await writer.finish(opts.signal?.aborted ? 'interrupted' : 'failed', error).catch(() => writer!.dir) : null;
    emit({ type: 'host-ended', host: target, state: 'failed', dir, error });
    return { target, dir, state: 'failed', error, failedSteps: 0 };
  } finally {
    await session?.close().catch(() => undefined);
  }
}
