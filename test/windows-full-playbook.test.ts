// The `full` playbook end to end on one recorded Windows host (test/fixtures/windows/infected),
// under real pwsh through the local session, every Windows-only command answered by the recorded
// host's stand-ins (../fakes.ps1, av-scan's Defender, memory-dump's CIM and ProcDump) and
// Sysinternals' tools by the stand-ins of the autorunsc and memory-dump tests, pinned by their own
// hashes. One run: the steps in order, each ok; autorunsc's records made on the responder; the scan's
// detections; dumps of exactly what the run's own records flag at high; an evidence folder that
// `magpie verify` accepts and triage reads.
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { copyFileSync, existsSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { collect } from '../lib/collect.ts';
import { buildPlan, parseParamArgs } from '../lib/plan.ts';
import { loadCatalog } from '../lib/catalog.ts';
import { levelRank, triageFolder } from '../lib/triage/engine.ts';
import { loadRules } from '../lib/triage/rules.ts';
import { cli, FIXTURES, pwshOrFail, readJson, readJsonl, tempDir } from './helpers.ts';

pwshOrFail();
const WIN = join(FIXTURES, 'windows');
const HOST = join(WIN, 'infected');
/** The stand-ins' own pins (their SOURCE.md). */
const PINS: Record<string, string> = {
  'autorunsc64.exe': '34f4e101597f57f16f31dbc1cfb5e48a11c8105931cc4f7233b5043db5624e26',
  'procdump64.exe': '48569c10b04330a64e89b4a39264433957215a674a6a2da8390c468c4721d276',
};
const q = (s: string) => `'${s.replace(/'/g, "''")}'`;

let dir = '';
let manifest: any;
let procdumpCalls: string[][] = [];
const stepDir = (id: string) => join(dir, manifest.steps.find((s: any) => s.id === id).dir);

test.before(async () => {
  const work = tempDir('magpie-full-');
  const tools = tempDir('magpie-full-tools-');
  copyFileSync(join(WIN, 'autorunsc', 'autorunsc64.exe'), join(tools, 'autorunsc64.exe'));
  copyFileSync(join(WIN, 'memory-dump', 'procdump64.exe'), join(tools, 'procdump64.exe'));
  const logs = { av: join(work, 'av.jsonl'), cim: join(work, 'cim.jsonl'), procdump: join(work, 'procdump.txt'), autorunsc: join(work, 'autorunsc.txt'), capture: join(work, 'capture.jsonl') };
  for (const f of Object.values(logs)) writeFileSync(f, '');
  const startup = join(work, 'startup.ps1');
  writeFileSync(
    startup,
    [
      `$global:MagpieFixtureDir = ${q(HOST)}`,
      `. ${q(join(WIN, 'fakes.ps1'))}`,
      `$global:AvScanCallLog = ${q(logs.av)}`,
      `. ${q(join(WIN, 'av-scan', 'fakes.ps1'))}`,
      `$global:MemoryDumpFixtureDir = ${q(HOST)}`,
      `$global:MemoryDumpCallLog = ${q(logs.cim)}`,
      `. ${q(join(WIN, 'memory-dump', 'fakes.ps1'))}`,
      `$global:WinEventFixtureDir = ${q(join(WIN, 'eventlogs', 'infected'))}`,
      `. ${q(join(WIN, 'eventlogs', 'fakes.ps1'))}`,
      `$global:TcDir = ${q(join(WIN, 'traffic-capture'))}`,
      `$global:TcCallLog = ${q(logs.capture)}`,
      `$global:TcPcapng = ${q(join(WIN, 'traffic-capture', 'loopback.pcapng'))}`,
      `. ${q(join(WIN, 'traffic-capture', 'fakes.ps1'))}`,
      `$env:PROCDUMP_CALL_LOG = ${q(logs.procdump)}`,
      `$env:AUTORUNSC_CALL_LOG = ${q(logs.autorunsc)}`,
      `$env:AUTORUNSC_CSV = ${q(join(WIN, 'autorunsc', 'autorunsc.csv'))}`,
      `$env:AUTORUNSC_SCENARIO = 'good'`,
    ].join('\n') + '\n',
  );
  // The recorded host's user folders are not on this disk: file-hashes reads a real folder instead.
  const drop = tempDir('magpie-full-drop-');
  writeFileSync(join(drop, 'invoice.pdf.exe'), 'MZ not really a program\n');
  writeFileSync(join(drop, 'notes.txt'), 'meeting at 10\n');
  const plan = buildPlan(loadCatalog(), 'full', parseParamArgs([`file-hashes.Paths=${drop}`, 'CaptureSeconds=1']));
  for (const s of plan.steps) s.tools = s.tools.map((t) => ({ ...t, sha256: PINS[t.name] ?? t.sha256 }));
  const [r] = await collect({ plan, targets: ['localhost'], transport: 'local', out: tempDir('magpie-full-out-'), caseId: 'full', concurrency: 1, toolsDir: tools, local: { startupScript: startup, osOverride: 'windows' } });
  assert.ok(r.dir, `no evidence folder: ${r.error}`);
  dir = r.dir!;
  manifest = readJson(join(dir, 'manifest.json'));
  const text = readFileSync(logs.procdump, 'utf8');
  procdumpCalls = text ? text.split('--\n').filter(Boolean).map((c) => c.split('\n').filter((l) => l !== '')) : [];
});

test('every step of full runs, in order of volatility, and each is ok on the recorded infected host', () => {
  const rows = manifest.steps.map((s: any) => `${s.id} ${s.status}${s.reason ? `: ${s.reason}` : ''}`);
  assert.equal(manifest.steps.map((s: any) => s.id), ['host-info', 'network', 'net-context', 'accounts', 'traffic-capture', 'processes', 'autoruns', 'autorunsc', 'defender', 'eventlogs', 'ps-history', 'prefetch', 'execution-cache', 'av-scan', 'memory-dump', 'file-hashes']);
  assert.is(manifest.steps.find((s: any) => s.id === 'eventlogs').records, 15);
  for (const s of manifest.steps) assert.ok(s.status === 'ok', rows.join('\n'));
});

test('autorunsc ran (the tool present) and its CSV became records on the responder; the scan reported the detection made after it started', () => {
  const arc = readJsonl(join(stepDir('autorunsc'), 'records.jsonl'));
  assert.ok(arc.length >= 10, `${arc.length} autorunsc records`);
  assert.ok(existsSync(join(stepDir('autorunsc'), 'files', 'autorunsc.csv')));
  const detections = readJsonl(join(stepDir('av-scan'), 'records.jsonl')).filter((d: any) => d.type === 'threat');
  assert.ok(detections.length >= 1, 'the scan found the recorded threat');
  const hashed = readJsonl(join(stepDir('file-hashes'), 'records.jsonl')).map((f: any) => String(f.path).split('/').pop()).sort();
  assert.equal(hashed, ['invoice.pdf.exe', 'notes.txt']);
});

test('memory-dump flagged:high dumped exactly the processes the run\'s own records flag at high or above', async () => {
  const triaged = await triageFolder(dir, { rules: loadRules() });
  const flagged = new Set<number>();
  for (const f of triaged.findings) {
    if (levelRank(f.rule.level) < levelRank('high')) continue;
    if (f.kind === 'process' || (f.kind === 'connection' && f.relatedTo?.length)) flagged.add(f.record.pid as number);
  }
  const sorted = (xs: Iterable<number>) => [...xs].sort((a, b) => a - b);
  assert.ok(flagged.size >= 2, `flagged: ${[...flagged]}`);
  assert.equal(sorted(procdumpCalls.map((a) => Number(a[2]))), sorted(flagged));
  assert.equal(sorted(readJsonl(join(stepDir('memory-dump'), 'records.jsonl')).map((x: any) => x.pid)), sorted(flagged));
  // And triage over the whole folder reads every step: autostarts, the scan, the processes.
  const kinds = new Set(triaged.findings.map((f) => f.kind));
  for (const k of ['process', 'autorun', 'detection', 'event']) assert.ok(kinds.has(k as any), `a ${k} finding`);
});

test('the evidence folder verifies: every file the sixteen steps wrote is in the sums, unchanged', () => {
  const r = cli(['verify', dir]);
  assert.is(r.code, 0, r.stdout + r.stderr);
});

test.run();
