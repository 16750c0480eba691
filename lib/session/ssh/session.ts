// The SSH transport: one connection per target, one long-lived PowerShell on it fed one-line
// invocations, SFTP for tools and evidence. A step past its deadline is stopped on the target
// (its whole process tree) and the next step gets a fresh PowerShell.
import type { Socket } from 'node:net';
import { managementOf } from '../management.ts';
import { randomBytes } from 'node:crypto';
import type { OsName } from '../../definitions.ts';
import { invocationLine, parseSummary, RECORD_DEPTH, type InvocationContext, type StepSummary } from '../../script.ts';
import { safeLine } from '../../text.ts';
import type { RunOptions, Session, SessionRun, TargetInfo } from '../session.ts';
import { connect, type SshConnection, type SshConnectOptions } from './connect.ts';
import { withDeadline } from '../deadline.ts';
import { untilStopped } from '../until-stopped.ts';
import { SshDroppedError, SshShellError, SshTimeoutError } from './errors.ts';
import { execCollect } from './exec.ts';
import { killTreeCommand } from './kill-command.ts';
import { probeTarget } from '../probe.ts';
import { looksWindows, remoteJoin, sftpPath } from '../remote-path.ts';
import { RemoteShell, ShellExitedError, type ShellReply } from './remote-shell.ts';
import { RemoteFiles } from './sftp.ts';
import { defaultShell, parseSha256sum, sha256sumCommand, shellCommand } from './shell-command.ts';
import { hashLine, helloProblem, parseHashes, SHELL_SETUP } from '../powershell-lines.ts';
import { fetchStage } from '../stage.ts';
import { boundHostOutput } from '../host-output.ts';

export interface SshSessionOptions extends SshConnectOptions {
  /** What the responder named the target (default: host). */
  name?: string;
  /** The target's PowerShell executable (default: pwsh, or powershell.exe on a Windows OpenSSH server). */
  remoteShell?: string;
  /** Deadline for each control call: starting PowerShell, the probe, a hash, an SFTP request, a kill (default 60 s). */
  commandTimeoutMs?: number;
}

const TOOL_NAME = /^[A-Za-z0-9][A-Za-z0-9._-]{0,100}$/;

export class SshSession implements Session {
  info!: TargetInfo;
  private shell?: RemoteShell;
  private files!: RemoteFiles;
  private tempDir!: string;
  private exe!: string;
  /** The OS SFTP suggested until the probe says; it picks the shell and the kill command. */
  private osName: OsName = 'linux';
  private runs = 0;
  /** In every staging folder's name, so two sessions (or two Magpies) never share one. */
  private readonly id = randomBytes(4).toString('hex');
  private readonly where: string;
  private readonly ms: number;

  private constructor(
    private opts: SshSessionOptions,
    private conn: SshConnection,
  ) {
    this.where = `${opts.host}:${opts.port ?? 22}`;
    this.ms = opts.commandTimeoutMs ?? 60_000;
  }

  /**
   * Connects (host key checked, then authentication), starts the target's PowerShell, checks its
   * language mode and version, and probes it. Rejects with an SshError subclass saying which.
   */
  static async open(opts: SshSessionOptions): Promise<SshSession> {
    const conn = await connect(opts);
    const s = new SshSession(opts, conn);
    try {
      await s.init();
      return s;
    } catch (e) {
      s.shell?.abandon();
      conn.client.end();
      // Whatever failed on the way, a connection that went is the cause to report.
      const lost = conn.lost();
      if (lost && !(e instanceof SshShellError)) throw new SshDroppedError(opts.host, opts.port ?? 22, `${lost} (while opening the session)`);
      throw e;
    }
  }

  private get os(): OsName {
    return this.osName;
  }

  private timeoutError(what: string): SshTimeoutError {
    return new SshTimeoutError(this.opts.host, this.opts.port ?? 22, `${this.where} did not answer ${what} within ${this.ms / 1000} s; the host or its network may be overloaded`);
  }

