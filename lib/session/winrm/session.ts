// The WinRM transport: one Windows Remote Shell per target for the whole playbook, one long-lived
// PowerShell in it fed one-line invocations (output received on a connection of its own), files
// moved through that PowerShell in verified chunks. A step past its deadline gets the terminate
// signal (the target ends the command's process tree) and the next step a fresh PowerShell in
// the same shell. The shell is deleted at the end and on every error path.
import { randomBytes } from 'node:crypto';
import { invocationLine, parseSummary, RECORD_DEPTH, type InvocationContext, type StepSummary } from '../../script.ts';
import { safeLine } from '../../text.ts';
import { idleTimer, withDeadline } from '../deadline.ts';
import { boundHostOutput } from '../host-output.ts';
import { hashLine, helloProblem, HELLO_LINE, parseHashes, parseHello, SHELL_SETUP } from '../powershell-lines.ts';
import { probeTarget } from '../probe.ts';
import { remoteJoin } from '../remote-path.ts';
import type { RunOptions, Session, SessionRun, TargetInfo } from '../session.ts';
import { fetchStage, type RemoteEntry, type StageFiles } from '../stage.ts';
import { untilStopped } from '../until-stopped.ts';
import { WinrmError, WinrmShellError, WinrmTimeoutError } from './errors.ts';
import { fetchFile, pushFile, type LineRunner } from './files.ts';
import { WinrmHttp, type WinrmHttpOptions } from './http.ts';
import { PowerShellEndedError, WinrmPowerShell, type PowerShellReply, type StdoutSink } from './remote-powershell.ts';
import { WinrmShell } from './shell.ts';
import { POWERSHELL_ARGS, POWERSHELL_COMMAND } from './soap.ts';

export interface WinrmSessionOptions extends Omit<WinrmHttpOptions, 'requestTimeoutMs'> {
  /** What the responder named the target (default: host). */
  name?: string;
  /** The target's PowerShell (default powershell.exe: Windows PowerShell 5.1). */
  remoteShell?: string;
  /** Deadline for each control call: the shell, starting PowerShell, the probe, a file chunk, a hash (default 60 s). */
  commandTimeoutMs?: number;
  /** The target's MaxEnvelopeSizekb × 1024 (default 512000, Windows' default). */
  maxEnvelopeSize?: number;
  /** How long one Receive long-polls on the target (s, default 20). */
  operationTimeoutSec?: number;
}

const TOOL_NAME = /^[A-Za-z0-9][A-Za-z0-9._-]{0,100}$/;
/** Base64 of a chunk must fit one reply capture (4 MiB); fewer, larger chunks measured faster (1 MiB: 10.8 MB/s, 256 KiB: 6.5 MB/s). */
const CHUNK = 1024 * 1024;
const FETCH_ATTEMPTS = 3;
/** Files this large get their throughput noted in the step's host output. */
const LARGE = 16 * 1024 * 1024;
const NETWORK: ReadonlySet<string> = new Set(['unreachable', 'dropped', 'timeout']);

const b64 = (s: string) => Buffer.from(s, 'utf8').toString('base64');
const pathExpr = (p: string) => `[Text.Encoding]::UTF8.GetString([Convert]::FromBase64String('${b64(p)}'))`;

/**
 * Lists a folder without following links or junctions (Get-ChildItem -Recurse follows them on
 * 5.1): MAGPIE-ENTRY:<kind>:<size>:<base64 of the '/'-separated relative path>.
 */
function listLine(root: string): string {
  return (
    `$root=${pathExpr(root)}; $q=New-Object System.Collections.Queue; $q.Enqueue(''); while ($q.Count) { $rel=$q.Dequeue(); ` +
    `foreach ($e in (New-Object IO.DirectoryInfo ([IO.Path]::Combine($root,$rel))).GetFileSystemInfos()) { ` +
    `$r=$(if ($rel) { $rel + '/' + $e.Name } else { $e.Name }); $n=0; ` +
    `if ($e.Attributes -band [IO.FileAttributes]::ReparsePoint) { $k='other' } elseif ($e -is [IO.DirectoryInfo]) { $k='dir'; $q.Enqueue($r) } else { $k='file'; $n=$e.Length }; ` +
    `'MAGPIE-ENTRY:' + $k + ':' + $n + ':' + [Convert]::ToBase64String([Text.Encoding]::UTF8.GetBytes($r)) } }; 'MAGPIE-LISTED'`
  );
}

