// `--resume`: a host whose latest evidence folder for this case and playbook is complete and
// verifies is not collected again. Anything else (failed, interrupted, crashed, tampered) is.
import { existsSync, readdirSync, readFileSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { hostFolder } from './evidence/writer.ts';
import { verifyEvidence } from './evidence/verify.ts';
import type { Plan } from './plan.ts';

/** The folder to keep for this host, or undefined when it must be collected (again). */
export async function findCompleteRun(out: string, caseId: string, targetName: string, plan: Plan): Promise<string | undefined> {
  const hostDir = hostFolder(out, caseId, targetName);
  if (!existsSync(hostDir)) return undefined;
  // Stamp names sort in time order; `-2`, `-3` (same second) sort after their stamp.
  const runs = readdirSync(hostDir)
    .filter((n) => /^\d{8}T\d{6}Z(-\d+)?(\.partial)?$/.test(n) && statSync(join(hostDir, n)).isDirectory())
    .sort();
  const latest = runs.at(-1);
  if (!latest || latest.endsWith('.partial')) return undefined;
  const dir = join(hostDir, latest);
  try {
    const m = JSON.parse(readFileSync(join(dir, 'manifest.json'), 'utf8'));
    if (m.state !== 'complete' || m.playbook?.name !== plan.playbook.name || m.playbook?.sha256 !== plan.playbook.sha256) return undefined;
    if (JSON.stringify(m.playbook.params) !== JSON.stringify(plan.playbook.params)) return undefined;
    const steps: { status: string; params: unknown }[] = m.steps ?? [];
    if (steps.some((s) => s.status === 'failed' || s.status === 'timeout')) return undefined;
    if (plan.steps.some((s, i) => JSON.stringify(steps[i]?.params) !== JSON.stringify(s.params))) return undefined;
  } catch {
    return undefined;
  }
  return (await verifyEvidence(dir)).ok ? dir : undefined;
}