  private async init(): Promise<void> {
    const host = this.opts.host;
    const port = this.opts.port ?? 22;
    this.files = await RemoteFiles.open(this.conn.client, this.ms, (what) => this.timeoutError(what));
    // Which PowerShell to start depends on the OS, and SFTP can tell without any shell.
    this.osName = looksWindows(await this.files.realpath('.')) ? 'windows' : 'linux';
    this.exe = this.opts.remoteShell ?? defaultShell(this.osName);
    this.shell = await this.startShell(this.osName);
    const probed = await probeTarget((line) => this.call(this.shell!, line, 'the identification probe'));
    if ('error' in probed) throw new SshShellError(host, port, `${this.where}: ${probed.error}`, 'probe-failed');
    const { tempDir, ...target } = probed;
    this.tempDir = tempDir;
    this.osName = target.os;
    this.info = { ...target, name: this.opts.name ?? host, transport: 'ssh', connection: { ...this.conn.info, shell: this.exe } };
  }

  private call(shell: RemoteShell, line: string, what: string): Promise<ShellReply> {
    return withDeadline(shell.call(line), this.ms, () => {
      // Whatever it is doing, it is no longer in step with us: a later call must not read its late answer.
      void this.killShell(shell);
      return this.timeoutError(what);
    });
  }

  /** Starts PowerShell and makes sure it can run steps, with errors that name the cause. */
  private async startShell(os: OsName): Promise<RemoteShell> {
    const host = this.opts.host;
    const port = this.opts.port ?? 22;
    const shell = await withDeadline(RemoteShell.start(this.conn.client, shellCommand(os, this.exe)), this.ms, () => this.timeoutError(`starting "${this.exe}"`));
    let hello;
    try {
      hello = await withDeadline(shell.hello(), this.ms, () => {
        shell.abandon();
        return this.timeoutError(`a plain PowerShell statement sent to "${this.exe}"`);
      });
    } catch (e) {
      if (!(e instanceof ShellExitedError)) throw e;
      const said = safeLine(e.stderr || 'no output', 300);
      throw new SshShellError(host, port, `PowerShell did not start on ${this.where}: "${this.exe}" ${e.exitCode == null ? 'ended' : `exited with ${e.exitCode}`} (${said}); install PowerShell there or name its executable with --remote-shell`, 'missing');
    }
    const bad = helloProblem(hello, this.where, this.exe, 'name the PowerShell executable with --remote-shell');
    if (bad) {
      if (bad.problem === 'missing') shell.abandon();
      else await shell.end(2000);
      throw new SshShellError(host, port, bad.message, bad.problem);
    }
    await this.call(shell, SHELL_SETUP, 'the session set-up');
    return shell;
  }

  private async ensureShell(): Promise<RemoteShell> {
    if (!this.shell?.alive) this.shell = await this.startShell(this.os);
    return this.shell;
  }

  /** Stops a shell's whole process tree on the target, through a second channel. */
  private async killShell(shell: RemoteShell): Promise<void> {
    if (!shell.alive) return;
    if (shell.pid) {
      const { command, stdin } = killTreeCommand(this.os, shell.pid);
      await execCollect(this.conn.client, command, Math.min(this.ms, 15_000), stdin).catch(() => undefined);
      await Promise.race([shell.closed, new Promise((r) => setTimeout(r, 10_000).unref())]);
    }
    shell.abandon();
  }

  private async hashOnTarget(stageNative: string, rels: string[]): Promise<Map<string, string | undefined>> {
    if (!this.shell?.alive && this.os === 'linux') {
      const r = await execCollect(this.conn.client, sha256sumCommand(stageNative), this.ms, rels.join('\0'), 16 * 1024 * 1024);
      const found = parseSha256sum(r.stdout);
      // A sha256sum without -z (busybox) answers nothing useful: PowerShell it is, then.
      if (found.size || r.code === 0) return new Map(rels.map((rel) => [rel, found.get(rel)]));
    }
    const shell = await this.ensureShell();
    const paths = rels.map((rel) => remoteJoin(this.os, stageNative, ...rel.split('/')));
    const hashes = parseHashes((await this.call(shell, hashLine(paths), 'a request to hash files')).stdout);
    return new Map(rels.map((rel, i) => [rel, hashes.get(paths[i])]));
  }

