// Parameters whose value depends on what this run has collected so far: `flagged:LEVEL` in a
// list parameter declared with `selector: flagged-processes` becomes the PIDs of the processes
// that the built-in rules flag at LEVEL or above in this host's records (e.g. memory-dump's Pids,
// after processes and network have run). Resolved on the responder just before the step, so the
// step's params.json and the custody log hold the PIDs it was given; the runner itself still
// never reads records for meaning.
import type { PlannedStep } from './plan.ts';
import type { ParamValue } from './params.ts';
import type { Level } from './triage/rule-def.ts';

const FLAGGED = /^flagged:(informational|low|medium|high|critical)$/;

export interface BoundStep {
  step: PlannedStep;
  /** What each selector became, for the step's host output. */
  notes: string[];
  /** Why the step has nothing to work on: its selectors chose nothing and it was given no other list. */
  nothingSelected?: string;
}

export function usesSelectors(step: PlannedStep): boolean {
  return Object.entries(step.selectors ?? {}).some(([name]) => {
    const v = step.params[name];
    return Array.isArray(v) && v.some((item) => FLAGGED.test(item));
  });
}

export interface FlaggedProcess {
  pid: number;
  /** The rules that flagged it (a process or its connections). */
  rules: string[];
}

/**
 * The processes that the built-in rules flag at `level` or above in this host's records so far
 * (also a responder step's `flagged()`); `processRecords` is 0 when no process step ran before.
 */
export async function flaggedProcesses(evidenceDir: string, level: Level): Promise<{ flagged: FlaggedProcess[]; processRecords: number }> {
  // Triage loads only for a step that asks for it: every run pays the runner's imports.
  const { levelRank, triageFolder } = await import('./triage/engine.ts');
  const { loadRules } = await import('./triage/rules.ts');
  const result = await triageFolder(evidenceDir, { rules: loadRules() });
  const pids = new Map<number, string[]>();
  for (const f of result.findings) {
    if (levelRank(f.rule.level) < levelRank(level)) continue;
    const pid = f.kind === 'process' ? f.record.pid : f.kind === 'connection' && f.relatedTo?.length ? f.record.pid : undefined;
    if (typeof pid !== 'number' || !Number.isInteger(pid) || pid <= 0) continue;
    pids.set(pid, [...(pids.get(pid) ?? []), f.rule.id]);
  }
  return { flagged: [...pids].map(([pid, rules]) => ({ pid, rules: [...new Set(rules)] })), processRecords: result.counts.process ?? 0 };
}

/** `evidenceDir`: this host's evidence folder as it stands (the steps recorded so far). */
export async function bindSelectors(step: PlannedStep, evidenceDir: string): Promise<BoundStep> {
  if (!usesSelectors(step)) return { step, notes: [] };
  const notes: string[] = [];
  const params: Record<string, ParamValue> = { ...step.params };
  for (const name of Object.keys(step.selectors ?? {})) {
    const value = step.params[name];
    if (!Array.isArray(value)) continue;
    const out = new Set<string>();
    for (const item of value) {
      const m = FLAGGED.exec(item);
      if (!m) {
        out.add(item);
        continue;
      }
      const level = m[1] as Level;
      const { flagged, processRecords } = await flaggedProcesses(evidenceDir, level);
      for (const f of flagged) out.add(String(f.pid));
      notes.push(
        processRecords
          ? `${name}: ${item} → ${flagged.length ? flagged.map((f) => `${f.pid} (${f.rules.join(', ')})`).join('; ') : `no process flagged at ${level} or above`}`
          : `${name}: ${item} → nothing: no process records were collected before this step (put the processes step first)`,
      );
    }
    params[name] = [...out];
  }
  const lists = Object.values(params).filter(Array.isArray);
  const nothingSelected = lists.every((v) => v.length === 0) ? `nothing selected: ${notes.join('; ')}` : undefined;
  return { step: { ...step, params }, notes, ...(nothingSelected ? { nothingSelected } : {}) };
}
