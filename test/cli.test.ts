// The CLI surface: show prints exactly what runs, list/--json, dry runs, Ctrl-C, exit codes.
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { spawnSync } from 'node:child_process';
import { join } from 'node:path';
import { verifyEvidence } from '../lib/evidence/verify.ts';
import { cli, hostOf, cliSpawn, pwshOrFail, readJson, readJsonl, teamPlaybook, tempDir, waitFor } from './helpers.ts';

pwshOrFail();

test('show prints the exact script of each step, prelude included, with the bound parameters', () => {
  const r = cli(['show', 'triage', '--os', 'linux', '--param', 'HashImages=false']);
  assert.is(r.code, 0, r.stderr);
  assert.match(r.stdout, /# ======== step 3 processes on linux — timeout 600s — params \{"HashImages":false,"CheckSignatures":true\}/);
  assert.match(r.stdout, /Magpie prelude v1/);
  assert.match(r.stdout, /Invoke-MagpieStep \{\n# processes \(Linux\)/);
  assert.not.match(r.stdout, /on windows/);
});

test('show output is byte-for-byte the script.ps1 the run keeps as evidence', () => {
  const book = teamPlaybook('s', [{ id: 'one', run: "[pscustomobject]@{ a = 'ü' }" }]);
  const shown = cli(['show', 's', '--os', 'linux', '--playbooks', book]).stdout;
  const out = tempDir();
  const r = cli(['run', 's', '--playbooks', book, '--out', out]);
  const dir = /evidence: (.+)/.exec(r.stdout)![1].trim();
  const script = readFileSync(join(dir, 'steps', '01-one', 'script.ps1'), 'utf8');
  assert.ok(shown.includes(script), 'the shown script contains the evidence script verbatim');
});

test('list shows playbooks and steps; --json is machine-readable', () => {
  const r = cli(['list']);
  assert.is(r.code, 0);
  assert.match(r.stdout, /triage +host-info → network → processes → autoruns → defender/);
  const j = JSON.parse(cli(['list', '--json']).stdout);
  assert.equal(j.playbooks.find((p: any) => p.name === 'triage').steps, ['host-info', 'network', 'processes', 'autoruns', 'defender']);
  assert.equal(j.steps.map((s: any) => s.id).sort(), ['accounts', 'autoruns', 'autorunsc', 'av-scan', 'defender', 'eventlogs', 'execution-cache', 'fetch-files', 'file-hashes', 'host-info', 'memory-dump', 'net-context', 'network', 'prefetch', 'processes', 'ps-history', 'ransomware-signs', 'suspicious-modules', 'traffic-capture', 'yara-scan']);
  assert.equal(j.playbooks.map((p: any) => p.name).sort(), ['full', 'lateral-movement', 'miner', 'ransomware', 'suspicious-modules', 'traffic', 'triage', 'yara-fetched']);
});

test('the README quick start (no --out: the relative folder `evidence` in the working folder) collects every record the target counted', () => {
  const cwd = tempDir('magpie-quickstart-');
  const r = cli(['run', 'triage'], { cwd });
  assert.is(r.code, 0, r.stderr);
  assert.not.match(r.stderr + r.stdout, /records, 0 arrived/);
  const root = join(cwd, 'evidence', 'adhoc');
  const host = readdirSync(root).find((d) => d !== 'runs')!;
  const run = readdirSync(join(root, host))[0];
  const manifest = readJson(join(root, host, run, 'manifest.json'));
  const byId = Object.fromEntries(manifest.steps.map((s: any) => [s.id, s.records]));
  assert.ok(byId['host-info'] === 1 && byId.processes > 5, JSON.stringify(byId));
});

test('--dry-run runs nothing and writes nothing', () => {
  const out = tempDir();
  const r = cli(['run', 'triage', '--dry-run', '--out', out]);
  assert.is(r.code, 0);
  assert.match(r.stdout, /03 processes +timeout 600s/);
  assert.equal(readdirSync(out), []);
});

test('usage errors exit 2 and say what to do', () => {
  assert.is(cli([]).code, 2);
  const r = cli(['run', 'triage', '--concurrency', 'lots']);
  assert.is(r.code, 2);
  assert.match(r.stderr, /--concurrency must be a whole number/);
  const r2 = cli(['run', 'triage', '--bogus']);
  assert.is(r2.code, 2);
  assert.match(r2.stderr, /Unknown option '--bogus'/);
  const r3 = cli(['run', 'triage', '--case', '../../etc']);
  assert.is(r3.code, 2);
  assert.match(r3.stderr, /--case must be/);
  const dir = tempDir();
  const r4 = cli(['verify', dir]);
  assert.is(r4.code, 1);
  assert.match(r4.stdout, /not a Magpie evidence folder/);
});

test('--json prints one JSON object per event and a summary; exit 1 when a step fails', () => {
  const book = teamPlaybook('j', [{ id: 'bad', run: "throw 'x'" }, { id: 'good', run: '[pscustomobject]@{ a = 1 }' }]);
  const r = cli(['run', 'j', '--playbooks', book, '--out', tempDir(), '--json']);
  assert.is(r.code, 1);
  const events = r.stdout.split('\n').filter(Boolean).map((l) => JSON.parse(l));
  assert.equal(events.filter((e) => e.type === 'step-ended').map((e) => [e.step, e.status]), [['bad', 'failed'], ['good', 'ok']]);
  const summary = events.at(-1);
  assert.is(summary.type, 'summary');
  assert.is(summary.hosts[0].failedSteps, 1);
});

test('a long playbook runs clean: no listener piles up on the run\'s abort signal', () => {
  const steps = Array.from({ length: 14 }, (_, i) => ({ id: `s${i}`, run: `[pscustomobject]@{ n = ${i} }` }));
  const r = cli(['run', 'many', '--playbooks', teamPlaybook('many', steps), '--out', tempDir()]);
  assert.is(r.code, 0, r.stderr);
  assert.not.match(r.stderr, /MaxListeners|memory leak/);
  assert.match(r.stderr, /14\/s13 ok 1 records/);
});

test('Ctrl-C during a run stops the step and leaves a valid, marked partial folder', async () => {
  const book = teamPlaybook('long', [
    { id: 'quick', run: '[pscustomobject]@{ n = 1 }' },
    { id: 'slow', timeout: 600, run: "[pscustomobject]@{ n = 2 }\nStart-Sleep -Seconds 300" },
    { id: 'never', run: '[pscustomobject]@{ n = 3 }' },
  ]);
  const out = tempDir();
  const p = cliSpawn(['run', 'long', '--playbooks', book, '--out', out]);
  await waitFor(() => /2\/slow|quick ok/.test(p.output().stderr) && existsSync(join(out, 'adhoc')), 60_000, 'the slow step to start');
  await new Promise((r) => setTimeout(r, 1500));
  const t0 = Date.now();
  p.child.kill('SIGINT');
  const r = await p.done;
  assert.ok(Date.now() - t0 < 10_000, 'stopped promptly');
  assert.is(r.code, 130, r.stderr);
  assert.match(r.stderr, /interrupted/);
  const hostDir = join(out, 'adhoc', hostOf(join(out, 'adhoc')));
  const [folder] = readdirSync(hostDir);
  assert.match(folder, /Z\.partial$/, 'left marked partial');
  const dir = join(hostDir, folder);
  const manifest = readJson(join(dir, 'manifest.json'));
  assert.is(manifest.state, 'interrupted');
  assert.equal(manifest.steps.map((s: any) => [s.id, s.status, s.partial]), [['quick', 'ok', false], ['slow', 'failed', true], ['never', 'skipped', false]]);
  assert.match(manifest.steps[1].reason, /interrupted by the operator/);
  assert.equal(readJsonl(join(dir, 'steps', '02-slow', 'records.jsonl')), [{ n: 2 }], 'what the step wrote before is kept');
  const report = await verifyEvidence(dir);
  assert.ok(report.ok, JSON.stringify(report));
  assert.is(spawnSync('sha256sum', ['-c', 'SHA256SUMS'], { cwd: dir }).status, 0);
});

test('a crashed run (SIGKILL) leaves a partial folder whose manifest says what finished', async () => {
  const book = teamPlaybook('crash', [
    { id: 'quick', run: '[pscustomobject]@{ n = 1 }' },
    { id: 'slow', timeout: 600, run: 'Start-Sleep -Seconds 300' },
  ]);
  const out = tempDir();
  const p = cliSpawn(['run', 'crash', '--playbooks', book, '--out', out]);
  await waitFor(() => /quick ok/.test(p.output().stderr), 60_000, 'the first step to finish');
  p.child.kill('SIGKILL');
  await p.done;
  const hostDir = join(out, 'adhoc', hostOf(join(out, 'adhoc')));
  const dir = join(hostDir, readdirSync(hostDir)[0]);
  assert.match(dir, /\.partial$/);
  const manifest = readJson(join(dir, 'manifest.json'));
  assert.is(manifest.state, 'running');
  assert.equal(manifest.steps.map((s: any) => s.id), ['quick']);
  const report = await verifyEvidence(dir);
  assert.ok(report.ok, JSON.stringify(report));
  assert.ok(report.notes.some((n) => /never finished/.test(n)));
});

test('the terminal tree leaves Ctrl-C to the CLI (listr2 would exit at once and lose the step)', async () => {
  const { TreeReporter } = await import('../lib/progress-tree.ts');
  const { loadCatalog } = await import('../lib/catalog.ts');
  const { buildPlan } = await import('../lib/plan.ts');
  const before = process.listenerCount('SIGINT') + process.listenerCount('SIGTERM');
  const plan = buildPlan(loadCatalog(), 'triage');
  const tree = new TreeReporter(plan, ['h']);
  assert.is(process.listenerCount('SIGINT') + process.listenerCount('SIGTERM'), before);
  tree.onEvent({ type: 'host-ended', host: 'h', state: 'failed', dir: null, error: 'unreachable' });
  await tree.done();
});

test('many hosts on a terminal: one counter line and the running hosts, not a line per host', async () => {
  const { CounterReporter } = await import('../lib/progress-counter.ts');
  const { PassThrough } = await import('node:stream');
  const { loadCatalog } = await import('../lib/catalog.ts');
  const { buildPlan } = await import('../lib/plan.ts');
  const plan = buildPlan(loadCatalog(), 'triage');
  const hosts = Array.from({ length: 500 }, (_, i) => `ws-${i}`);
  const r = new CounterReporter(plan, hosts, Object.assign(new PassThrough(), { isTTY: false }) as unknown as NodeJS.WriteStream);
  for (const h of hosts.slice(0, 40)) r.onEvent({ type: 'host-started', host: h });
  for (const h of hosts.slice(0, 20)) r.onEvent({ type: 'host-ended', host: h, state: h === 'ws-3' ? 'failed' : 'complete', dir: null, error: null });
  r.onEvent({ type: 'step-started', host: 'ws-25', step: plan.steps[2] });
  const lines = r.text().split('\n');
  assert.is(lines[0], '20 done (1 failed) · 20 running · 460 queued of 500');
  assert.ok(lines.length <= 14, `${lines.length} lines for 500 hosts`);
  assert.ok(lines.some((l) => /ws-25 +3\/5 processes/.test(l)), lines.join('\n'));
  assert.match(lines.at(-1)!, /… 8 more/);
  await r.done();
});

test.run();
