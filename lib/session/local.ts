// The local transport: a pwsh on the responder's own machine, writing straight into the
// staging folder the runner made inside the evidence folder.
import { boundHostOutput } from './host-output.ts';
import { chmodSync, constants, copyFileSync, readFileSync, mkdirSync } from 'node:fs';
import { sha256File } from '../evidence/hash.ts';
import { hostname, platform, release } from 'node:os';
import { localUser } from '../identity.ts';
import { join } from 'node:path';
import type { OsName } from '../definitions.ts';
import { invocationLine, parseSummary, RECORD_DEPTH, scriptBlockLine, type InvocationContext } from '../script.ts';
import { DIAGNOSE_AFTER_MS, localHelloProblem } from './local-hello.ts';
import { HostLostError, PwshHost } from './pwsh-host.ts';
import { probeTarget, type Probed } from './probe.ts';
import { takeWarmHost } from './warm-host.ts';
import { untilStopped } from './until-stopped.ts';
import type { RunOptions, Session, SessionRun, TargetInfo } from './session.ts';

const HOST_START_MS = 120_000;

export interface LocalSessionOptions {
  /** Name the responder gave; defaults to the machine's hostname. */
  name?: string;
  /**
   * PowerShell dot-sourced into every host this session starts, before any step. Tests use it
   * to stand in for Windows-only cmdlets; it is recorded in the manifest when set.
   */
  startupScript?: string;
  /** Pick the scripts of this OS instead of the probed one (with startupScript, for recorded Windows data). */
  osOverride?: OsName;
}

/** Runs the probe (lib/session/probe.ts) on a local PwshHost. */
export async function probeHost(host: PwshHost): Promise<Probed> {
  const probed = await probeTarget((line) => host.invoke(line));
  if ('error' in probed) throw new HostLostError(probed.error);
  return probed;
}

export class LocalSession implements Session {
  private host!: PwshHost;
  info!: TargetInfo;

  private constructor(private opts: LocalSessionOptions) {}

  static async open(opts: LocalSessionOptions = {}): Promise<LocalSession> {
    const s = new LocalSession(opts);
    await s.startHost();
    if (platform() === 'win32') {
      // Administrator rights on Windows are only known from inside: ask the host.
      const probed = await probeHost(s.host);
      s.info = { ...probed, name: opts.name ?? probed.hostname, os: opts.osOverride ?? probed.os, transport: 'local' };
    } else {
      // This machine and this clock: Node knows who and what it is, and the PowerShell version
      // arrives with the first step's summary. A probe costs a cold PowerShell 100-250 ms
      // (measured: docs/benchmarks.md).
      const user = localUser();
      s.info = {
        name: opts.name ?? hostname(),
        hostname: hostname(),
        os: opts.osOverride ?? 'linux',
        osVersion: `${platform()} ${release()}`,
        psVersion: 'unknown',
        psEdition: 'unknown',
        user: user.username,
        admin: user.uid === 0,
        transport: 'local',
        clockSkewMs: 0,
      };
    }
    return s;
  }

  private async startHost(): Promise<void> {
    this.host = takeWarmHost() ?? new PwshHost();
    // A step's timeout covers the step, not PowerShell's start-up (seconds on a loaded machine).
    const first = this.host.invoke('$null');
    let ready = await untilStopped(first, DIAGNOSE_AFTER_MS);
    if (ready === 'timeout') {
      const problem = await localHelloProblem();
      if (problem) {
        this.host.kill();
        throw new HostLostError(problem);
      }
      ready = await untilStopped(first, HOST_START_MS - DIAGNOSE_AFTER_MS);
    }
    if (ready === 'timeout' || ready === 'aborted' || 'error' in ready) {
      this.host.kill();
      throw new HostLostError(ready === 'timeout' ? `PowerShell did not start within ${HOST_START_MS / 1000} s` : ready === 'aborted' ? 'aborted' : ready.error.message);
    }
    if (this.opts.startupScript) {
      const src = readFileSync(this.opts.startupScript, 'utf8');
      await this.host.invoke(scriptBlockLine(src, '.'));
    }
  }

  async run(script: string, params: InvocationContext['params'], opts: RunOptions): Promise<SessionRun> {
    if (!this.host.alive) {
      // The last step's host was stopped: end its watchdog and temp folder before starting anew.
      await this.host.close();
      try {
        await this.startHost();
      } catch (e) {
        return { outcome: 'host-lost', hostOutput: `a new PowerShell host could not be started: ${(e as Error).message}`, durationMs: 0 };
      }
    }
    const stage = opts.stageDir;
    // Push: each tool is copied into the step's staging folder and hashed again there.
    const tools: Record<string, string> = {};
    for (const [name, t] of Object.entries(opts.tools ?? {})) {
      mkdirSync(join(stage, 'tools'), { recursive: true });
      const dest = join(stage, 'tools', name);
      copyFileSync(t.file, dest, constants.COPYFILE_EXCL);
      chmodSync(dest, 0o755);
      const pushed = (await sha256File(dest)).sha256;
      if (pushed !== t.sha256) throw new Error(`the tool ${name} changed on its way to the target (${pushed}, pinned ${t.sha256})`);
      tools[name] = dest;
    }
    const line = invocationLine(script, { params, stage, depth: RECORD_DEPTH, target: { user: this.info.user, admin: this.info.admin }, tools });
    const started = Date.now();
    let outcome: SessionRun['outcome'] = 'completed';
    const invoked = this.host.invoke(line);
    const first = await untilStopped(invoked, opts.timeoutMs, opts.signal);
    let hostOutput = '';
    let summary;
    if (first === 'timeout' || first === 'aborted') {
      // The command is still running in the host: stop the host and everything it started.
      outcome = first;
      this.host.kill();
      await invoked.catch(() => undefined);
    } else if ('error' in first) {
      outcome = 'host-lost';
      hostOutput = first.error.message;
      this.host.kill();
    } else {
      const parsed = parseSummary(first.reply.stdout);
      summary = parsed.summary;
      if (summary?.psVersion && this.info.psVersion === 'unknown') Object.assign(this.info, { psVersion: summary.psVersion, psEdition: summary.psEdition });
      hostOutput = [parsed.rest, first.reply.stderr].filter(Boolean).join('\n');
      // No summary from a live host means the script itself did not run (e.g. it does not parse).
      if (!summary && !this.host.alive) outcome = 'host-lost';
    }
    return { outcome, summary, hostOutput: boundHostOutput(hostOutput), durationMs: Date.now() - started };
  }

  async close(): Promise<void> {
    await this.host.close();
  }
}