/** Every segment a plain name: nothing from the target may climb out of the local stage folder. */
function parseListing(stdout: string, where: string): RemoteEntry[] {
  if (!stdout.includes('MAGPIE-LISTED')) throw new Error(`the staging folder on ${where} could not be listed: ${safeLine(stdout, 300) || 'no answer'}`);
  const out: RemoteEntry[] = [];
  for (const m of stdout.matchAll(/MAGPIE-ENTRY:(dir|file|other):(\d+):([A-Za-z0-9+/=]*)/g)) {
    const rel = Buffer.from(m[3], 'base64').toString('utf8');
    if (rel.split('/').some((seg) => !seg || seg === '.' || seg === '..' || /[\\\0]/.test(seg))) throw new Error(`${where} listed an impossible file name: ${JSON.stringify(rel)}`);
    out.push({ rel, kind: m[1] as RemoteEntry['kind'], size: Number(m[2]) });
  }
  return out;
}

export class WinrmSession implements Session {
  info!: TargetInfo;
  private readonly control: WinrmHttp;
  private receiver?: WinrmHttp;
  private shell?: WinrmShell;
  private ps?: WinrmPowerShell;
  private tempDir!: string;
  private runs = 0;
  /** In every staging folder's name, so two sessions (or two Magpies) never share one. */
  private readonly id = randomBytes(4).toString('hex');
  private readonly where: string;
  private readonly ms: number;
  private readonly exe: string;
  private lost?: string;
  private readonly lines: LineRunner = { call: (line) => this.call(line, 'a file transfer'), stream: (line, sink) => this.stream(line, sink, 'a file transfer') };

  private constructor(private readonly opts: WinrmSessionOptions) {
    this.ms = opts.commandTimeoutMs ?? 60_000;
    this.exe = opts.remoteShell ?? POWERSHELL_COMMAND;
    // Above the long poll, so a Receive that the target holds is not cut short.
    this.control = this.connection();
    this.where = this.control.endpoint;
  }

  private connection(): WinrmHttp {
    const { name: _n, remoteShell: _r, commandTimeoutMs: _c, maxEnvelopeSize: _m, operationTimeoutSec: _o, ...http } = this.opts;
    return new WinrmHttp({ ...http, requestTimeoutMs: Math.max(this.ms, ((this.opts.operationTimeoutSec ?? 20) + 30) * 1000) });
  }

  /**
   * Authenticates, creates the shell, starts the target's PowerShell, checks its language mode and
   * version, and probes it. Rejects with a WinrmError subclass saying which; nothing is left open.
   */
  static async open(opts: WinrmSessionOptions): Promise<WinrmSession> {
    const s = new WinrmSession(opts);
    try {
      await s.init();
      return s;
    } catch (e) {
      await s.close();
      throw e;
    }
  }

  private async init(): Promise<void> {
    const { host, port } = this.control;
    this.shell = await withDeadline(WinrmShell.open(this.control, { maxEnvelopeSize: this.opts.maxEnvelopeSize, operationTimeoutSec: this.opts.operationTimeoutSec }), this.ms, () =>
      this.timeoutError('the request to create a shell'),
    );
    await this.ensurePs();
    const probed = await probeTarget((line) => this.call(line, 'the identification probe'));
    if ('error' in probed) throw new WinrmShellError(host, port, `${this.where}: ${probed.error}`, 'probe-failed');
    const { tempDir, ...target } = probed;
    this.tempDir = tempDir;
    const https = this.control.scheme === 'https';
    this.info = {
      ...target,
      name: this.opts.name ?? host,
      transport: 'winrm',
      connection: {
        address: host,
        port,
        user: this.opts.credentials.user,
        authMethod: this.control.auth,
        shell: this.exe,
        scheme: this.control.scheme,
        endpoint: this.where,
        security: https ? 'https' : 'http-message-encryption',
        ...(https && this.control.certificateSha256 ? { certificateSha256: this.control.certificateSha256 } : {}),
      },
    };
  }