  /** Why the connection is gone, once it is (given a moment: a channel may close just before its connection). */
  private async connectionLost(): Promise<string | undefined> {
    await Promise.race([this.conn.whenLost, new Promise((r) => setTimeout(r, 300).unref())]);
    return this.conn.lost();
  }

  async run(script: string, params: InvocationContext['params'], opts: RunOptions): Promise<SessionRun> {
    const started = Date.now();
    const done = (r: Omit<SessionRun, 'durationMs'>): SessionRun => {
      return { ...r, hostOutput: boundHostOutput(r.hostOutput), durationMs: Date.now() - started };
    };
    const lostBefore = this.conn.lost();
    if (lostBefore) return done({ outcome: 'host-lost', hostOutput: lostBefore });

    // Before anything of this step exists on the target: a failure here leaves nothing behind.
    let shell: RemoteShell;
    const n = ++this.runs;
    const stageNative = remoteJoin(this.os, this.tempDir, `magpie-${this.id}-${n}`);
    const stage = sftpPath(this.os, stageNative);
    try {
      shell = await this.ensureShell();
      await this.files.mkdir(stage);
    } catch (e) {
      const lost = await this.connectionLost();
      if (lost) return done({ outcome: 'host-lost', hostOutput: lost });
      return done({ outcome: 'completed', hostOutput: `could not prepare the step on ${this.where}: ${(e as Error).message}` });
    }

    const pushed = await this.pushTools(stage, stageNative, opts).catch((e: Error) => ({ error: `could not push the step's tools to ${this.where}: ${e.message}` }));
    if ('error' in pushed) {
      const lost = await this.connectionLost();
      if (lost) return done({ outcome: 'host-lost', hostOutput: lost, fetchError: this.keptMessage(stageNative, 'the connection was lost') });
      const removed = await this.removeStage(stage, stageNative);
      return done({ outcome: 'completed', hostOutput: pushed.error, fetchError: removed });
    }

    const line = invocationLine(script, { params, stage: stageNative, depth: RECORD_DEPTH, target: { user: this.info.user, admin: this.info.admin }, tools: pushed.tools, management: managementOf((this.conn.client as unknown as { _sock?: Socket })._sock) });
    const ran = await this.invoke(shell, line, opts);
    if (ran.connectionLost) {
      return done({ outcome: 'host-lost', summary: ran.summary, hostOutput: ran.hostOutput, fetchError: this.keptMessage(stageNative, 'the connection was lost before it could be fetched') });
    }
    const fetchError = await this.bringHome(stage, stageNative, opts.stageDir, ran.summary, opts.onProgress);
    return done({ outcome: ran.outcome, summary: ran.summary, hostOutput: [ran.hostOutput, fetchError.notes].filter(Boolean).join('\n'), fetchError: fetchError.error });
  }

  /** Sends the step and waits for its summary, the timeout, an abort or the end of the connection. */
  private async invoke(
    shell: RemoteShell,
    line: string,
    opts: RunOptions,
  ): Promise<{ outcome: SessionRun['outcome']; summary?: StepSummary; hostOutput: string; connectionLost: boolean }> {
    const lost = this.conn.whenLost.then((reason) => ({ lost: reason }));
    const first = await untilStopped(shell.call(line), opts.timeoutMs, opts.signal, lost);

    if (first === 'timeout' || first === 'aborted') {
      await this.killShell(shell);
      const lostNow = this.conn.lost();
      return { outcome: first, hostOutput: lostNow ?? '', connectionLost: !!lostNow };
    }
    if ('lost' in first) {
      shell.abandon();
      return { outcome: 'host-lost', hostOutput: first.lost, connectionLost: true };
    }
    if ('error' in first) {
      const lostNow = await this.connectionLost();
      if (lostNow) return { outcome: 'host-lost', hostOutput: lostNow, connectionLost: true };
      const e = first.error as ShellExitedError;
      return { outcome: 'host-lost', hostOutput: `the remote PowerShell on ${this.where} ended during the step${e.exitCode == null ? '' : ` (exit ${e.exitCode})`}: ${e.stderr || 'no output'}`, connectionLost: false };
    }
    const parsed = parseSummary(first.reply.stdout);
    return { outcome: 'completed', summary: parsed.summary, hostOutput: [parsed.rest, first.reply.stderr.trim()].filter(Boolean).join('\n'), connectionLost: false };
  }

