// Fans a plan out over targets: one session and one evidence folder each; a failing host never
// stops the others. Sessions are opened inside the concurrency limit, so memory grows with the
// hosts running, never with the hosts queued.
import { hostname } from 'node:os';
import pLimit from 'p-limit';
import { EvidenceWriter } from './evidence/writer.ts';
import type { Plan } from './plan.ts';
import { runPlan, type RunEvent } from './runner.ts';
import type { Session, Transport } from './session/session.ts';
import { LocalSession, type LocalSessionOptions } from './session/local.ts';
import { safeLine } from './text.ts';
import { parseTarget, type Target } from './targets.ts';
import type { Credentials } from './credentials.ts';
import { findCompleteRun } from './resume.ts';

export interface RemoteOptions {
  credentials?: Credentials;
  knownHostsFile?: string;
  acceptNewHostKey?: boolean;
  remoteShell?: string;
  /** Further attempts when a host cannot be reached (never after refused authentication or a wrong host key). */
  connectRetries?: number;
  /** First pause between attempts; doubled each time. */
  retryDelayMs?: number;
  connectTimeoutMs?: number;
  winrm?: {
    /** Every winrm target over HTTPS (5986), not only winrms:// ones. */
    https?: boolean;
    auth?: 'ntlm' | 'basic' | 'kerberos';
    /** PEM: CA certificates trusted besides the system's (--winrm-ca). */
    ca?: string;
    /** --winrm-cert-sha256: exactly this server certificate. */
    certSha256?: string;
    /** The targets' MaxEnvelopeSizekb × 1024. */
    maxEnvelopeSize?: number;
  };
}

export interface CollectOptions {
  plan: Plan;
  /** Parsed targets, or plain names read with `transport`. */
  targets: (Target | string)[];
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
  remote?: RemoteOptions;
  /** Skip a host whose latest folder for this case and playbook is complete and verifies. */
  resume?: boolean;
}

/** Why a host did not complete, in one word the summary and scripts can sort by. */
export type HostFailure = 'unreachable' | 'auth-failed' | 'host-key' | 'timeout' | 'dropped' | 'shell' | 'disk-full' | 'error';

export interface HostResult {
  target: string;
  transport: Transport;
  dir: string | null;
  state: 'complete' | 'interrupted' | 'failed' | 'resumed';
  failure: HostFailure | null;
  error: string | null;
  failedSteps: number;
  steps: { id: string; status: string; reason: string | null }[];
}

function toTarget(t: Target | string, transport: Transport): Target {
  if (typeof t !== 'string') return t;
  if (transport === 'local' || transport === 'import') return { name: t, transport: 'local', host: t, origin: t };
  return parseTarget(t, transport);
}

export async function openSession(target: Target, opts: CollectOptions): Promise<Session> {
  switch (target.transport) {
    case 'local':
      return LocalSession.open({ ...opts.local, name: target.name === 'localhost' ? undefined : target.name });
    case 'ssh': {
      const { SshSession } = await import('./session/ssh/index.ts');
      const r = opts.remote ?? {};
      const auth = r.credentials?.sshAuth(target) ?? [];
      if (!auth.length) throw Object.assign(new Error(`no SSH credential for ${target.name}: pass --identity KEY, run an ssh-agent, or give a password (--ask-password, --password-env, --credential-file)`), { code: 'auth-failed' });
      return SshSession.open({
        host: target.host,
        port: target.port,
        user: target.user ?? process.env.USER ?? 'root',
        auth,
        knownHostsFile: r.knownHostsFile,
        acceptNewHostKey: r.acceptNewHostKey,
        connectTimeoutMs: r.connectTimeoutMs,
        remoteShell: r.remoteShell,
        name: target.name,
      });
    }
    case 'winrm': {
      const { WinrmSession } = await import('./session/winrm/index.ts');
      const r = opts.remote ?? {};
      const w = r.winrm ?? {};
      const password = r.credentials?.passwordFor(target);
      const fail = (m: string) => Object.assign(new Error(m), { code: 'auth-failed' });
      const kerberos = w.auth === 'kerberos';
      if (!target.user && !kerberos) throw fail(`no account for ${target.name}: name it in the target (user@host, DOMAIN\\user@host) or the targets file's user column`);
      // Kerberos without a password uses the responder's ticket (kinit), whose principal says who.
      if (password === undefined && !kerberos) throw fail(`no password for ${target.name}: give one with --ask-password, --password-env or --credential-file (WinRM takes no SSH keys)`);
      return WinrmSession.open({
        host: target.host,
        port: target.port,
        scheme: target.https || w.https ? 'https' : 'http',
        auth: w.auth,
        credentials: { user: target.user ?? '', password: password ?? '' },
        ca: w.ca,
        pinSha256: w.certSha256,
        maxEnvelopeSize: w.maxEnvelopeSize,
        remoteShell: r.remoteShell,
        name: target.name,
      });
    }
    default:
      throw new Error(`transport "${target.transport}" cannot collect; use --transport local, ssh or winrm`);
  }
}