  private timeoutError(what: string): WinrmTimeoutError {
    return new WinrmTimeoutError(this.control.host, this.control.port, `${this.where} did not answer ${what} within ${this.ms / 1000} s; the host or its network may be overloaded`);
  }

  /** Remembers a network failure: the session can run nothing more. */
  private note(e: unknown): void {
    const cause = e instanceof PowerShellEndedError ? e.cause : e;
    if (cause instanceof WinrmError && NETWORK.has(cause.code)) this.lost ??= cause.message;
  }

  /** One line to the current PowerShell (started when there is none) with the control deadline. */
  private async call(line: string, what: string, plain = false): Promise<PowerShellReply> {
    const ps = await this.ensurePs();
    try {
      return await withDeadline(ps.call(line, plain), this.ms, () => {
        // Whatever it is doing, it is no longer in step with us: a later call must not read its late answer.
        void this.stopPs(ps);
        return this.timeoutError(what);
      });
    } catch (e) {
      this.note(e);
      throw e;
    }
  }

  /**
   * A line whose output streams into `sink` (a fetch of any size): no deadline for the whole, but
   * the target must keep sending: `this.ms` without a byte stops it as a call's deadline would.
   */
  private async stream(line: string, sink: StdoutSink, what: string): Promise<PowerShellReply> {
    const ps = await this.ensurePs();
    let expire!: (e: Error) => void;
    const expired = new Promise<never>((_, reject) => (expire = reject));
    const idle = idleTimer(this.ms, () => {
      void this.stopPs(ps);
      expire(this.timeoutError(what));
    });
    try {
      return await Promise.race([ps.stream(line, { take: (data, marker) => (idle.touch(), sink.take(data, marker)) }), expired]);
    } catch (e) {
      this.note(e);
      throw e;
    } finally {
      idle.stop();
    }
  }

  /** A PowerShell that can run steps: started in the shell, output received on a connection of its own. */
  private async ensurePs(): Promise<WinrmPowerShell> {
    if (this.ps?.alive) return this.ps;
    const { host, port } = this.control;
    if (!this.shell) throw new WinrmShellError(host, port, `${this.where}: no shell`, 'missing');
    // A stopped PowerShell's last long poll may still hold the old receiving connection.
    this.receiver?.close();
    this.receiver = this.connection();
    let ps: WinrmPowerShell;
    try {
      ps = await withDeadline(WinrmPowerShell.start(this.shell, this.shell.via(this.receiver), this.exe, POWERSHELL_ARGS), this.ms, () => this.timeoutError(`starting "${this.exe}"`));
    } catch (e) {
      this.note(e);
      throw e;
    }
    let hello;
    try {
      hello = parseHello((await withDeadline(ps.call(HELLO_LINE, true), this.ms, () => this.timeoutError(`a plain PowerShell statement sent to "${this.exe}"`))).stdout);
    } catch (e) {
      this.note(e);
      await this.stopPs(ps);
      if (!(e instanceof PowerShellEndedError) || this.lost) throw e;
      throw new WinrmShellError(host, port, `PowerShell did not start on ${this.where}: "${this.exe}" ${e.exitCode === undefined ? 'ended' : `exited with ${e.exitCode}`}; name the target's PowerShell with --remote-shell`, 'missing');
    }
    const bad = helloProblem(hello, this.where, this.exe, 'name the PowerShell executable with --remote-shell');
    if (bad) {
      await this.stopPs(ps);
      throw new WinrmShellError(host, port, bad.message, bad.problem);
    }
    this.ps = ps;
    await this.call(SHELL_SETUP, 'the session set-up');
    return ps;
  }

  /** The terminate signal: the target ends the PowerShell and every process it started. */
  private async stopPs(ps: WinrmPowerShell): Promise<void> {
    if (this.ps === ps) this.ps = undefined;
    await withDeadline(ps.stop(), Math.min(this.ms, 15_000), () => this.timeoutError('the terminate signal')).catch((e) => this.note(e));
  }

