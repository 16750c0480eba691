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

/** Said once the shell is known to run in FullLanguage: plain text, no progress bars, UTF-8 out. */
export const SHELL_SETUP =
  "$ProgressPreference = 'SilentlyContinue'; if ($PSStyle) { $PSStyle.OutputRendering = 'PlainText' }; try { [Console]::OutputEncoding = [Text.UTF8Encoding]::new($false) } catch { $null = $_ }";

/** One line that hashes files on the target: paths travel base64 (comma-separated), answers come back as MAGPIE-HASH:<b64>:<hex|->. */
export function hashLine(paths: string[]): string {
  const list = paths.map((p) => Buffer.from(p, 'utf8').toString('base64')).join(',');
  return (
    "& { param($l) $sha = [Security.Cryptography.SHA256]::Create(); foreach ($b in $l.Split(',')) { $h = '-'; " +
    'try { $s = [IO.File]::OpenRead([Text.Encoding]::UTF8.GetString([Convert]::FromBase64String($b))); ' +
    "try { $h = ([BitConverter]::ToString($sha.ComputeHash($s)) -replace '-', '').ToLowerInvariant() } finally { $s.Dispose() } } catch { $null = $_ }; " +
    `'MAGPIE-HASH:' + $b + ':' + $h } } '${list}'`
  );
}

export function parseHashes(stdout: string): Map<string, string | undefined> {
  const out = new Map<string, string | undefined>();
  for (const m of stdout.matchAll(/MAGPIE-HASH:([A-Za-z0-9+/=]+):([0-9a-f]{64}|-)/g)) {
    out.set(Buffer.from(m[1], 'base64').toString('utf8'), m[2] === '-' ? undefined : m[2]);
  }
  return out;
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
