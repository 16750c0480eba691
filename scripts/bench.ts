#!/usr/bin/env -S npx tsx
// npm run bench: Magpie's overhead against a plain-pwsh floor, and peak memory at 1,000,000 records.
// Prints the figures and a Markdown block for docs/benchmarks.md (--write puts it there).
import { spawn, spawnSync } from 'node:child_process';
import { cpus, totalmem, release } from 'node:os';
import { mkdtempSync, readFileSync, rmSync, writeFileSync, mkdirSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { loadCatalog } from '../lib/catalog.ts';
import { buildPlan } from '../lib/plan.ts';
import { PWSH_ARGS, requirePwsh } from '../lib/pwsh.ts';
import { ROOT_DIR } from '../lib/paths.ts';
import { descendants } from '../lib/kill-tree.ts';

const RUNS = Number(process.env.BENCH_RUNS ?? 11);
const RECORDS = Number(process.env.BENCH_RECORDS ?? 1_000_000);
const pwsh = requirePwsh();
const magpie = join(ROOT_DIR, 'bin', 'magpie.js');
const scratch = mkdtempSync(join(tmpdir(), 'magpie-bench-'));

const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];

/** The floor: the triage step bodies, back to back, in one plain pwsh, output discarded. */
function floorScript(): string {
  const plan = buildPlan(loadCatalog(), 'triage');
  // Steps with no script for this OS are skipped by Magpie too.
  const parts = plan.steps.filter((s) => s.scripts.linux).map((s, i) => {
    // Parameters as a PowerShell literal: the cheapest way a plain script gets them (values are ours).
    const literal = Object.entries(s.params).map(([k, v]) => `${k} = ${typeof v === 'boolean' ? (v ? '$true' : '$false') : typeof v === 'number' ? v : `'${String(v).replace(/'/g, "''")}'`}`).join('; ');
    const out = join(scratch, `floor-${i}`).replace(/'/g, "''");
    return `$Params = [pscustomobject]@{ ${literal} }\n$OutDir = '${out}'\n$null = [IO.Directory]::CreateDirectory($OutDir)\n$MagpieCtx = [pscustomobject]@{ user = 'bench'; admin = $true }\n& {\n${s.scripts.linux!.body}\n} | Out-Null`;
  });
  const file = join(scratch, 'floor.ps1');
  writeFileSync(file, parts.join('\n'));
  return file;
}

function timeIt(cmd: string, args: string[]): number {
  const t0 = performance.now();
  const r = spawnSync(cmd, args, { encoding: 'utf8', env: { ...process.env, NO_COLOR: '1' } });
  const ms = performance.now() - t0;
  if (r.status !== 0) throw new Error(`${cmd} ${args.join(' ')} failed (${r.status}): ${r.stderr}`);
  return ms;
}

function stepDurations(out: string): number[] {
  const host = spawnSync('find', [out, '-name', 'manifest.json'], { encoding: 'utf8' }).stdout.trim().split('\n')[0];
  return JSON.parse(readFileSync(host, 'utf8')).steps.map((s: { durationMs: number }) => s.durationMs);
}

async function peakRss(args: string[]): Promise<{ nodeMb: number; pwshMb: number; seconds: number; records: number }> {
  const child = spawn(process.execPath, [magpie, ...args], { stdio: ['ignore', 'pipe', 'pipe'], env: { ...process.env, NO_COLOR: '1' } });
  let stdout = '';
  child.stdout.on('data', (d) => (stdout += d));
  const hwm = (pid: number) => {
    try {
      const m = /VmHWM:\s+(\d+) kB/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'));
      return m ? Number(m[1]) / 1024 : 0;
    } catch {
      return 0;
    }
  };
  let nodeMb = 0;
  let pwshMb = 0;
  const t0 = performance.now();
  const timer = setInterval(() => {
    nodeMb = Math.max(nodeMb, hwm(child.pid!));
    // The dotnet tool's pwsh is a launcher with the runtime as its child: count the whole tree.
    pwshMb = Math.max(pwshMb, descendants(child.pid!).reduce((sum, p) => sum + hwm(p), 0));
  }, 200);
  const code = await new Promise<number | null>((r) => child.on('close', r));
  clearInterval(timer);
  if (code !== 0) throw new Error(`magpie run failed (${code})`);
  const dir = /evidence: (.+)/.exec(stdout)![1].trim();
  const records = JSON.parse(readFileSync(join(dir, 'manifest.json'), 'utf8')).steps[0].records;
  return { nodeMb, pwshMb, seconds: (performance.now() - t0) / 1000, records };
}

