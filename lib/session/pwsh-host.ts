// One long-lived PowerShell process (node-powershell), hardened against its known traps:
// any stderr output would throw, an idle crash would be an unhandled rejection, and an
// invocation timeout does not stop the command — so we stop the process tree ourselves.
//
// On Linux and macOS the host runs as the leader of its own process group (perl's setpgrp: the
// setsid command made a new session, in which pwsh hung on its first command about one start
// in five),
// because `pwsh` from the .NET global tool is a launcher whose engine is a child `dotnet`
// process: killing the launcher alone left the engine running, re-parented to init, still
// holding a step's files open. A watchdog (`sh`, reading a pipe from Magpie) kills the group
// when Magpie dies by any means, even SIGKILL, when the pipe closes.
import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import { platform, tmpdir } from 'node:os';
import { join } from 'node:path';
import { PowerShell } from 'node-powershell';
import { descendants, killTree } from '../kill-tree.ts';
import { requirePwsh } from '../pwsh.ts';

export interface HostReply {
  stdout: string;
  stderr: string;
}

export class HostLostError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'HostLostError';
  }
}

/**
 * The environment of every PowerShell Magpie starts. No update check or telemetry (no network
 * from a responder's box), and no .NET diagnostics: they leave `clr-debug-pipe-*` and
 * `dotnet-diagnostic-*` files in /tmp for as long as the process lives.
 */
export const QUIET_ENV: Record<string, string> = {
  POWERSHELL_TELEMETRY_OPTOUT: '1',
  POWERSHELL_UPDATECHECK: 'Off',
  DOTNET_CLI_TELEMETRY_OPTOUT: '1',
  DOTNET_NOLOGO: '1',
  DOTNET_EnableDiagnostics: '0',
};

// perl is part of every Debian and macOS base system; without it the host runs ungrouped and is
// stopped through its descendants instead.
const PERL = platform() === 'win32' ? undefined : ['/usr/bin/perl', '/bin/perl'].find((p) => existsSync(p));
const GROUP_LEADER = ['-e', 'setpgrp(0, 0); exec { $ARGV[0] } @ARGV or die "magpie: cannot start $ARGV[0]: $!\\n"'];

// node-powershell spawns `executable` with the arguments it builds in setExecutableOptions (private
// in its types, overridable at run time) from the options given to its constructor; this subclass
// puts perl's setpgrp and the pwsh path (`leader`, an option of ours) first.
type Options = ConstructorParameters<typeof PowerShell>[0] & { leader?: string };
const Overridable = PowerShell as unknown as new (options: Options) => { setExecutableOptions(o: Options): string[] };
class GroupedPowerShell extends Overridable {
  override setExecutableOptions(options: Options): string[] {
    const args = super.setExecutableOptions(options);
    return options.leader ? [...GROUP_LEADER, options.leader, ...args] : args;
  }
}

export class PwshHost {
  private shell: PowerShell;
  private exited = false;
  private watchdog?: ChildProcess;
  /** PowerShell's own temp files (its PSHost pipe) go here, not into the host's /tmp; removed on close. */
  readonly tempDir: string;
  readonly pid: number;
  /** True when the host leads its own process group (pgid = pid). */
  readonly grouped: boolean;

  constructor() {
    const pwsh = requirePwsh();
    this.tempDir = mkdtempSync(join(tmpdir(), 'magpie-host-'));
    this.grouped = Boolean(PERL);
    this.shell = new (GroupedPowerShell as unknown as new (o: Options) => PowerShell)({
      executable: PERL ?? pwsh,
      leader: PERL ? pwsh : undefined,
      executableOptions: { '-NoProfile': true, '-NonInteractive': true },
      throwOnInvocationError: false,
      // Not the responder's folder: nothing a step does should land there by accident.
      spawnOptions: { cwd: this.tempDir, env: { ...process.env, ...QUIET_ENV, TMPDIR: this.tempDir } },
    });
    const internals = this.shell as unknown as { exitPromise: Promise<void>; process: { pid: number } };
    internals.exitPromise.then(
      () => (this.exited = true),
      () => (this.exited = true),
    );
    this.pid = internals.process.pid;
    if (this.grouped) this.startWatchdog();
  }

  /** Kills the host's process group and removes its temp folder when Magpie's end of the pipe closes. */
  private startWatchdog(): void {
    // dash's kill takes no `--`: the negative pid follows the signal directly.
    const script = 'read _; kill -KILL "-$0" 2>/dev/null; rm -rf -- "$1"';
    this.watchdog = spawn('/bin/sh', ['-c', script, String(this.pid), this.tempDir], { stdio: ['pipe', 'ignore', 'ignore'], detached: true });
    this.watchdog.on('error', () => undefined);
    this.watchdog.stdin?.on('error', () => undefined);
    // Neither the watchdog nor its pipe may keep Magpie alive.
    this.watchdog.unref();
    (this.watchdog.stdin as unknown as { unref?: () => void } | null)?.unref?.();
  }

  get alive(): boolean {
    return !this.exited;
  }

  /** Sends one line; the caller guarantees it is a single line. */
  async invoke(line: string): Promise<HostReply> {
    if (line.includes('\n') || line.includes('\r')) throw new Error('PwshHost.invoke takes a single line');
    if (this.exited) throw new HostLostError('the PowerShell host has exited');
    try {
      const r = await this.shell.invoke(line);
      return { stdout: r.stdout?.toString('utf8') ?? '', stderr: r.stderr?.toString('utf8') ?? '' };
    } catch (e) {
      // child-shell appends the message of an error it often does not have ("…exited.\nundefined").
      const why = (e as Error).message.replace(/\s*undefined\s*$/, '').trim();
      throw new HostLostError(`the PowerShell host stopped: ${why}`);
    }
  }

  /**
   * Stops the host and everything it started, also when the host process itself is already
   * gone (its engine and a step's children may not be).
   */
  kill(): void {
    if (this.grouped) {
      // Children that left the group (setsid, daemons) are found by parentage while they still have it.
      const tree = descendants(this.pid);
      try {
        process.kill(-this.pid, 'SIGKILL');
      } catch {
        // no member of the group is left
      }
      for (const p of tree) {
        try {
          process.kill(p, 'SIGKILL');
        } catch {
          // already gone
        }
      }
    } else if (!this.exited) {
      killTree(this.pid);
    }
  }

  async close(): Promise<void> {
    if (!this.exited) await this.shell.dispose().catch(() => undefined);
    this.exited = true;
    // A step may have left children behind; the group dies with the host.
    this.kill();
    this.stopWatchdog();
    rmSync(this.tempDir, { recursive: true, force: true });
  }

  private stopWatchdog(): void {
    // SIGKILL, not EOF: EOF would make it kill a process group whose id may be reused by now.
    try {
      this.watchdog?.kill('SIGKILL');
    } catch {
      // already gone
    }
    this.watchdog = undefined;
  }
}
