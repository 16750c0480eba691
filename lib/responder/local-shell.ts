// zx's `$` for a responder step's local commands (YARA, an EDR's CLI): values quoted for the shell
// that runs them — PowerShell's quoting also doubles U+2018–U+201B, which PowerShell reads as
// quotes and zx's own quotePowerShell misses — stopped with the step, every command and its exit
// written to the step's stdout.log, its stderr to stderr.log, nothing to the responder's terminal.
import { $ as zx$, quote, type Shell } from 'zx';

export type LocalShell = Shell;

/** A single-quoted PowerShell string: every character PowerShell takes for a single quote is doubled. */
export function quotePowerShellSafe(arg: string): string {
  if (arg === '') return "''";
  if (/^[\w/.\-]+$/.test(arg)) return arg;
  return `'${arg.replace(/['\u2018-\u201B]/g, (q) => q + q)}'`;
}

export function localShell(o: { signal: AbortSignal; log: (line: string) => void; stderr: (text: string) => void }): LocalShell {
  const powershell = /(pwsh|powershell)(\.exe)?$/i.test(String(zx$.shell));
  return zx$({
    signal: o.signal,
    quiet: true,
    verbose: false,
    quote: powershell ? quotePowerShellSafe : quote,
    log: (entry) => {
      if (entry.kind === 'cmd') o.log(`[responder $] ${entry.cmd}`);
      else if (entry.kind === 'end') o.log(`[responder $] exit ${entry.exitCode ?? entry.signal} after ${Math.round(entry.duration)} ms`);
      else if (entry.kind === 'stderr') o.stderr(entry.data.toString());
    },
  });
}
