// The execution-cache step (Windows) under real pwsh: the Amcache folder is built here in a
// temporary folder (the step's Folder parameter), esentutl.exe and a locking Copy-Item are
// PowerShell stand-ins (fixtures/windows/execution-cache/fakes.ps1), and the Shimcache value comes
// from that folder's Registry.json through fakes.ps1's RegistryKey stand-in.
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { createHash } from 'node:crypto';
import { existsSync, mkdirSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { FileRecord } from '../lib/records/schemas.ts';
import { FIXTURES, pwshOrFail, runWindowsStep, tempDir } from './helpers.ts';

pwshOrFail();

const FIX = join(FIXTURES, 'windows', 'execution-cache');
const sha = (b: Buffer) => createHash('sha256').update(b).digest('hex');
const KEY = 'HKEY_LOCAL_MACHINE\\SYSTEM\\CurrentControlSet\\Control\\Session Manager\\AppCompatCache';
const SHIM = Buffer.from(JSON.parse(readFileSync(join(FIX, 'Registry.json'), 'utf8'))[KEY].AppCompatCache.Data);
const SHIM_PATH = 'HKLM\\SYSTEM\\CurrentControlSet\\Control\\Session Manager\\AppCompatCache\\AppCompatCache';

/** What the fake esentutl writes for `name`: "regf", the name in UTF-16LE at 48, 4096 bytes. */
function fakeHive(name: string): Buffer {
  const b = Buffer.alloc(4096);
  b.write('regf', 0, 'ascii');
  b.write(name, 48, 'utf16le');
  return b;
}

const LOG1 = Buffer.from('DIRT log one: changes not yet in the hive\n');
const LOG2 = Buffer.from('DIRT log two\n');
/** An AppCompat\Programs folder with the hive (as the system holds it) and these logs. */
function programs(logs: Record<string, Buffer> = { 'Amcache.hve.LOG1': LOG1, 'Amcache.hve.LOG2': LOG2 }, hive = true): string {
  const dir = join(tempDir('magpie-amcache-'), 'Programs');
  mkdirSync(dir, { recursive: true });
  if (hive) writeFileSync(join(dir, 'Amcache.hve'), Buffer.concat([Buffer.from('regf'), Buffer.alloc(8188)]));
  for (const [n, b] of Object.entries(logs)) writeFileSync(join(dir, n), b);
  writeFileSync(join(dir, 'Amcache.hve.tmp.LOG1'), 'not ours');
  return dir;
}

const run = (o: { folder?: string; fixtureDir?: string; globals?: Record<string, string> } = {}) =>
  runWindowsStep('execution-cache', {
    fixtureDir: o.fixtureDir ?? FIX,
    fakes: [join(FIXTURES, 'windows', 'fakes.ps1'), join(FIX, 'fakes.ps1')],
    params: o.folder === undefined ? {} : { Folder: o.folder },
    globals: o.globals,
    schema: FileRecord,
  });
const stdoutLog = (stage: string) => readFileSync(join(stage, 'stdout.log'), 'utf8');
const outFiles = (stage: string) => (existsSync(join(stage, 'files')) ? readdirSync(join(stage, 'files')).sort() : []);

test('the hive through esentutl /vss, LOG1 by a plain copy, the locked LOG2 through esentutl, the Shimcache byte for byte: files, hashes, records', () => {
  const dir = programs();
  const r = run({ folder: dir });
  assert.is(r.summary.status, 'ok', r.stderrLog);
  assert.is(r.summary.errors, 0, r.stderrLog);
  assert.not.match(r.stderrLog, /\[warning\]/);
  const out = join(r.stage, 'files');
  assert.equal(outFiles(r.stage), ['Amcache.hve', 'Amcache.hve.LOG1', 'Amcache.hve.LOG2', 'AppCompatCache.bin']);
  const want = {
    'Amcache.hve': fakeHive('Amcache.hve'),
    'Amcache.hve.LOG1': LOG1,
    'Amcache.hve.LOG2': fakeHive('Amcache.hve.LOG2'),
    'AppCompatCache.bin': SHIM,
  };
  for (const [n, b] of Object.entries(want)) assert.ok(readFileSync(join(out, n)).equals(b), n);
  assert.equal(
    r.records.map((x) => [x.source, x.path, x.evidenceFile, x.method, x.size, x.sha256]),
    [
      ['amcache', join(dir, 'Amcache.hve'), 'Amcache.hve', 'esentutl-vss', 4096, sha(want['Amcache.hve'])],
      ['amcache-log', join(dir, 'Amcache.hve.LOG1'), 'Amcache.hve.LOG1', 'copy', LOG1.length, sha(LOG1)],
      ['amcache-log', join(dir, 'Amcache.hve.LOG2'), 'Amcache.hve.LOG2', 'esentutl-vss', 4096, sha(want['Amcache.hve.LOG2'])],
      ['shimcache', SHIM_PATH, 'AppCompatCache.bin', 'registry', 244, sha(SHIM)],
    ],
  );
  for (const x of r.records.slice(0, 3)) assert.match(x.modified, /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$/);
  assert.is(r.records[3].modified, null);
  // Each command line in stdout.log before it ran, quoted as Windows splits it.
  const log = stdoutLog(r.stage);
  const runs = log.split('\n').filter((l) => l.startsWith('run: '));
  assert.equal(runs, [
    `run: esentutl.exe /y ${join(dir, 'Amcache.hve')} /vss /d ${join(out, 'Amcache.hve')}`,
    `run: esentutl.exe /y ${join(dir, 'Amcache.hve.LOG2')} /vss /d ${join(out, 'Amcache.hve.LOG2')}`,
  ]);
  assert.ok(log.indexOf(runs[0]) < log.indexOf('esentutl: Operation completed successfully'), log);
  assert.match(log, /copy: .*Amcache\.hve\.LOG2: The process cannot access the file .* because it is being used by another process\.; through esentutl \/vss instead/);
});

test('a path with spaces is quoted on the logged command line; a hive without logs is collected alone', () => {
  const dir = join(tempDir('magpie-amcache-'), 'App Compat', 'Programs');
  mkdirSync(dir, { recursive: true });
  writeFileSync(join(dir, 'Amcache.hve'), 'regf');
  const r = run({ folder: dir });
  assert.is(r.summary.status, 'ok', r.stderrLog);
  assert.equal(r.records.map((x) => x.evidenceFile), ['Amcache.hve', 'AppCompatCache.bin']);
  assert.ok(stdoutLog(r.stage).includes(`run: esentutl.exe /y "${join(dir, 'Amcache.hve')}" /vss /d `), stdoutLog(r.stage));
  assert.match(stdoutLog(r.stage), /no Amcache\.hve\.LOG1 beside the hive/);
});

test('esentutl fails: no hive and no locked log (the partial copy removed), a warning saying what to do; the plain-copied log and the Shimcache still collected', () => {
  const dir = programs();
  const r = run({ folder: dir, globals: { EcEsentutl: 'fail' } });
  assert.is(r.summary.status, 'ok', r.stderrLog);
  assert.equal(outFiles(r.stage), ['Amcache.hve.LOG1', 'AppCompatCache.bin']);
  assert.equal(r.records.map((x) => [x.evidenceFile, x.method]), [['Amcache.hve.LOG1', 'copy'], ['AppCompatCache.bin', 'registry']]);
  const warnings = r.stderrLog.split('\n').filter((l) => l.startsWith('[warning]'));
  assert.is(warnings.length, 2, r.stderrLog);
  assert.ok(warnings[0].startsWith(`[warning] ${join(dir, 'Amcache.hve')} not collected (esentutl exit code -2403: `), warnings[0]);
  assert.match(warnings[0], /JET_errOSSnapshotNotAllowed/);
  assert.match(warnings[0], /run the step as an administrator .*Volume Shadow Copy service is not disabled \(Get-Service VSS.*Windows 8 \/ Server 2012 or later/);
  assert.ok(warnings[1].startsWith(`[warning] ${join(dir, 'Amcache.hve.LOG2')} not collected (esentutl exit code -2403`), warnings[1]);
  // Every esentutl line in stdout.log, the failure included.
  assert.match(stdoutLog(r.stage), /esentutl: Operation terminated with error -2403/);
  // No esentutl.exe at all: the same warning with PowerShell's reason, the step goes on.
  const missing = run({ folder: programs(), globals: { EcEsentutl: 'missing' } });
  assert.equal([missing.summary.status, missing.summary.errors], ['ok', 0], missing.stderrLog);
  assert.equal(missing.records.map((x) => x.evidenceFile), ['Amcache.hve.LOG1', 'AppCompatCache.bin']);
  assert.match(missing.stderrLog, /\[warning\] .*Amcache\.hve not collected \(esentutl\.exe did not run: The term 'esentutl\.exe' is not recognized.*\): run the step as an administrator/);
});

test('no Amcache (the default folder does not exist here, as on Windows 7 without it) and no Shimcache value: warnings, no records, not an error', () => {
  const r = run();
  assert.equal([r.summary.status, r.summary.errors], ['ok', 0], r.stderrLog);
  assert.equal(r.records.map((x) => x.source), ['shimcache']);
  assert.match(r.stderrLog, /\[warning\] no Amcache\.hve in C:\\Windows\\AppCompat\\Programs: Windows 7 .*RecentFileCache\.bcf/);
  assert.not.match(stdoutLog(r.stage), /run: esentutl/);
  const empty = tempDir('magpie-noshim-');
  writeFileSync(join(empty, 'Registry.json'), JSON.stringify({ [KEY]: { CacheMainSdb: { Kind: 'Binary', Data: [1] } } }));
  const none = run({ fixtureDir: empty, folder: programs({}, false) });
  assert.equal([none.summary.status, none.records.length, outFiles(none.stage)], ['ok', 0, []]);
  assert.match(none.stderrLog, /\[warning\] no value HKLM\\SYSTEM\\CurrentControlSet\\Control\\Session Manager\\AppCompatCache\\AppCompatCache: the Shimcache is written at shutdown/);
  const wrong = tempDir('magpie-noshim-');
  writeFileSync(join(wrong, 'Registry.json'), JSON.stringify({ [KEY]: { AppCompatCache: 'text' } }));
  assert.match(run({ fixtureDir: wrong, folder: programs({}, false) }).stderrLog, /AppCompatCache is String, not binary: not a Shimcache/);
});

test.run();
