// memory-dump on Windows: the real step (step.yaml + windows.ps1) through the real runner and
// evidence writer on a local PowerShell that picks the Windows scripts, with Get-CimInstance and
// Get-Process answered from recorded-shape data and procdump64.exe replaced by a stand-in
// (test/fixtures/windows/memory-dump: a shell script with its own pin that prints ProcDump's
// console text and exits with ProcDump's -2). SOURCE.md there says where each shape comes from.
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { copyFileSync, existsSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { loadCatalog } from '../lib/catalog.ts';
import { collect, type HostResult } from '../lib/collect.ts';
import { buildPlan, parseParamArgs, type Plan } from '../lib/plan.ts';
import { sha256Text } from '../lib/evidence/hash.ts';
import { verifyEvidence } from '../lib/evidence/verify.ts';
import { DumpRecord } from '../lib/records/schemas.ts';
import { toolsFor } from '../lib/tools.ts';
import { levelRank, triageFolder } from '../lib/triage/engine.ts';
import { loadRules } from '../lib/triage/rules.ts';
import { FIXTURES, planWithPin, pwshOrFail, readJson, readJsonl, tempDir } from './helpers.ts';

pwshOrFail();
const HERE = join(FIXTURES, 'windows', 'memory-dump');
const SCENARIO = join(HERE, 'workstation');
const STANDIN = join(HERE, 'procdump64.exe');
/** The stand-in's own pin (SOURCE.md). */
const STANDIN_PIN = '48569c10b04330a64e89b4a39264433957215a674a6a2da8390c468c4721d276';
const q = (s: string) => `'${s.replace(/'/g, "''")}'`;

interface Run {
  result: HostResult;
  manifest: any;
  dir: string;
  step: any;
  procdump: string[][];
  cim: any[];
  records: any[];
  stderrLog: string;
  stdoutLog: string;
  hostOutput: string;
}

/** One playbook of `steps` (memory-dump last); the stand-in's pin in place of the shipped placeholder unless `pin` is null. */
const plan = (steps: unknown[], params: string[], pin: string | null): Plan => planWithPin(steps, params, 'memory-dump', pin);

async function run(opts: { params?: string[]; tools?: 'standin' | 'none'; pin?: string | null; failPids?: number[]; liePids?: number[]; freeSpace?: number; steps?: unknown[]; host?: string } = {}): Promise<Run> {
  const toolsDir = tempDir('magpie-md-tools-');
  if ((opts.tools ?? 'standin') === 'standin') copyFileSync(STANDIN, join(toolsDir, 'procdump64.exe'));
  const work = tempDir('magpie-md-');
  const calls = join(work, 'procdump.txt');
  const cim = join(work, 'calls.jsonl');
  writeFileSync(calls, '');
  writeFileSync(cim, '');
  const startup = join(work, 'startup.ps1');
  writeFileSync(
    startup,
    [
      // A recorded host of test/fixtures/windows (for steps before memory-dump) through the shared stand-ins, then ours.
      ...(opts.host ? [`$global:MagpieFixtureDir = ${q(opts.host)}`, `. ${q(join(FIXTURES, 'windows', 'fakes.ps1'))}`] : []),
      `$global:MemoryDumpFixtureDir = ${q(opts.host ?? SCENARIO)}`,
      `$global:MemoryDumpCallLog = ${q(cim)}`,
      opts.freeSpace !== undefined ? `$global:MemoryDumpFreeSpace = ${opts.freeSpace}` : '',
      `. ${q(join(HERE, 'fakes.ps1'))}`,
      // What the stand-in reads; the PowerShell that runs the step passes its environment on.
      `$env:PROCDUMP_CALL_LOG = ${q(calls)}`,
      `$env:PROCDUMP_FAIL_PIDS = ${q((opts.failPids ?? []).join(' '))}`,
      `$env:PROCDUMP_LIE_PIDS = ${q((opts.liePids ?? []).join(' '))}`,
    ].join('\n') + '\n',
  );
  const out = tempDir('magpie-md-out-');
  const [result] = await collect({
    plan: plan(opts.steps ?? [{ step: 'memory-dump' }], opts.params ?? [], opts.pin === undefined ? STANDIN_PIN : opts.pin),
    targets: ['localhost'],
    transport: 'local',
    out,
    caseId: 'md',
    concurrency: 1,
    toolsDir,
    local: { startupScript: startup, osOverride: 'windows' },
  });
  assert.ok(result.dir, `no evidence folder: ${result.error}`);
  const manifest = readJson(join(result.dir!, 'manifest.json'));
  const step = manifest.steps.at(-1);
  const f = (n: string) => (existsSync(join(result.dir!, step.dir, n)) ? readFileSync(join(result.dir!, step.dir, n), 'utf8') : '');
  const text = readFileSync(calls, 'utf8');
  const records = f('records.jsonl') ? readJsonl(join(result.dir!, step.dir, 'records.jsonl')) : [];
  for (const rec of records) assert.ok(DumpRecord.safeParse(rec).success, JSON.stringify(rec));
  return {
    result,
    manifest,
    dir: result.dir!,
    step,
    procdump: text ? text.split('--\n').filter(Boolean).map((c) => c.split('\n').filter((l) => l !== '')) : [],
    cim: readJsonl(cim),
    records,
    stderrLog: f('stderr.log'),
    stdoutLog: f('stdout.log'),
    hostOutput: f('host-output.log'),
  };
}

const byPid = (r: Run) => Object.fromEntries(r.records.map((x) => [x.pid, x]));

test('the stand-in is the file its pin names; the step pins procdump64.exe for Windows only, so Linux dumps need no procdump', () => {
  assert.is(sha256Text(readFileSync(STANDIN)), STANDIN_PIN);
  const step = buildPlan(loadCatalog(), 'full').steps.find((s) => s.stepId === 'memory-dump')!;
  assert.equal(step.tools.map((t) => [t.name, t.os]), [['procdump64.exe', ['windows']]]);
  assert.match(step.tools[0].description!, /ProcDump v\d+\.\d+/);
  assert.equal(toolsFor(step.tools, 'linux'), []);
  assert.equal(toolsFor(step.tools, 'windows').map((t) => t.name), ['procdump64.exe']);
  assert.equal(Object.keys(step.scripts).sort(), ['linux', 'windows']);
});

test('by PID: procdump -accepteula -ma PID FILE per process; exit code -2 (254 here) is not the signal, the printed path and the file are; dump records with image and dump hashes; tool removed', async () => {
  const r = await run({ params: ['memory-dump.Pids=4242,812'] });
  assert.is(r.step.status, 'ok', `${r.step.reason}\n${r.stderrLog}`);
  assert.is(r.procdump.length, 2);
  for (const [i, pid] of ['4242', '812'].entries()) {
    const args = r.procdump[i];
    assert.equal(args.slice(0, 3), ['-accepteula', '-ma', pid]);
    assert.is(args.length, 4);
    assert.ok(args[3].endsWith(`-${pid}.dmp`), args[3]);
  }
  assert.equal(r.records.map((x) => x.pid), [4242, 812]);
  const svc = byPid(r)[4242];
  const dump = join(r.dir, r.step.dir, 'files', svc.file);
  assert.is(svc.file, 'svchost.exe-4242.dmp');
  assert.ok(existsSync(dump));
  assert.is(svc.sha256, sha256Text(readFileSync(dump)));
  assert.is(svc.size, readFileSync(dump).length);
  assert.is(svc.imageSha256, sha256Text(readFileSync(join(SCENARIO, 'images', 'svchost.exe'))));
  assert.equal(
    { name: svc.name, cmd: svc.cmdline, user: svc.user, ppid: svc.ppid, rss: svc.rss, complete: svc.complete, error: svc.error, tool: svc.tool, version: svc.toolVersion, type: svc.dumpType, exit: svc.exitCode },
    { name: 'svchost.exe', cmd: '"C:\\ProgramData\\svc\\svchost.exe" -k netsvcs', user: 'CORP\\jdoe', ppid: 3904, rss: 12582912, complete: true, error: null, tool: 'procdump', version: 'ProcDump v11.0', type: 'full', exit: 254 },
  );
  assert.ok(Date.parse(svc.time) > 0 && typeof svc.durationMs === 'number');
  // The same keys as a Linux dump record, and the image hash besides.
  for (const k of ['pid', 'name', 'file', 'size', 'sha256', 'path', 'cmdline', 'user', 'ppid', 'rss', 'deleted', 'complete', 'error', 'time', 'durationMs', 'tool', 'toolVersion', 'imageSha256']) assert.ok(k in svc, k);
  // lsass's image is not on this machine: dumped all the same, its image hash unknown and said so.
  const lsass = byPid(r)[812];
  assert.equal([lsass.file, lsass.path, lsass.imageSha256, lsass.user], ['lsass.exe-812.dmp', 'C:\\Windows\\system32\\lsass.exe', null, 'NT AUTHORITY\\SYSTEM']);
  assert.match(r.stderrLog, /pid 812 \(lsass\.exe\): the image C:\\Windows\\system32\\lsass\.exe could not be hashed/);
  assert.match(r.stdoutLog, /procdump 4242: \[\d\d:\d\d:\d\d\] Dump 1 initiated: .*svchost\.exe-4242\.dmp/);
  assert.match(r.stdoutLog, /procdump 4242: \[\d\d:\d\d:\d\d\] Dump 1 complete: 5 MB written in 0\.1 seconds/);
  assert.match(r.stdoutLog, /procdump 4242: exit code 254 \(not a success signal: the dump file is\)/);
  assert.match(r.stdoutLog, /memory-dump: removed the pushed .*procdump64\.exe/);
  // Free space was read for the volume of the step's folder before any dump.
  assert.ok(r.cim.some((c) => c.command === 'Get-CimInstance' && c.arguments.ClassName === 'Win32_LogicalDisk'));
  assert.ok(readFileSync(join(r.dir, 'custody.jsonl'), 'utf8').includes(`"procdump64.exe":"${STANDIN_PIN}"`));
  const v = await verifyEvidence(r.dir);
  assert.ok(v.ok, JSON.stringify(v));
});

test('by name (with or without .exe, any case): every process of that name; DumpType miniplus gives -mp', async () => {
  const r = await run({ params: ['memory-dump.Names=W3WP.exe', 'memory-dump.DumpType=miniplus'] });
  assert.is(r.step.status, 'ok', r.step.reason);
  assert.equal(r.procdump.map((a) => a.slice(0, 3)), [['-accepteula', '-mp', '5120'], ['-accepteula', '-mp', '5188']]);
  assert.equal(r.records.map((x) => [x.pid, x.name, x.user, x.dumpType]), [[5120, 'w3wp.exe', 'IIS APPPOOL\\DefaultAppPool', 'miniplus'], [5188, 'w3wp.exe', 'IIS APPPOOL\\Intranet', 'miniplus']]);
  const bad = await run({ params: ['memory-dump.Pids=812', 'memory-dump.DumpType=tiny'] });
  assert.is(bad.step.status, 'failed');
  assert.match(bad.step.reason, /DumpType must be full \(procdump -ma\) or miniplus \(procdump -mp\), got: tiny/);
  assert.equal(bad.procdump, []);
  assert.match(bad.stdoutLog, /removed the pushed/);
});

test('procdump failing: no dump written, the process is reported with ProcDump\'s words and the others are still dumped', async () => {
  const r = await run({ params: ['memory-dump.Pids=812,4242'], failPids: [812] });
  assert.is(r.step.status, 'ok');
  assert.is(r.step.errors, 1);
  assert.equal(r.records.map((x) => x.pid), [4242]);
  assert.match(r.stderrLog, /\[error\] pid 812 \(lsass\.exe\) was not dumped: procdump said it wrote .*lsass\.exe-812\.dmp, but there is no such file \(or it is empty\): .*Dump 1 error: Error writing dump file: 0x80070005 \| Access is denied/);
  assert.not.ok(existsSync(join(r.dir, r.step.dir, 'files', 'lsass.exe-812.dmp')));
});

test('ProcDump saying "complete" is not enough: without the file there is no dump record', async () => {
  const r = await run({ params: ['memory-dump.Pids=6000'], liePids: [6000] });
  assert.equal(r.records, []);
  assert.is(r.step.errors, 1);
  assert.match(r.stderrLog, /pid 6000 \(notepad\.exe\) was not dumped: procdump said it wrote .*notepad\.exe-6000\.dmp and that the dump completed, but there is no such file/);
});

test('free space is checked against the working sets first: what does not fit is left out, named, before ProcDump runs for it', async () => {
  // 300 MB free: lsass (20 MB working set: 280 MB needed) fits; w3wp (150 MB: 436 MB) does not.
  const r = await run({ params: ['memory-dump.Pids=812,5120'], freeSpace: 300 * 1048576 });
  assert.equal(r.records.map((x) => x.pid), [812]);
  assert.equal(r.procdump.map((a) => a[2]), ['812']);
  assert.match(r.stderrLog, /not enough free space on \/ for every dump: they need 460 MB \(working sets 170 MB x 1\.2 \+ 256 MB\), 300 MB are free/);
  assert.match(r.stderrLog, /pid 5120 \(w3wp\.exe\) not dumped: it needs 436 MB \(working set 150 MB x 1\.2 \+ 256 MB\), 300 MB are free/);
});

test('an infected host: processes, then memory-dump flagged:high dumps exactly the processes the built-in rules flag at high or above, and says which rule chose each', async () => {
  const host = join(FIXTURES, 'windows', 'infected');
  const r = await run({ host, steps: [{ step: 'processes', params: { HashImages: false } }, { step: 'memory-dump' }], params: ['memory-dump.Pids=flagged:high'] });
  assert.is(r.manifest.steps[0].status, 'ok', r.manifest.steps[0].reason);
  assert.is(r.step.status, 'ok', `${r.step.reason}\n${r.stderrLog}`);
  // What triage flags in the processes alone, worked out here from the findings.
  const triaged = await triageFolder(r.dir, { rules: loadRules() });
  const flagged = new Set<number>();
  for (const f of triaged.findings) {
    if (levelRank(f.rule.level) < levelRank('high')) continue;
    if (f.kind === 'process' || (f.kind === 'connection' && f.relatedTo?.length)) flagged.add(f.record.pid as number);
  }
  assert.ok(flagged.size >= 2, `flagged: ${[...flagged]}`);
  const asked = r.procdump.map((a) => Number(a[2]));
  assert.equal([...asked].sort((a, b) => a - b), [...flagged].sort((a, b) => a - b));
  assert.equal(r.records.map((x) => x.pid).sort((a, b) => a - b), [...flagged].sort((a, b) => a - b));
  // params.json holds the PIDs the step was given; host-output.log which rule chose each.
  const params = readJson(join(r.dir, r.step.dir, 'params.json'));
  assert.equal(params.Pids.map(Number).sort((a: number, b: number) => a - b), [...flagged].sort((a, b) => a - b));
  for (const pid of flagged) assert.match(r.hostOutput, new RegExp(`Pids: flagged:high → .*\\b${pid} \\([a-z0-9-]+`));
  assert.ok(!flagged.has(1200) && !flagged.has(4100), 'explorer and chrome are not flagged');
});

test('nothing selected dumps nothing and says so: flagged:high with nothing flagged, no list at all, a name nobody has, System and a PID that is gone', async () => {
  const flagged = await run({ params: ['memory-dump.Pids=flagged:high'] });
  assert.is(flagged.step.status, 'skipped');
  assert.match(flagged.step.reason, /nothing selected: Pids: flagged:high → nothing: no process records were collected before this step/);
  assert.equal(flagged.procdump, []);

  const none = await run();
  assert.is(none.step.status, 'ok');
  assert.equal([none.records, none.procdump], [[], []]);
  assert.match(none.stderrLog, /memory-dump: nothing selected, nothing dumped/);
  assert.match(none.stdoutLog, /removed the pushed/);

  const nobody = await run({ params: ['memory-dump.Names=mimikatz', 'memory-dump.Pids=4,99999'] });
  assert.is(nobody.step.status, 'ok');
  assert.equal([nobody.records, nobody.procdump], [[], []]);
  assert.match(nobody.stderrLog, /pid 4 is the System Idle Process or System/);
  assert.match(nobody.stderrLog, /pid 99999 is not running/);
  assert.match(nobody.stderrLog, /no process named mimikatz/);
  assert.match(nobody.stderrLog, /none of the processes asked for is running: nothing dumped/);
});

test('without procdump64.exe the Windows step fails naming the file, the folder and the version; a wrong pin gives both hashes and what to do', async () => {
  const missing = await run({ params: ['memory-dump.Pids=812'], tools: 'none' });
  assert.is(missing.step.status, 'failed');
  assert.match(missing.step.reason, /needs the tool procdump64\.exe \(Sysinternals procdump64\.exe of ProcDump v[\d.]+ .*\) in \/.*magpie-md-tools-\w+ \(SHA-256 [0-9a-f]{64}\); put the vendor's file there.*--tools DIR/);
  const wrong = await run({ params: ['memory-dump.Pids=812'], pin: null });
  assert.is(wrong.step.status, 'failed');
  assert.ok(wrong.step.reason.includes(`has SHA-256 ${STANDIN_PIN}, not the pinned ${'0'.repeat(64)}`), wrong.step.reason);
  assert.match(wrong.step.reason, /it was not run\. Put the pinned version there, or, once you trust this file/);
  assert.equal([missing.procdump, wrong.procdump], [[], []]);
});

test.run();