async function main() {
  const floorFile = floorScript();
  const steps = buildPlan(loadCatalog(), 'triage').steps.filter((s) => s.scripts.linux).length;
  // Warm both paths once (tsx's transform cache, the OS page cache) so runs compare like with like.
  timeIt(pwsh, [...PWSH_ARGS, '-File', floorFile]);
  timeIt(process.execPath, [magpie, 'run', 'triage', '--out', join(scratch, 'warm')]);
  const floor: number[] = [];
  const magpieMs: number[] = [];
  const perStep: number[][] = [];
  for (let i = 0; i < RUNS; i++) {
    floor.push(timeIt(pwsh, [...PWSH_ARGS, '-File', floorFile]));
    const out = join(scratch, `run-${i}`);
    magpieMs.push(timeIt(process.execPath, [magpie, 'run', 'triage', '--out', out]));
    perStep.push(stepDurations(out));
  }
  const f = median(floor);
  const m = median(magpieMs);
  const ratio = m / f;
  const overheadPerStep = (m - f) / steps;

  // Memory: one step emitting RECORDS small records; records stream to disk, never into Node.
  const book = join(scratch, 'mem');
  mkdirSync(book);
  writeFileSync(
    join(book, 'mem.yaml'),
    `name: mem\ndescription: memory benchmark\nsteps:\n  - id: flood\n    timeout: 3600\n    kind: text\n    run: |\n      for ($i = 0; $i -lt ${RECORDS}; $i++) { [pscustomobject]@{ i = $i; name = "proc$i.exe"; path = 'C:\\Windows\\System32\\svchost.exe'; state = 'Established' } }\n`,
  );
  const mem = await peakRss(['run', 'mem', '--playbooks', book, '--out', join(scratch, 'mem-out')]);

  const machine = `${cpus().length} × ${cpus()[0]?.model ?? 'cpu'}, ${(totalmem() / 2 ** 30).toFixed(0)} GiB, Linux ${release()}, Node ${process.versions.node}, ${spawnSync(pwsh, [...PWSH_ARGS, '-Command', '$PSVersionTable.PSVersion.ToString()'], { encoding: 'utf8' }).stdout.trim()} pwsh`;
  const report = `## Latest figures (${new Date().toISOString().slice(0, 10)})

Machine: ${machine}

| measure | result | target |
|---|---|---|
| \`triage\` through Magpie (median of ${RUNS}, whole CLI process) | ${m.toFixed(0)} ms | |
| same step scripts back to back in one plain pwsh (floor) | ${f.toFixed(0)} ms | |
| ratio Magpie / floor | **${ratio.toFixed(2)}** | ≤ 1.15 |
| overhead per step ((Magpie − floor) / ${steps} steps) | **${overheadPerStep.toFixed(0)} ms** | ≤ 50 ms |
| step durations inside Magpie (median run) | ${perStep[Math.floor(RUNS / 2)].join(' / ')} ms | |
| peak RSS of \`magpie run\` (Node) with one step emitting ${mem.records.toLocaleString('en')} records | **${mem.nodeMb.toFixed(0)} MB** | ≤ 200 MB |
| peak RSS of its PowerShell host process tree during that step | ${mem.pwshMb.toFixed(0)} MB | |
| wall time of that run | ${mem.seconds.toFixed(1)} s (${((mem.records / mem.seconds) | 0).toLocaleString('en')} records/s) | |
`;
  console.log(report);
  if (process.argv.includes('--write') || process.env.BENCH_WRITE) {
    const file = join(ROOT_DIR, 'docs', 'benchmarks.md');
    const text = readFileSync(file, 'utf8');
    const start = text.indexOf('## Latest figures');
    const end = text.indexOf('\n## ', start + 1);
    writeFileSync(file, text.slice(0, start) + report + (end >= 0 ? text.slice(end) : ''));
    console.log(`updated ${file}`);
  }
  rmSync(scratch, { recursive: true, force: true });
  const ok = ratio <= 1.15 && overheadPerStep <= 50 && mem.nodeMb <= 200;
  if (!ok) console.log('Some figures miss their targets (see the table).');
}

await main();
