// One long-lived PowerShell process (node-powershell), hardened against its known traps:
// any stderr output would throw, an idle crash would be an unhandled rejection, and an
// invocation timeout does not stop the command — so we kill the process tree ourselves.
import { tmpdir } from 'node:os';
import { PowerShell } from 'node-powershell';
import { killTree } from '../kill-tree.ts';
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

// Keeps PowerShell from reaching for the network (update check, telemetry) on a responder's box.
const QUIET_ENV = {
  POWERSHELL_TELEMETRY_OPTOUT: '1',
  POWERSHELL_UPDATECHECK: 'Off',
  DOTNET_CLI_TELEMETRY_OPTOUT: '1',
  DOTNET_NOLOGO: '1',
};

export class PwshHost {
  private shell: PowerShell;
  private exited = false;
  readonly pid: number;

  constructor() {
    this.shell = new PowerShell({
      executable: requirePwsh(),
      executableOptions: { '-NoProfile': true, '-NonInteractive': true },
      throwOnInvocationError: false,
      // Not the responder's folder: nothing a step does should land there by accident.
      spawnOptions: { cwd: tmpdir(), env: { ...process.env, ...QUIET_ENV } },
    });
    const internals = this.shell as unknown as { exitPromise: Promise<void>; process: { pid: number } };
    internals.exitPromise.then(
      () => (this.exited = true),
      () => (this.exited = true),
    );
    this.pid = internals.process.pid;
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
      throw new HostLostError(`the PowerShell host stopped: ${(e as Error).message}`);
    }
  }

  kill(): void {
    if (this.exited) return;
    killTree(this.pid);
  }

  async close(): Promise<void> {
    if (this.exited) return;
    await this.shell.dispose().catch(() => undefined);
    this.exited = true;
  }
}
