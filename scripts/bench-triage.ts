#!/usr/bin/env -S npx tsx
// Triage throughput: 1,000,000 connection records and 100,000 processes through every built-in
// rule, as `magpie triage` runs it (a child process whose peak RSS is sampled).
import { spawn } from 'node:child_process';
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { cpus, release, tmpdir, totalmem } from 'node:os';
import { join } from 'node:path';
import { EvidenceWriter } from '../lib/evidence/writer.ts';
import type { Plan, PlannedStep } from '../lib/plan.ts';
import { ROOT_DIR } from '../lib/paths.ts';
import { writeLines } from './bench-common.ts';
import { loadRules } from '../lib/triage/rules.ts';

const CONNECTIONS = Number(process.env.BENCH_CONNECTIONS ?? 1_000_000);
const PROCESSES = Number(process.env.BENCH_PROCESSES ?? 100_000);
const scratch = mkdtempSync(join(tmpdir(), 'magpie-bench-triage-'));

// Ordinary workstation programs; 1 in 997 runs unsigned from AppData, some of those mine.
const NAMES = ['chrome.exe', 'msedge.exe', 'OUTLOOK.EXE', 'Teams.exe', 'WINWORD.EXE', 'notepad.exe', 'java.exe', 'node.exe'];
async function makeEvidence(): Promise<string> {
  const step = (index: number, id: string, kind: 'process' | 'connection'): PlannedStep => ({ index, id, stepId: id, description: id, kind, timeoutSec: 1, continueOnError: true, admin: false, params: {}, tools: [], scripts: {}, source: 'bench' });
  const steps = [step(1, 'processes', 'process'), step(2, 'network', 'connection')];
  const plan: Plan = { playbook: { name: 'bench', file: 'bench', sha256: '0'.repeat(64), params: {} }, steps };
  const w = EvidenceWriter.create({ root: join(scratch, 'ev'), caseId: 'bench', targetName: 'BENCH-01', transport: 'import', plan });
  const procs = join(scratch, 'p');
  mkdirSync(procs);
  writeLines(join(procs, 'records.jsonl'), PROCESSES, (i) => {
    const name = NAMES[i % NAMES.length];
    const odd = i % 997 === 0;
    return {
      pid: i + 4, ppid: i === 0 ? 0 : 4 + ((i * 7) % i), name,
      path: odd ? `C:\\Users\\u${i}\\AppData\\Roaming\\${name}` : `C:\\Windows\\System32\\${name}`,
      commandLine: odd && i % 2 ? `${name} -o stratum+tcp://pool.example:4444` : `${name} -k netsvcs`,
      user: 'CORP\\user', startTime: new Date(1764115200000 + i * 1000).toISOString(), sha256: (i % 5000).toString(16).padStart(64, '0'),
      signatureStatus: odd ? 'NotSigned' : 'Valid', signer: odd ? null : 'CN=Microsoft Windows', signed: !odd,
    };
  });
  await w.recordStep(steps[0], { status: 'ok', reason: null, partial: false, os: 'windows', fetched: procs });
  const conns = join(scratch, 'c');
  mkdirSync(conns);
  writeLines(join(conns, 'records.jsonl'), CONNECTIONS, (i) => {
    const worm = i % 50 === 0;
    return {
      protocol: 'tcp', localAddress: '10.20.30.42', localPort: 40000 + (i % 20000),
      remoteAddress: `10.${(i >> 16) & 255}.${(i >> 8) & 255}.${i & 255}`, remotePort: worm ? 445 : 443,
      state: worm ? 'SynSent' : 'Established', pid: 4 + (worm ? 11 : i % PROCESSES), processName: null,
      createdTime: new Date(1764115200000 + i).toISOString(),
    };
  });
  await w.recordStep(steps[1], { status: 'ok', reason: null, partial: false, os: 'windows', fetched: conns });
  return w.finish('complete');
}

async function main() {
  const dir = await makeEvidence();
  const child = spawn(process.execPath, [join(ROOT_DIR, 'bin', 'magpie.js'), 'triage', dir, '--json'], { stdio: ['ignore', 'pipe', 'inherit'] });
  let out = '';
  child.stdout.on('data', (d) => (out += d));
  let peak = 0;
  const t0 = performance.now();
  const timer = setInterval(() => {
    try {
      const m = /VmHWM:\s+(\d+) kB/.exec(readFileSync(`/proc/${child.pid}/status`, 'utf8'));
      if (m) peak = Math.max(peak, Number(m[1]) / 1024);
    } catch {
      // ended
    }
  }, 100);
  const code = await new Promise<number | null>((r) => child.on('close', r));
  clearInterval(timer);
  const seconds = (performance.now() - t0) / 1000;
  if (code !== 0) throw new Error(`magpie triage failed (${code})`);
  const summary = JSON.parse(out).hosts[0];
  const total = CONNECTIONS + PROCESSES;
  const report = `## Triage throughput (${new Date().toISOString().slice(0, 10)})

Machine: ${cpus().length} × ${cpus()[0]?.model ?? 'cpu'}, ${(totalmem() / 2 ** 30).toFixed(0)} GiB, Linux ${release()}, Node ${process.versions.node}

| measure | result |
|---|---|
| records | ${CONNECTIONS.toLocaleString('en')} connections + ${PROCESSES.toLocaleString('en')} processes |
| rules | ${loadRules().length} built-in (all of them) |
| wall time of \`magpie triage\` (whole process: read, validate, match, timeline, report) | ${seconds.toFixed(1)} s |
| throughput | **${Math.round(total / seconds).toLocaleString('en')} records/s** |
| peak RSS | **${peak.toFixed(0)} MB** |
| findings | ${summary.findings} |
`;
  console.log(report);
  if (process.argv.includes('--write') || process.env.BENCH_WRITE) {
    const file = join(ROOT_DIR, 'docs', 'benchmarks.md');
    const text = readFileSync(file, 'utf8');
    const start = text.indexOf('## Triage throughput');
    const end = start < 0 ? -1 : text.indexOf('\n## ', start + 1);
    const next = start < 0 ? text.replace('\n## Reading the figures', `\n${report}\n## Reading the figures`) : text.slice(0, start) + report + (end >= 0 ? text.slice(end) : '');
    writeFileSync(file, next);
    console.log(`updated ${file}`);
  }
  if (process.env.BENCH_KEEP) console.log(`kept ${dir}`);
  else rmSync(scratch, { recursive: true, force: true });
}

await main();