/** Opens a session, trying again with backoff when (and only when) the host could not be reached. */
async function openWithRetries(target: Target, opts: CollectOptions): Promise<Session> {
  const retries = opts.remote?.connectRetries ?? 0;
  let delay = opts.remote?.retryDelayMs ?? 1000;
  for (let attempt = 0; ; attempt++) {
    try {
      return await openSession(target, opts);
    } catch (e) {
      if (attempt >= retries || failureOf(e) !== 'unreachable' || opts.signal?.aborted) throw e;
      await new Promise((r) => setTimeout(r, delay));
      delay *= 2;
    }
  }
}

function failureOf(e: unknown): HostFailure {
  const code = (e as { code?: string })?.code;
  // A WinRM certificate that does not verify is what a changed SSH host key is: the server is not known to be itself.
  if (code === 'tls') return 'host-key';
  return code && ['unreachable', 'auth-failed', 'host-key', 'timeout', 'dropped', 'shell'].includes(code) ? (code as HostFailure) : 'error';
}

export async function collect(opts: CollectOptions): Promise<HostResult[]> {
  const limit = pLimit(Math.max(1, opts.concurrency));
  const targets = opts.targets.map((t) => toTarget(t, opts.transport));
  return Promise.all(targets.map((target) => limit(() => collectHost(target, opts))));
}

async function collectHost(target: Target, opts: CollectOptions): Promise<HostResult> {
  const emit = opts.onEvent ?? (() => undefined);
  const host = target.name;
  // This machine's folder is named for its hostname, as a local session names itself.
  const folderName = target.transport === 'local' && host === 'localhost' ? hostname() : host;
  const base = { target: host, transport: target.transport, failedSteps: 0, steps: [] as HostResult['steps'] };
  if (opts.resume) {
    const done = await findCompleteRun(opts.out, opts.caseId, folderName, opts.plan);
    if (done) {
      emit({ type: 'host-ended', host, state: 'resumed', dir: done, error: null });
      return { ...base, dir: done, state: 'resumed', failure: null, error: null };
    }
  }
  if (opts.signal?.aborted) {
    emit({ type: 'host-ended', host, state: 'interrupted', dir: null, error: 'not started: the run was interrupted' });
    return { ...base, dir: null, state: 'interrupted', failure: null, error: 'not started: the run was interrupted' };
  }
  emit({ type: 'host-started', host });
  let session: Session | undefined;
  let writer: EvidenceWriter | undefined;
  const newWriter = (targetName: string) => EvidenceWriter.create({ root: opts.out, caseId: opts.caseId, targetName, transport: target.transport, plan: opts.plan, operator: opts.operator });
  try {
    try {
      session = await openWithRetries(target, opts);
    } catch (e) {
      // Unreachable, refused, no PowerShell: recorded in its own folder, like any other outcome.
      const failure = failureOf(e);
      const error = `could not open a ${target.transport} session to ${host}: ${safeLine((e as Error).message, 1000)}`;
      writer = newWriter(folderName);
      const dir = await writer.finish('failed', error);
      emit({ type: 'host-ended', host, state: 'failed', dir, error });
      return { ...base, dir, state: 'failed', failure, error };
    }
    writer = newWriter(session.info.name);
    writer.setTarget(session.info, opts.local?.startupScript);
    emit({ type: 'host-opened', host, hostname: session.info.hostname, os: session.info.os, dir: writer.dir });
    const steps = await runPlan(opts.plan, session, writer, { signal: opts.signal, onEvent: emit, host, toolsDir: opts.toolsDir });
    const lost = session.lostReason?.();
    // The host is not needed to seal the folder: let it exit meanwhile.
    const closing = session.close().catch(() => undefined);
    const dir = await writer.finish(opts.signal?.aborted ? 'interrupted' : 'complete');
    await closing;
    // The writer has the last word: a full evidence disk fails the host.
    const state = writer.state as HostResult['state'];
    const error = writer.diskFull ?? (lost ? `the connection to ${host} was lost during the playbook: ${safeLine(lost)}` : null);
    const failure: HostFailure | null = writer.diskFull ? 'disk-full' : lost ? 'dropped' : null;
    const failedSteps = steps.filter((s) => s.status === 'failed' || s.status === 'timeout').length;
    emit({ type: 'host-ended', host, state, dir, error });
    return { ...base, dir, state, failure, error, failedSteps, steps: steps.map((s) => ({ id: s.id, status: s.status, reason: s.reason })) };
  } catch (e) {
    const error = `collection from ${host} stopped: ${safeLine((e as Error).message, 1000)}`;
    const dir = writer ? await writer.finish(opts.signal?.aborted ? 'interrupted' : 'failed', error).catch(() => writer!.dir) : null;
    emit({ type: 'host-ended', host, state: 'failed', dir, error });
    return { ...base, dir, state: 'failed', failure: 'error', error };
  } finally {
    await session?.close().catch(() => undefined);
  }
}