  private async hashOnTarget(stage: string, rels: string[]): Promise<Map<string, string | undefined>> {
    const paths = rels.map((rel) => remoteJoin(this.info.os, stage, ...rel.split('/')));
    const hashes = parseHashes((await this.call(hashLine(paths), 'a request to hash files')).stdout);
    return new Map(rels.map((rel, i) => [rel, hashes.get(paths[i])]));
  }

  private stageFiles(): StageFiles {
    return {
      parallel: 1, // one PowerShell answers one line at a time
      list: async (root) => parseListing((await this.call(listLine(root), 'a folder listing')).stdout, this.where),
      // A chunk that failed (a timeout, a PowerShell that ended) is asked again from a fresh
      // PowerShell: fetchFile resumes after the prefix both ends agree on.
      fetch: async (remote, localFile, listedSize, onProgress) => {
        const broke: string[] = [];
        for (let attempt = 1; ; attempt++) {
          try {
            const r = await fetchFile(this.lines, remote, localFile, { chunkSize: CHUNK, listedSize, onProgress });
            const notes = broke.map((why) => `the transfer broke (${safeLine(why, 200)}) and was resumed`);
            if (r.resumedFrom) notes.push(`resumed after the first ${r.resumedFrom} bytes, verified on both ends`);
            if (r.size >= LARGE) notes.push(`${(r.size / 1e6).toFixed(1)} MB at ${(r.bytesPerSecond / 1e6).toFixed(1)} MB/s`);
            return { size: r.size, sha256: r.sha256, note: notes.join('; ') || undefined };
          } catch (e) {
            if (this.lost || attempt >= FETCH_ATTEMPTS) throw e;
            broke.push((e as Error).message);
          }
        }
      },
    };
  }

  async run(script: string, params: InvocationContext['params'], opts: RunOptions): Promise<SessionRun> {
    const started = Date.now();
    const done = (r: Omit<SessionRun, 'durationMs'>): SessionRun => ({ ...r, hostOutput: boundHostOutput(r.hostOutput), durationMs: Date.now() - started });
    if (this.lost) return done({ outcome: 'host-lost', hostOutput: this.lost });
    const stage = remoteJoin(this.info.os, this.tempDir, `magpie-${this.id}-${++this.runs}`);

    const pushed = await this.pushTools(stage, opts).catch((e: Error) => ({ error: `could not push the step's tools to ${this.where}: ${e.message}` }));
    if ('error' in pushed) {
      if (this.lost) return done({ outcome: 'host-lost', hostOutput: this.lost, fetchError: this.keptMessage(stage, 'the connection was lost') });
      return done({ outcome: 'completed', hostOutput: pushed.error, fetchError: await this.removeStage(stage) });
    }

    const line = invocationLine(script, { params, stage, depth: RECORD_DEPTH, target: { user: this.info.user, admin: this.info.admin }, tools: pushed.tools, management: this.control.management() });
    const ran = await this.invoke(line, opts);
    if (this.lost) return done({ outcome: 'host-lost', summary: ran.summary, hostOutput: ran.hostOutput || this.lost, fetchError: this.keptMessage(stage, 'the connection was lost before it could be fetched') });
    const home = await this.bringHome(stage, opts, ran.summary);
    return done({ outcome: ran.outcome, summary: ran.summary, hostOutput: [ran.hostOutput, home.notes].filter(Boolean).join('\n'), fetchError: home.error });
  }

  /** Sends the step and waits for its summary, the timeout or an abort; a stopped step's PowerShell is ended with its children. */
  private async invoke(line: string, opts: RunOptions): Promise<{ outcome: SessionRun['outcome']; summary?: StepSummary; hostOutput: string }> {
    let ps: WinrmPowerShell;
    try {
      ps = await this.ensurePs();
    } catch (e) {
      return { outcome: 'host-lost', hostOutput: `could not start PowerShell for the step on ${this.where}: ${(e as Error).message}` };
    }
    const first = await untilStopped(ps.call(line), opts.timeoutMs, opts.signal);
    if (first === 'timeout' || first === 'aborted') {
      await this.stopPs(ps);
      return { outcome: first, hostOutput: '' };
    }
    if ('error' in first) {
      this.note(first.error);
      if (this.lost) return { outcome: 'host-lost', hostOutput: this.lost };
      const e = first.error as PowerShellEndedError;
      return { outcome: 'host-lost', hostOutput: `the remote PowerShell on ${this.where} ended during the step${e.exitCode === undefined ? '' : ` (exit ${e.exitCode})`}: ${e.message}` };
    }
    const parsed = parseSummary(first.reply.stdout);
    return { outcome: 'completed', summary: parsed.summary, hostOutput: [parsed.rest, first.reply.stderr.trim()].filter(Boolean).join('\n') };
  }

