// Parses step scripts with the real PowerShell parser and flags what Windows PowerShell 5.1 lacks.
import { join } from 'node:path';
import { POWERSHELL_DIR } from './paths.ts';
import { PWSH_ARGS, requirePwsh } from './pwsh.ts';

const CHECKER = join(POWERSHELL_DIR, 'check-compat.ps1');

/** Returns "file:line: problem" texts; empty when every file parses and is 5.1-compatible. */
export async function checkScripts(files: string[]): Promise<string[]> {
  if (files.length === 0) return [];
  const { $ } = await import('zx');
  const b64 = Buffer.from(JSON.stringify(files)).toString('base64');
  const r = await $({ quiet: true, nothrow: true })`${requirePwsh()} ${PWSH_ARGS} -File ${CHECKER} -FilesBase64 ${b64}`;
  const m = /MAGPIE-CHECK:([A-Za-z0-9+/=]+)/.exec(r.stdout);
  if (!m) throw new Error(`the PowerShell script checker failed (exit ${r.exitCode}): ${r.stderr.slice(0, 2000)}`);
  const parsed = JSON.parse(Buffer.from(m[1], 'base64').toString('utf8'));
  return (Array.isArray(parsed) ? parsed : [parsed]).filter((x): x is string => typeof x === 'string');
}
