// What the benchmark scripts share: CPU time from /proc, the PowerShell start cost, which CLI
// build ran, and writing a section of docs/benchmarks.md.
import { spawnSync } from 'node:child_process';
import { closeSync, existsSync, openSync, readdirSync, readFileSync, statSync, writeFileSync, writeSync } from 'node:fs';
import { join } from 'node:path';
import { ROOT_DIR } from '../lib/paths.ts';
import { PWSH_ARGS } from '../lib/pwsh.ts';

export const CLK_TCK = Number(spawnSync('getconf', ['CLK_TCK'], { encoding: 'utf8' }).stdout.trim()) || 100;
export const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];
export const fmt = (n: number, digits = 0) => n.toLocaleString('en', { minimumFractionDigits: digits, maximumFractionDigits: digits });

/** Busy and total jiffies of the whole machine (/proc/stat, all cores). */
export function machineCpu(): { busy: number; total: number } {
  const f = readFileSync('/proc/stat', 'utf8').split('\n')[0].trim().split(/\s+/).slice(1).map(Number);
  const [user, nice, system, idle, iowait, irq, softirq, steal] = f;
  const busy = user + nice + system + irq + softirq + (steal ?? 0);
  return { busy, total: busy + idle + iowait };
}

/** utime, stime, cutime, cstime of a process in jiffies (c* = its children that it has reaped). */
export function procTimes(pid: number | 'self'): { own: number; reaped: number } {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    const f = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    // After ") ": state is field 3 of stat(5), so utime (14) is index 11 here.
    return { own: Number(f[11]) + Number(f[12]), reaped: Number(f[13]) + Number(f[14]) };
  } catch {
    return { own: 0, reaped: 0 };
  }
}

/** How bin/magpie.js runs the CLI right now: the bundle, or the TypeScript through tsx when a source is newer. */
export function cliPath(): string {
  const newest = (dir: string): number =>
    readdirSync(dir, { withFileTypes: true }).reduce((m, e) => Math.max(m, e.isDirectory() ? newest(join(dir, e.name)) : e.name.endsWith('.ts') ? statSync(join(dir, e.name)).mtimeMs : 0), 0);
  const bundle = join(ROOT_DIR, 'dist', 'magpie.js');
  const fresh = existsSync(bundle) && statSync(bundle).mtimeMs >= Math.max(newest(join(ROOT_DIR, 'lib')), statSync(join(ROOT_DIR, 'scripts', 'magpie.ts')).mtimeMs);
  return fresh ? 'the bundle (dist/magpie.js)' : 'the TypeScript through tsx (the bundle was older than a file in lib/)';
}

/** CPU-seconds one bare PowerShell start costs here (median of 3). */
export function pwshStartCpu(pwsh: string): number {
  const xs: number[] = [];
  for (let i = 0; i < 3; i++) {
    const before = procTimes('self').reaped;
    spawnSync(pwsh, [...PWSH_ARGS, '-Command', '1'], { stdio: 'ignore' });
    xs.push((procTimes('self').reaped - before) / CLK_TCK);
  }
  return median(xs);
}

/** Puts `markdown` (a section starting with `heading`) into docs/benchmarks.md: in place of the older one, else before "Reading the figures". */
export function writeSection(heading: string, markdown: string): string {
  const file = join(ROOT_DIR, 'docs', 'benchmarks.md');
  const text = readFileSync(file, 'utf8');
  const start = text.indexOf(heading);
  let next: string;
  if (start >= 0) {
    const end = text.indexOf('\n## ', start + 1);
    next = text.slice(0, start) + markdown + (end >= 0 ? text.slice(end) : '');
  } else {
    const reading = text.indexOf('## Reading the figures');
    next = reading >= 0 ? text.slice(0, reading) + markdown + '\n' + text.slice(reading) : text.trimEnd() + '\n\n' + markdown;
  }
  writeFileSync(file, next);
  return file;
}

/** `n` records as JSON lines, written in 1 MB batches (the benches' synthetic evidence). */
export function writeLines(file: string, n: number, make: (i: number) => unknown): void {
  const fd = openSync(file, 'w');
  let batch = '';
  for (let i = 0; i < n; i++) {
    batch += JSON.stringify(make(i)) + '\n';
    if (batch.length > 1 << 20) {
      writeSync(fd, batch);
      batch = '';
    }
  }
  writeSync(fd, batch);
  closeSync(fd);
}
