// The evidence folder of a real `magpie run triage` on this machine: layout, manifest against
// disk, sha256sum -c, verify catching changes, custody chain, names, write-once.
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { execFileSync, spawnSync } from 'node:child_process';
import { appendFileSync, existsSync, mkdirSync, readdirSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { createServer, type Server } from 'node:net';
import { createHash } from 'node:crypto';
import { hostname } from 'node:os';
import { join } from 'node:path';
import Ajv from 'ajv';
import { manifestJsonSchema } from '../lib/evidence/manifest.ts';
import { safeRelativePath, safeSegment, timestampName } from '../lib/evidence/names.ts';
import { EvidenceWriter } from '../lib/evidence/writer.ts';
import { buildPlan } from '../lib/plan.ts';
import { loadCatalog } from '../lib/catalog.ts';
import { cli, pwshOrFail, readJson, readJsonl, ROOT, tempDir } from './helpers.ts';

pwshOrFail();

let server: Server;
let port = 0;
let dir = '';
let run: ReturnType<typeof cli>;

function copyTree(src: string, dst: string) {
  execFileSync('cp', ['-a', src, dst]);
}

test.before(async () => {
  // A socket and a process of ours that the network and processes steps must find.
  server = createServer();
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  port = (server.address() as { port: number }).port;
  const out = tempDir();
  run = cli(['run', 'triage', '--out', out, '--case', 'IR-2026-001'], { timeoutMs: 300_000 });
  const m = /evidence: (.+)/.exec(run.stdout);
  dir = m ? m[1].trim() : '';
});

test.after(() => {
  server.close();
});

test('magpie run triage exits 0 and seals <out>/<case>/<host>/<UTC stamp>', () => {
  assert.is(run.code, 0, run.stderr + run.stdout);
  assert.match(dir, new RegExp(`/IR-2026-001/${safeSegment(hostname())}/\\d{8}T\\d{6}Z$`));
  assert.ok(existsSync(dir));
  assert.not.ok(existsSync(`${dir}.partial`));
  assert.match(run.stderr, /^\d{4}-\d\d-\d\dT[\d:.]+Z localhost: 3\/processes ok \d+ records/m, 'plain timestamped lines off a TTY');
});

test('the manifest validates against the published JSON Schema and matches the files on disk', () => {
  const manifest: any = readJson(join(dir, 'manifest.json'));
  const published = readJson(join(ROOT, 'docs', 'manifest.schema.json'));
  assert.equal(published, JSON.parse(JSON.stringify(manifestJsonSchema())), 'docs/manifest.schema.json is stale: run npm run schema');
  const validate = new Ajv.default({ strict: false }).compile(published);
  assert.ok(validate(structuredClone(manifest)), JSON.stringify(validate.errors));
  assert.is(manifest.state, 'complete');
  assert.is(manifest.case, 'IR-2026-001');
  assert.is(manifest.target.transport, 'local');
  assert.is(manifest.target.hostname, hostname());
  assert.match(manifest.target.psVersion, /^7\.\d+\.\d+/, 'learned from the first step');
  assert.is(manifest.target.psEdition, 'Core');
  assert.equal(manifest.steps.map((s: any) => [s.id, s.status]), [['host-info', 'ok'], ['network', 'ok'], ['processes', 'ok'], ['autoruns', 'ok'], ['defender', 'skipped']]);
  assert.match(manifest.steps[4].reason, /no script for linux; this step supports windows/);
  for (const f of manifest.files) {
    const file = join(dir, f.path);
    assert.is(statSync(file).size, f.size, f.path);
    assert.is(createHash('sha256').update(readFileSync(file)).digest('hex'), f.sha256, f.path);
  }
  for (const s of manifest.steps.filter((x: any) => x.status !== 'skipped')) {
    const script = readFileSync(join(dir, s.dir, 'script.ps1'));
    assert.is(createHash('sha256').update(script).digest('hex'), s.scriptSha256);
    assert.is(readJsonl(join(dir, s.dir, 'records.jsonl')).length, s.records);
  }
  const listed = new Set(manifest.files.map((f: any) => f.path));
  const onDisk = (readdirSync(dir, { recursive: true }) as string[]).filter((p) => statSync(join(dir, p)).isFile());
  // custody.jsonl is anchored by its own chain (its seal entry holds the manifest's and the sums' hashes).
  for (const p of onDisk) assert.ok(listed.has(p) || p === 'manifest.json' || p === 'SHA256SUMS' || p === 'custody.jsonl', `unlisted file ${p}`);
  assert.not.ok(listed.has('custody.jsonl'));
});

test('records: host facts, our own listening socket with our pid, our own process with its hash', () => {
  const [host] = readJsonl(join(dir, 'steps', '01-host-info', 'records.jsonl'));
  assert.is(host.hostname, hostname());
  assert.match(host.clockUtc, /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$/);
  assert.match(host.bootTime, /Z$/);
  assert.is(typeof host.admin, 'boolean');
  const conns = readJsonl(join(dir, 'steps', '02-network', 'records.jsonl'));
  const ours = conns.find((c) => c.protocol === 'tcp' && c.localPort === port && c.state === 'Listen');
  assert.ok(ours, `listening socket ${port} not found`);
  assert.is(ours.localAddress, '127.0.0.1');
  assert.is(ours.pid, process.pid);
  assert.is(ours.processName, 'node');
  const procs = readJsonl(join(dir, 'steps', '03-processes', 'records.jsonl'));
  const me = procs.find((p) => p.pid === process.pid);
  assert.ok(me);
  assert.is(me.path, process.execPath);
  assert.is(me.sha256, createHash('sha256').update(readFileSync(process.execPath)).digest('hex'));
  assert.is(me.ppid, process.ppid);
  assert.match(me.commandLine, /uvu/);
  assert.match(me.startTime, /Z$/);
  const bash = procs.find((p) => p.path === '/usr/bin/bash' || p.path === '/bin/bash');
  if (bash) assert.is(bash.signatureStatus, 'PackageVerified');
  assert.ok(procs.some((p) => p.signatureStatus === 'PackageVerified'), 'dpkg ownership checked');
});

test('sha256sum -c accepts SHA256SUMS; magpie verify says OK', () => {
  const r = spawnSync('sha256sum', ['-c', '--strict', 'SHA256SUMS'], { cwd: dir, encoding: 'utf8' });
  assert.is(r.status, 0, r.stdout + r.stderr);
  assert.ok(r.stdout.split('\n').filter(Boolean).length >= 15);
  const v = cli(['verify', dir]);
  assert.is(v.code, 0, v.stdout);
  assert.match(v.stdout, /^OK /);
});

test('verify names one changed byte, a removed file and an added file', () => {
  const copy = join(tempDir(), 'copy');
  copyTree(dir, copy);
  const target = join(copy, 'steps', '03-processes', 'records.jsonl');
  const buf = readFileSync(target);
  buf[10] = buf[10] ^ 1;
  writeFileSync(target, buf);
  rmSync(join(copy, 'steps', '01-host-info', 'stdout.log'));
  writeFileSync(join(copy, 'steps', 'planted.txt'), 'x');
  const v = cli(['verify', copy]);
  assert.is(v.code, 1);
  assert.match(v.stdout, /changed: steps\/03-processes\/records\.jsonl/);
  assert.match(v.stdout, /missing: steps\/01-host-info\/stdout\.log/);
  assert.match(v.stdout, /added: +steps\/planted\.txt/);
  const json = JSON.parse(cli(['verify', copy, '--json']).stdout);
  assert.equal(json.changed, ['steps/03-processes/records.jsonl']);
});

test('pack: one zip with its SHA-256 beside it; unpacked, the folder verifies with sha256sum alone', () => {
  const out = join(tempDir(), 'hand-over.zip');
  const r = cli(['pack', dir, '--out', out]);
  assert.is(r.code, 0, r.stderr);
  assert.is(spawnSync('sha256sum', ['-c', 'hand-over.zip.sha256'], { cwd: join(out, '..') }).status, 0);
  const unpacked = tempDir();
  assert.is(spawnSync('unzip', ['-q', out, '-d', unpacked]).status, 0);
  const top = join(unpacked, dir.split('/').at(-1)!);
  const check = spawnSync('sha256sum', ['-c', '--strict', 'SHA256SUMS'], { cwd: top, encoding: 'utf8' });
  assert.is(check.status, 0, check.stdout + check.stderr);
  assert.is(cli(['verify', top]).code, 0);
  const again = cli(['pack', dir, '--out', out]);
  assert.is(again.code, 2, 'never overwrites a pack');
  assert.match(again.stderr, /already exists/);
  const copy = join(tempDir(), 'copy');
  copyTree(dir, copy);
  writeFileSync(join(copy, 'steps', 'planted.txt'), 'x');
  const bad = cli(['pack', copy]);
  assert.is(bad.code, 2);
  assert.match(bad.stderr, /does not verify, so it is not packed: added steps\/planted\.txt/);
});

test('the custody log is a hash chain: editing an entry breaks it', () => {
  const entries = readJsonl(join(dir, 'custody.jsonl'));
  assert.equal(entries.map((e) => e.action).filter((a) => a !== 'step-started' && a !== 'step-recorded'), ['collection-started', 'session-opened', 'collection-sealed']);
  assert.ok(entries.every((e, i) => e.seq === i + 1 && e.actor.includes('@')));
  const copy = join(tempDir(), 'copy');
  copyTree(dir, copy);
  const lines = readFileSync(join(copy, 'custody.jsonl'), 'utf8').split('\n');
  lines[2] = lines[2].replace('"step-started"', '"step-Started"');
  writeFileSync(join(copy, 'custody.jsonl'), lines.join('\n'));
  const v = cli(['verify', copy, '--json']);
  const report = JSON.parse(v.stdout);
  assert.ok(report.problems.some((p: string) => /custody\.jsonl:4: chain broken/.test(p)), JSON.stringify(report.problems));
});

test('names from hosts: separators, dots, reserved names, control characters', () => {
  assert.is(safeSegment('WS-042'), 'WS-042');
  for (const evil of ['..', '.', '../x', '..\\..\\x', 'CON', 'nul.txt', 'COM1', 'a\u001b[31mb', 'x\ny', '', ' lead', 'trail. ', 'ä/ö']) {
    const s = safeSegment(evil);
    assert.match(s, /^[A-Za-z0-9._~-]+$/, evil);
    assert.not.ok(s.startsWith('.'), evil);
    assert.not.ok(/^(con|nul|com1)(\.|~|$)/i.test(s), evil);
  }
  assert.is.not(safeSegment('a/b'), safeSegment('a\\b'), 'distinct originals stay distinct');
  assert.not.ok(safeRelativePath('../../etc/passwd').split('/').includes('..'));
  assert.is(timestampName(new Date('2026-11-26T03:04:05.678Z')), '20261126T030405Z');
});

test('write-once: a second run in the same second gets its own folder; finish never replaces one', async () => {
  const out = tempDir();
  const plan = buildPlan(loadCatalog(), 'triage');
  const now = new Date('2026-01-02T03:04:05Z');
  const a = EvidenceWriter.create({ root: out, caseId: 'c', targetName: 'h', transport: 'local', plan, now });
  const b = EvidenceWriter.create({ root: out, caseId: 'c', targetName: 'h', transport: 'local', plan, now });
  assert.is.not(a.dir, b.dir);
  assert.match(b.dir, /20260102T030405Z-2\.partial$/);
  mkdirSync(join(out, 'c', 'h', '20260102T030405Z-3'));
  const c = EvidenceWriter.create({ root: out, caseId: 'c', targetName: 'h', transport: 'local', plan, now });
  assert.match(c.dir, /-4\.partial$/, 'an existing final folder is never reused');
  const finalA = await a.finish('complete');
  assert.match(finalA, /20260102T030405Z$/);
  // A final folder that appeared meanwhile is not replaced: the run stays marked partial.
  mkdirSync(b.dir.replace(/\.partial$/, ''));
  writeFileSync(join(b.dir.replace(/\.partial$/, ''), 'keep'), 'x');
  const finalB = await b.finish('complete');
  assert.is(finalB, b.dir);
  assert.is(readFileSync(join(b.dir.replace(/\.partial$/, ''), 'keep'), 'utf8'), 'x');
  appendFileSync(join(finalA, 'extra'), 'x');
  assert.is(cli(['verify', finalA]).code, 1);
});

test('a file whose hash on the target differs from the copy is logged in custody as a hash mismatch', async () => {
  const plan = buildPlan(loadCatalog(), 'triage');
  const w = EvidenceWriter.create({ root: tempDir(), caseId: 'c', targetName: 'h', transport: 'local', plan });
  const stage = w.stagingDir(plan.steps[0]);
  mkdirSync(join(stage, 'files'));
  writeFileSync(join(stage, 'records.jsonl'), '{"a":1}\n');
  writeFileSync(join(stage, 'files', 'dump.bin'), 'arrived');
  const summary = { status: 'ok' as const, records: 1, errors: 0, message: null, files: [{ path: 'dump.bin', size: 7, sha256: createHash('sha256').update('sent').digest('hex') }] };
  await w.recordStep(plan.steps[0], { status: 'ok', reason: null, partial: false, os: 'linux', fetched: stage, summary });
  w.releaseStaging(plan.steps[0]);
  const dir = await w.finish('complete');
  const mismatch = readJsonl(join(dir, 'custody.jsonl')).find((e) => e.action === 'hash-mismatch');
  assert.ok(mismatch, 'logged');
  assert.is(mismatch.path, 'steps/01-host-info/files/dump.bin');
  assert.is(mismatch.target, summary.files[0].sha256);
  assert.is(mismatch.local, createHash('sha256').update('arrived').digest('hex'));
  const entry = readJson(join(dir, 'manifest.json')).files.find((f: any) => f.path.endsWith('dump.bin'));
  assert.is(entry.targetSha256, summary.files[0].sha256);
});

test.run();
