// Who the target is: probe.ps1 (for every transport that asks the target itself), then a timed
// clock read.
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import type { OsName } from '../definitions.ts';
import { POWERSHELL_DIR } from '../paths.ts';
import { scriptBlockLine } from '../script.ts';
import { safeLine } from '../text.ts';
import type { TargetInfo } from './session.ts';

const PROBE = readFileSync(join(POWERSHELL_DIR, 'probe.ps1'), 'utf8');

export type Probed = Omit<TargetInfo, 'name' | 'transport' | 'connection'> & { tempDir: string };

/** `call` sends one line to the target's PowerShell (with the caller's deadline) and resolves with what it printed. */
export async function probeTarget(call: (line: string) => Promise<{ stdout: string; stderr: string }>): Promise<Probed | { error: string }> {
  const reply = await call(scriptBlockLine(PROBE));
  const m = /MAGPIE-PROBE:([A-Za-z0-9+/=;_]+)/.exec(reply.stdout);
  if (!m) return { error: `the identification probe gave no answer: ${safeLine(reply.stderr || reply.stdout || 'no output', 500)}` };
  const fields: Record<string, string> = {};
  for (const kv of m[1].split(';')) {
    const eq = kv.indexOf('=');
    fields[kv.slice(0, eq)] = Buffer.from(kv.slice(eq + 1), 'base64').toString('utf8');
  }
  // Timed on a warm shell, so the round trip is short and its midpoint a fair estimate.
  const t0 = Date.now();
  const clock = await call(`'MAGPIE-CLOCK:' + [DateTime]::UtcNow.ToString('o')`);
  const t1 = Date.now();
  const c = /MAGPIE-CLOCK:(\S+)/.exec(clock.stdout);
  return {
    hostname: fields.hostname,
    os: fields.os as OsName,
    osVersion: fields.osVersion,
    psVersion: fields.psVersion,
    psEdition: fields.psEdition,
    user: fields.user,
    admin: fields.admin === 'True',
    ...(fields.adminFiltered === 'True' ? { adminFiltered: true } : {}),
    clockSkewMs: c ? Math.round(Date.parse(c[1]) - (t0 + t1) / 2) : 0,
    tempDir: fields.tempDir,
  };
}
