// One-line PowerShell that every remote transport sends to its long-lived PowerShell (SSH's
// RemoteShell, WinRM's WinrmPowerShell): the hello that decides whether steps can run at all, the
// session set-up, and hashing files on the target. Paths travel base64, never spliced as code.

/** Plain statements only (Constrained Language Mode must still answer): pid, language mode, version. */
export const HELLO_LINE = `'MAGPIE-HELLO:' + $PID + ':' + $ExecutionContext.SessionState.LanguageMode + ':' + $PSVersionTable.PSVersion`;

export interface HelloInfo {
  pid: number;
  languageMode: string;
  psVersion: string;
}

export function parseHello(stdout: string): HelloInfo | undefined {
  const m = /MAGPIE-HELLO:(\d+):(\w*):([\d.]*)/.exec(stdout);
  return m ? { pid: Number(m[1]), languageMode: m[2], psVersion: m[3] || '1.0' } : undefined;
}

export type HelloProblem = 'missing' | 'constrained-language' | 'too-old';

/** Why a PowerShell that answered the hello cannot run steps, with what to do; undefined when it can. */
export function helloProblem(hello: HelloInfo | undefined, where: string, exe: string, fix: string): { problem: HelloProblem; message: string } | undefined {
  if (!hello) return { problem: 'missing', message: `"${exe}" on ${where} does not answer like PowerShell; ${fix}` };
  if (hello.languageMode !== 'FullLanguage') {
    return {
      problem: 'constrained-language',
      message: `PowerShell on ${where} runs in ${hello.languageMode || 'an unknown'} language mode (AppLocker/WDAC policy), which blocks what Magpie's steps need; use an account the policy exempts`,
    };
  }
  const [major, minor] = hello.psVersion.split('.').map(Number);
  if (major < 5 || (major === 5 && minor < 1)) {
    return { problem: 'too-old', message: `PowerShell on ${where} is version ${hello.psVersion}; Magpie needs 5.1 or later (install Windows Management Framework 5.1 or PowerShell 7)` };
  }
  return undefined;
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
