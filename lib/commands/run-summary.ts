// The end-of-run table: one row a host, one column a step, then why each host or step failed.
import type { HostResult } from '../collect.ts';
import type { Plan } from '../plan.ts';
import { safeLine } from '../text.ts';

const pad = (s: string, n: number) => (s.length >= n ? s : s + ' '.repeat(n - s.length));

export function formatSummary(plan: Plan, results: HostResult[]): string {
  const hostWidth = Math.min(40, Math.max(4, ...results.map((r) => safeLine(r.target, 40).length)));
  const state = (r: HostResult) => (r.state === 'failed' && r.failure && r.failure !== 'error' ? r.failure : r.state);
  const stateWidth = Math.max(5, ...results.map((r) => state(r).length));
  const cols = plan.steps.map((s) => Math.max(s.id.length, 7));
  const lines = [[pad('host', hostWidth), pad('state', stateWidth), ...plan.steps.map((s, i) => pad(s.id, cols[i]))].join('  ').trimEnd()];
  for (const r of results) {
    const cells = plan.steps.map((s, i) => pad(r.steps.find((x) => x.id === s.id)?.status ?? (r.state === 'resumed' ? 'kept' : '-'), cols[i]));
    lines.push([pad(safeLine(r.target, 40), hostWidth), pad(state(r), stateWidth), ...cells].join('  ').trimEnd());
  }
  const why: string[] = [];
  for (const r of results) {
    const host = safeLine(r.target, 80);
    if (r.error) why.push(`${host}: ${safeLine(r.error, 400)}`);
    for (const s of r.steps) if (s.status === 'failed' || s.status === 'timeout') why.push(`${host}/${s.id}: ${s.status}${s.reason ? ` — ${safeLine(s.reason, 300)}` : ''}`);
    if (r.state === 'resumed') why.push(`${host}: already collected and verified, kept: ${safeLine(r.dir ?? '')}`);
    else if (r.dir) why.push(`${host}: evidence: ${safeLine(r.dir)}`);
  }
  const counts = ['complete', 'resumed', 'failed', 'interrupted'].map((s) => [s, results.filter((r) => r.state === s).length] as const).filter(([, n]) => n);
  return `\n${lines.join('\n')}\n\n${why.join('\n')}\n${results.length} hosts: ${counts.map(([s, n]) => `${n} ${s}`).join(', ')}\n`;
}
