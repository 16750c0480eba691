// The command line that starts the target's PowerShell reading one command per line from stdin.
import type { OsName } from '../../definitions.ts';

export function defaultShell(os: OsName): string {
  return os === 'windows' ? 'powershell.exe' : 'pwsh';
}

export function shellCommand(os: OsName, exe: string): string {
  const args = '-NoLogo -NoProfile -NonInteractive -Command -';
  if (os === 'windows') {
    // cmd.exe or PowerShell as the server's default shell both take a double-quoted path.
    return `${/[\s&()^]/.test(exe) ? `"${exe}"` : exe} ${args}`;
  }
  // pwsh would otherwise phone home (telemetry, update check) from a host under investigation.
  const quoted = /^[A-Za-z0-9_./-]+$/.test(exe) ? exe : `'${exe.replace(/'/g, `'\\''`)}'`;
  return `env POWERSHELL_TELEMETRY_OPTOUT=1 POWERSHELL_UPDATECHECK=Off DOTNET_CLI_TELEMETRY_OPTOUT=1 DOTNET_NOLOGO=1 ${quoted} ${args}`;
}

/**
 * Linux without a running PowerShell (after a stopped step): coreutils' sha256sum hashes in a
 * fraction of a PowerShell start-up. Names go NUL-separated on stdin and come back NUL-terminated,
 * so no name from the target is ever parsed by a shell.
 */
export function sha256sumCommand(dir: string): string {
  return `cd -- '${dir.replace(/'/g, `'\\''`)}' && xargs -0 sha256sum -z --`;
}

export function parseSha256sum(stdout: string): Map<string, string> {
  const out = new Map<string, string>();
  for (const rec of stdout.split('\0')) {
    const m = /^([0-9a-f]{64}) [ *](.*)$/s.exec(rec);
    if (m) out.set(m[2], m[1]);
  }
  return out;
}
