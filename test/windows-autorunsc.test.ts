// autorunsc on Windows: the real step (step.yaml + windows.ps1) through the real runner and evidence
// writer on a local PowerShell that picks the Windows scripts, with autorunsc64.exe replaced by a
// stand-in (test/fixtures/windows/autorunsc: a shell script with its own pin that writes a
// recorded-shape UTF-16 autorunsc CSV). The records must equal what `magpie import autoruns` makes
// of the same CSV: one parser, on the responder.
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { spawnSync } from 'node:child_process';
import { chmodSync, copyFileSync, existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { loadCatalog } from '../lib/catalog.ts';
import { collect, type HostResult } from '../lib/collect.ts';
import { buildPlan, parseParamArgs, type Plan } from '../lib/plan.ts';
import { sha256Text } from '../lib/evidence/hash.ts';
import { verifyEvidence } from '../lib/evidence/verify.ts';
import { composeScript, invocationLine, parseSummary, RECORD_DEPTH } from '../lib/script.ts';
import { importAutoruns } from '../lib/importers/autoruns.ts';
import { AutorunRecord } from '../lib/records/schemas.ts';
import { cli, FIXTURES, planWithPin, pwshOrFail, readJson, readJsonl, tempDir } from './helpers.ts';

const PWSH = pwshOrFail();
const HERE = join(FIXTURES, 'windows', 'autorunsc');
const STANDIN = join(HERE, 'autorunsc64.exe');
const CSV = join(HERE, 'autorunsc.csv');
/** The stand-in's own pin (SOURCE.md): a test that finds another hash means the stand-in changed. */
const STANDIN_PIN = '34f4e101597f57f16f31dbc1cfb5e48a11c8105931cc4f7233b5043db5624e26';
const q = (s: string) => `'${s.replace(/'/g, "''")}'`;

interface Run {
  result: HostResult;
  manifest: any;
  dir: string;
  step: any;
  calls: string[][];
  records: any[];
  stderrLog: string;
  stdoutLog: string;
}

/** A one-step plan of the catalog's autorunsc step; `pin`: the stand-in's pin in place of the shipped one (null keeps the shipped one). */
const plan = (params: string[] = [], pin: string | null = STANDIN_PIN, when?: string): Plan => planWithPin([{ step: 'autorunsc', ...(when ? { when } : {}) }], params, 'autorunsc', pin);

async function run(opts: { tools?: 'standin' | 'none'; scenario?: 'good' | 'fail'; params?: string[]; pin?: string | null; when?: string } = {}): Promise<Run> {
  const toolsDir = tempDir('magpie-arc-tools-');
  if ((opts.tools ?? 'standin') === 'standin') copyFileSync(STANDIN, join(toolsDir, 'autorunsc64.exe'));
  const work = tempDir('magpie-arc-');
  const calls = join(work, 'calls.txt');
  writeFileSync(calls, '');
  const startup = join(work, 'startup.ps1');
  // What the stand-in reads; the PowerShell that runs the step passes its environment on.
  writeFileSync(startup, [`$env:AUTORUNSC_CALL_LOG = ${q(calls)}`, `$env:AUTORUNSC_CSV = ${q(CSV)}`, `$env:AUTORUNSC_SCENARIO = ${q(opts.scenario ?? 'good')}`].join('\n') + '\n');
  const out = tempDir('magpie-arc-out-');
  const [result] = await collect({
    plan: plan(opts.params, opts.pin === undefined ? STANDIN_PIN : opts.pin, opts.when),
    targets: ['localhost'],
    transport: 'local',
    out,
    caseId: 'arc',
    concurrency: 1,
    toolsDir,
    local: { startupScript: startup, osOverride: 'windows' },
  });
  assert.ok(result.dir, `no evidence folder: ${result.error}`);
  const manifest = readJson(join(result.dir!, 'manifest.json'));
  const step = manifest.steps[0];
  const f = (n: string) => (existsSync(join(result.dir!, step.dir, n)) ? readFileSync(join(result.dir!, step.dir, n), 'utf8') : '');
  const text = readFileSync(calls, 'utf8');
  const callList = text ? text.split('--\n').filter(Boolean).map((c) => c.split('\n').filter((l) => l !== '')) : [];
  return { result, manifest, dir: result.dir!, step, calls: callList, records: f('records.jsonl') ? readJsonl(join(result.dir!, step.dir, 'records.jsonl')) : [], stderrLog: f('stderr.log'), stdoutLog: f('stdout.log') };
}

test('the stand-in is the file its pin names; the shipped step pins autorunsc64.exe (a placeholder until a team pins its vetted file)', () => {
  assert.is(sha256Text(readFileSync(STANDIN)), STANDIN_PIN);
  const step = loadCatalog().steps.get('autorunsc')!;
  assert.equal(step.def.tools.map((t) => t.name), ['autorunsc64.exe']);
  assert.match(step.def.tools[0].description, /v\d+\.\d+/, 'the pin names the version it is for');
  assert.equal(step.def.records, { importer: 'autoruns', file: 'autorunsc.csv', utc: true });
  assert.equal(Object.keys(step.scripts), ['windows']);
});

test('a good run: autorunsc pushed and run with every category, hashes, signatures, UTC, CSV, no banner, EULA, every profile; raw CSV kept; records as magpie import autoruns makes them; tool removed', async () => {
  const r = await run();
  assert.is(r.step.status, 'ok', `${r.step.reason}\n${r.stderrLog}`);
  assert.is(r.calls.length, 1, 'autorunsc ran once');
  const [args] = r.calls;
  const o = args.indexOf('-o');
  assert.ok(o > 0);
  assert.equal([...args.slice(0, o), ...args.slice(o + 2)], ['-accepteula', '-nobanner', '-a', '*', '-c', '-h', '-s', '-t', '*']);
  assert.ok(args[o + 1].endsWith('autorunsc.csv'));

  // The CSV exactly as autorunsc wrote it (UTF-16 with BOM), hashed into the evidence.
  const kept = readFileSync(join(r.dir, r.step.dir, 'files', 'autorunsc.csv'));
  assert.ok(kept.equals(readFileSync(CSV)), 'files/autorunsc.csv is byte for byte what the tool wrote');
  assert.equal([kept[0], kept[1]], [0xff, 0xfe]);
  assert.ok(r.manifest.files.some((f: any) => f.path.endsWith('files/autorunsc.csv') && f.sha256 === sha256Text(readFileSync(CSV))));

  // The same records `magpie import autoruns` makes of the same file, in the same order.
  const expected = importAutoruns(readFileSync(CSV), 'autorunsc.csv', { timesUtc: true });
  assert.ok(expected.records.length >= 5);
  assert.equal(r.records, JSON.parse(JSON.stringify(expected.records)));
  assert.is(r.step.records, expected.records.length);
  for (const rec of r.records) assert.ok(AutorunRecord.safeParse(rec).success, JSON.stringify(rec));
  const updater = r.records.find((x) => x.entry === 'WindowsUpdater');
  assert.equal([updater.signed, updater.time, updater.sha256], [true, '2025-11-26T04:00:12.000Z', '2e7d2c03a9507ae265ecf5b5356885a53393a2029d241394997265a1a25aefc6']);
  // -t: UTC, so no "local time read as UTC" warning; the log says where the records came from.
  assert.not.match(r.stderrLog, /local time/);
  assert.match(r.stderrLog, /records read from files\/autorunsc\.csv by the autoruns importer/);
  assert.match(r.stdoutLog, /removed the pushed .*autorunsc64\.exe/);
  // The custody log holds the tool's hash; the folder verifies.
  const custody = readFileSync(join(r.dir, 'custody.jsonl'), 'utf8');
  assert.ok(custody.includes(`"autorunsc64.exe":"${STANDIN_PIN}"`));
  const v = await verifyEvidence(r.dir);
  assert.ok(v.ok, JSON.stringify(v));
});

test('the step deletes the pushed tool itself, also when autorunsc fails (no CSV: the step fails with its message)', async () => {
  const r = await run({ scenario: 'fail' });
  assert.is(r.step.status, 'failed');
  assert.match(r.step.reason, /autorunsc wrote no output \(exit code 1\).*Access is denied/);
  assert.match(r.stdoutLog, /removed the pushed .*autorunsc64\.exe/);
  assert.equal(r.records, []);
  assert.not.ok(existsSync(join(r.dir, r.step.dir, 'files', 'autorunsc.csv')));
});

test('the pushed file is gone when the step ends, whether autorunsc succeeded or failed (the composed script run directly)', () => {
  for (const scenario of ['good', 'fail']) {
    const dir = tempDir('magpie-arc-direct-');
    const stage = join(dir, 'stage');
    mkdirSync(join(stage, 'tools'), { recursive: true });
    const pushed = join(stage, 'tools', 'autorunsc64.exe');
    copyFileSync(STANDIN, pushed);
    chmodSync(pushed, 0o755);
    const step = plan().steps[0];
    const line = invocationLine(composeScript(step, 'windows')!, { params: step.params, stage, depth: RECORD_DEPTH, target: { user: 'CORP\\responder', admin: true }, tools: { 'autorunsc64.exe': pushed } });
    writeFileSync(join(dir, 'run.ps1'), line + '\n');
    const r = spawnSync(PWSH, ['-NoProfile', '-NonInteractive', '-File', join(dir, 'run.ps1')], { encoding: 'utf8', env: { ...process.env, AUTORUNSC_CSV: CSV, AUTORUNSC_SCENARIO: scenario }, timeout: 120_000 });
    const { summary } = parseSummary(r.stdout);
    assert.ok(summary, r.stdout + r.stderr);
    assert.is(summary!.status, scenario === 'good' ? 'ok' : 'failed');
    assert.not.ok(existsSync(pushed), `${scenario}: the pushed tool is still there`);
    // The target's summary lists the CSV it hashed (good) and no tool: tools/ is outside files/.
    assert.equal(summary!.files.map((f) => f.path), scenario === 'good' ? ['autorunsc.csv'] : []);
  }
});

test('without the tool the step fails naming the file, the folder and where it comes from; nothing runs', async () => {
  const r = await run({ tools: 'none' });
  assert.is(r.step.status, 'failed');
  assert.match(r.step.reason, /needs the tool autorunsc64\.exe \(Sysinternals autorunsc64\.exe of Autoruns v[\d.]+ \(https:\/\/download\.sysinternals\.com\/files\/Autoruns\.zip\).*\) in \/.*magpie-arc-tools-\w+ \(SHA-256 [0-9a-f]{64}\); put the vendor's file there.*or pass --tools DIR/);
  assert.equal(r.calls, []);
});

test('a wrong pin: expected and actual SHA-256, not run, and what to do', async () => {
  // The shipped pin (a placeholder) against the stand-in: any real autorunsc64.exe meets the same.
  const r = await run({ pin: null });
  assert.is(r.step.status, 'failed');
  const pinned = loadCatalog().steps.get('autorunsc')!.def.tools[0].sha256.toLowerCase();
  assert.ok(r.step.reason.includes(`has SHA-256 ${STANDIN_PIN}, not the pinned ${pinned}`), r.step.reason);
  assert.match(r.step.reason, /it was not run\. Put the pinned version there, or, once you trust this file .*pin its SHA-256 under tools: in the step's step\.yaml/);
  assert.equal(r.calls, []);
});

test('when: tools-present (as in full): skipped, not failed, without the tool, saying which; a file with another hash still fails; with the tool it runs', async () => {
  const none = await run({ tools: 'none', when: 'tools-present' });
  assert.is(none.step.status, 'skipped');
  assert.match(none.step.reason, /^when: tools-present, and it needs the tool autorunsc64\.exe .* in \/.*magpie-arc-tools-\w+ \(SHA-256 [0-9a-f]{64}\)/);
  assert.equal(none.calls, []);
  const wrong = await run({ pin: null, when: 'tools-present' });
  assert.is(wrong.step.status, 'failed', 'an unvetted or tampered tool is not an absent one');
  assert.match(wrong.step.reason, /has SHA-256 [0-9a-f]{64}, not the pinned/);
  assert.equal(wrong.calls, []);
  const good = await run({ when: 'tools-present' });
  assert.is(good.step.status, 'ok', good.step.reason);
  assert.is(good.calls.length, 1);
});

test('when: belongs to catalog steps; an inline run: step with it, or an unknown condition, is refused naming the file', () => {
  const dir = tempDir('magpie-arc-when-');
  writeFileSync(join(dir, 'inline.yaml'), JSON.stringify({ name: 'inline', description: 'x', steps: [{ id: 'x', run: 'Get-Date', when: 'tools-present' }] }));
  writeFileSync(join(dir, 'odd.yaml'), JSON.stringify({ name: 'odd', description: 'x', steps: [{ step: 'autorunsc', when: 'always' }] }));
  assert.throws(() => buildPlan(loadCatalog([dir]), 'inline'), /inline\.yaml[\s\S]*when: tools-present. belongs to a catalog step/);
  assert.throws(() => buildPlan(loadCatalog([dir]), 'odd'), /odd\.yaml[\s\S]*when/);
});

test('User: one account instead of every profile; an option-like value is refused before autorunsc runs', async () => {
  // A name with a space and a backslash arrives as one argument, unchanged (Windows command-line quoting).
  const one = await run({ params: ['autorunsc.User=CORP\\Jane Doe'] });
  assert.is(one.step.status, 'ok', one.step.reason);
  assert.is(one.calls[0].at(-1), 'CORP\\Jane Doe');
  assert.is(one.calls[0].length, 11);
  const bad = await run({ params: ['autorunsc.User=-z'] });
  assert.is(bad.step.status, 'failed');
  assert.match(bad.step.reason, /User must be \* or one account name, got: -z/);
  assert.equal(bad.calls, []);
});

test('magpie show prints the step for Windows; the full playbook runs autorunsc when the tool is present', () => {
  const book = join(tempDir('magpie-arc-show-'), 't.yaml');
  writeFileSync(book, JSON.stringify({ name: 't', description: 'autorunsc', steps: [{ step: 'autorunsc' }] }));
  const r = cli(['show', 't', '--playbooks', join(book, '..'), '--os', 'windows']);
  assert.is(r.code, 0, r.stderr);
  assert.match(r.stdout, /'-accepteula', '-nobanner', '-a', '\*', '-c', '-h', '-s', '-t', '-o', \$csv, \$user/);
  const full = buildPlan(loadCatalog(), 'full').steps;
  const arc = full.find((s) => s.stepId === 'autorunsc');
  assert.ok(arc?.onlyWithTools, 'full lists autorunsc with when: tools-present');
  assert.ok(full.some((s) => s.stepId === 'autoruns'), 'and keeps the native autoruns step');
});

test.run();