  /** Pushes each tool into <stage>\tools in verified chunks: what runs is what was pinned. */
  private async pushTools(stage: string, opts: RunOptions): Promise<{ tools: Record<string, string> } | { error: string }> {
    const entries = Object.entries(opts.tools ?? {});
    const tools: Record<string, string> = {};
    if (!entries.length) return { tools };
    for (const [name] of entries) if (!TOOL_NAME.test(name)) return { error: `the tool name ${JSON.stringify(name)} is not a plain file name` };
    await this.call(`$null=[IO.Directory]::CreateDirectory(${pathExpr(remoteJoin(this.info.os, stage, 'tools'))})`, 'creating the staging folder');
    for (const [name, t] of entries) {
      const there = remoteJoin(this.info.os, stage, 'tools', name);
      const r = await pushFile(this.lines, t.file, there, { chunkSize: CHUNK });
      if (r.sha256 !== t.sha256.toLowerCase()) {
        return { error: `the tool ${name} on ${this.where} has SHA-256 ${r.sha256}, but the step pins ${t.sha256}; check the file in your tools folder against the pin` };
      }
      tools[name] = there;
    }
    return { tools };
  }

  /** Fetches and verifies; removes the remote folder only then. Returns what went wrong, if anything. */
  private async bringHome(stage: string, opts: RunOptions, summary: StepSummary | undefined): Promise<{ error?: string; notes?: string }> {
    let fetched;
    try {
      fetched = await fetchStage(this.stageFiles(), stage, opts.stageDir, summary, (rels) => this.hashOnTarget(stage, rels), opts.onProgress);
    } catch (e) {
      return { error: this.keptMessage(stage, `the fetch failed: ${this.lost ?? (e as Error).message}`) };
    }
    const notes = fetched.notes.join('\n') || undefined;
    if (!fetched.verified) return { error: this.keptMessage(stage, `the fetch could not be verified: ${fetched.problems.join('; ')}`), notes };
    return { error: await this.removeStage(stage), notes };
  }

  /** Directory.Delete removes links and junctions themselves, never what they point to. */
  private async removeStage(stage: string): Promise<string | undefined> {
    try {
      const r = await this.call(`$p=${pathExpr(stage)}; if ([IO.Directory]::Exists($p)) { [IO.Directory]::Delete($p, $true) }; 'MAGPIE-REMOVED'`, 'removing the staging folder');
      if (!r.stdout.includes('MAGPIE-REMOVED')) throw new Error(safeLine(r.stderr || r.stdout, 300) || 'no answer');
      return undefined;
    } catch (e) {
      return `the staging folder could not be removed from ${this.where}: ${stage} (${(e as Error).message}); remove it by hand`;
    }
  }

  private keptMessage(stage: string, why: string): string {
    return `${why}; the step's folder is kept on ${this.where} at ${stage} (fetch it by hand, then remove it)`;
  }

  /** Why nothing more can run here: the endpoint stopped answering (a new session is needed). */
  lostReason(): string | undefined {
    return this.lost;
  }

  /** Ends the PowerShell, deletes the shell and closes both connections, whatever state they are in. */
  async close(): Promise<void> {
    if (!this.lost) {
      if (this.ps) await this.stopPs(this.ps);
      if (this.shell) await withDeadline(this.shell.close(), Math.min(this.ms, 15_000), () => this.timeoutError('the request to delete the shell')).catch(() => undefined);
    }
    this.shell = undefined;
    this.receiver?.close();
    this.control.close();
  }
}