  /** Uploads each tool into <stage>/tools and has the target hash it: what runs is what was pinned. */
  private async pushTools(stage: string, stageNative: string, opts: RunOptions): Promise<{ tools: Record<string, string> } | { error: string }> {
    const entries = Object.entries(opts.tools ?? {});
    const tools: Record<string, string> = {};
    if (!entries.length) return { tools };
    await this.files.mkdir(`${stage}/tools`);
    for (const [name, t] of entries) {
      if (!TOOL_NAME.test(name)) return { error: `the tool name ${JSON.stringify(name)} is not a plain file name` };
      await this.files.push(t.file, `${stage}/tools/${name}`, 0o755);
      tools[name] = remoteJoin(this.os, stageNative, 'tools', name);
    }
    const hashes = await this.hashOnTarget(stageNative, entries.map(([name]) => `tools/${name}`));
    for (const [name, t] of entries) {
      const there = hashes.get(`tools/${name}`);
      if (there !== t.sha256.toLowerCase()) {
        return { error: `the tool ${name} on ${this.where} has SHA-256 ${there ?? '(unreadable)'}, but the step pins ${t.sha256}; check the file in your tools folder against the pin` };
      }
    }
    return { tools };
  }

  /** Fetches and verifies; removes the remote folder only then. Returns what went wrong, if anything. */
  private async bringHome(stage: string, stageNative: string, localDir: string, summary: StepSummary | undefined, onProgress: RunOptions['onProgress']): Promise<{ error?: string; notes?: string }> {
    let fetched;
    try {
      fetched = await fetchStage(this.files, stage, localDir, summary, (rels) => this.hashOnTarget(stageNative, rels), onProgress);
    } catch (e) {
      const lost = this.conn.lost();
      return { error: this.keptMessage(stageNative, `the fetch failed: ${lost ?? (e as Error).message}`) };
    }
    const notes = fetched.notes.join('\n') || undefined;
    if (!fetched.verified) return { error: this.keptMessage(stageNative, `the fetch could not be verified: ${fetched.problems.join('; ')}`), notes };
    try {
      await this.files.removeTree(stage, fetched.entries);
    } catch (e) {
      return { error: `fetched and verified, but the staging folder could not be removed from ${this.where}: ${stageNative} (${(e as Error).message}); remove it by hand`, notes };
    }
    return { notes };
  }

  private async removeStage(stage: string, stageNative: string): Promise<string | undefined> {
    try {
      await this.files.removeTree(stage, await this.files.list(stage));
      return undefined;
    } catch (e) {
      return `the staging folder could not be removed from ${this.where}: ${stageNative} (${(e as Error).message}); remove it by hand`;
    }
  }

  private keptMessage(stageNative: string, why: string): string {
    return `${why}; the step's folder is kept on ${this.where} at ${stageNative} (fetch it by hand, e.g. with sftp, then remove it)`;
  }

  /** Why nothing more can run here: the connection dropped (a new session is needed). */
  lostReason(): string | undefined {
    return this.conn.lost();
  }

  async close(): Promise<void> {
    if (!this.conn.lost()) {
      const shell = this.shell;
      if (shell?.alive && !(await shell.end(5000))) await this.killShell(shell);
      this.files?.end();
    }
    this.conn.client.end();
    await Promise.race([this.conn.whenLost, new Promise((r) => setTimeout(r, 5000).unref())]);
  }
}
