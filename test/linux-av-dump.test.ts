// av-scan (ClamAV) and memory-dump (gcore) for real on this Debian machine, through the CLI: a
// signature database built here that detects the EICAR test string, files whose names hold spaces,
// colons and newlines, a clamd of our own, a process of our own dumped and its core fetched and
// hashed. Installs Debian's clamav, clamav-daemon and gdb when they are missing (tests never skip).
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { createHash } from 'node:crypto';
import { copyFileSync, existsSync, mkdirSync, readdirSync, readFileSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { DetectionRecord, DumpRecord } from '../lib/records/schemas.ts';
import { cli, pwshOrFail, readJson, readJsonl, ROOT, teamPlaybook, tempDir, waitFor } from './helpers.ts';
import { EICAR, eicarDatabase, ensureLinuxTools } from './linux-tools.ts';

const PWSH = pwshOrFail();
ensureLinuxTools();

const SIGNATURE = 'Magpie.Test.EICAR.UNOFFICIAL'; // ClamAV marks signatures outside its official files
const sha256 = (data: string | Buffer) => createHash('sha256').update(data).digest('hex');
const DB = eicarDatabase(tempDir('magpie-clamdb-'));

// Folders holding EICAR (and the PATHs of symbolic links) go when the tests end: a real
// anti-virus on the machine need not find them.
const cleanup: string[] = [DB];
const eicarDir = (prefix?: string) => {
  const d = tempDir(prefix);
  cleanup.push(d);
  return d;
};
test.after(() => {
  for (const d of cleanup) rmSync(d, { recursive: true, force: true });
});

interface StepRun {
  code: number | null;
  out: string;
  dir: string;
  step: any;
  records: any[];
  stderrLog: string;
  stepDir: string;
}

/** Runs one catalog step through the CLI in a small team playbook. */
function runStep(step: string, params: Record<string, string>, opts: { env?: Record<string, string> } = {}): StepRun {
  const book = teamPlaybook('t', [{ step }]);
  const args = ['run', 't', '--playbooks', book, '--out', tempDir()];
  for (const [k, v] of Object.entries(params)) args.push('--param', `${step}.${k}=${v}`);
  const r = cli(args, { timeoutMs: 600_000, env: opts.env });
  const m = /evidence: (.+)/.exec(r.stdout);
  assert.ok(m, `no evidence folder:\n${r.stdout}\n${r.stderr}`);
  const dir = m![1].trim();
  return fromEvidence(dir, r.code, r.stdout + r.stderr);
}

function fromEvidence(dir: string, code: number | null, out: string): StepRun {
  const manifest = readJson(join(dir, 'manifest.json'));
  const s = manifest.steps[0];
  const stepDir = join(dir, s.dir);
  const file = (n: string) => (existsSync(join(stepDir, n)) ? readFileSync(join(stepDir, n), 'utf8') : '');
  const records = file('records.jsonl') ? readJsonl(join(stepDir, 'records.jsonl')) : [];
  console.log(`    ${s.id}: ${s.status} in ${(s.durationMs / 1000).toFixed(1)} s, ${s.records} records`);
  return { code, out, dir, step: s, records, stderrLog: file('stderr.log'), stepDir };
}

const threats = (r: StepRun) => r.records.filter((x) => x.type === 'threat');
const status = (r: StepRun) => r.records.filter((x) => x.type === 'status');

/** A PATH holding everything of /usr/bin and /bin but the named programs: a host without them. */
function pathWithout(names: string[]): string {
  const dir = tempDir('magpie-path-');
  cleanup.push(dir);
  for (const from of ['/usr/local/bin', '/usr/bin', '/bin', '/usr/sbin', '/sbin']) {
    if (!existsSync(from)) continue;
    for (const n of readdirSync(from)) {
      if (names.includes(n) || existsSync(join(dir, n))) continue;
      symlinkSync(join(from, n), join(dir, n));
    }
  }
  return dir;
}

/** A folder named with a space and a colon holding EICAR and a clean file. */
function infectedFolder(): { root: string; eicar: string; clean: string } {
  const root = join(eicarDir(), 'drop zone: x');
  mkdirSync(root);
  const eicar = join(root, 'eicar: test file.com');
  const clean = join(root, 'clean file.txt');
  writeFileSync(eicar, EICAR);
  writeFileSync(clean, 'nothing to see here\n');
  return { root, eicar, clean };
}

test('av-scan: clamscan with a given database finds EICAR by its exact path and signature, not the clean file', () => {
  const f = infectedFolder();
  const r = runStep('av-scan', { Paths: JSON.stringify([f.root]), DatabasePath: DB });
  assert.is(r.code, 0, r.out);
  assert.is(r.step.status, 'ok');
  const found = threats(r);
  assert.is(found.length, 1, JSON.stringify(r.records));
  const [d] = found;
  assert.is(d.source, 'clamav');
  assert.is(d.threatName, SIGNATURE);
  assert.equal(d.resources, [f.eicar]);
  assert.is(d.path, f.eicar);
  assert.is(d.sha256, sha256(EICAR));
  assert.is(d.size, EICAR.length);
  assert.is(d.severity, 'high');
  assert.is(d.action, 'detected');
  assert.is(d.scanner, 'clamscan');
  assert.ok(Math.abs(Date.parse(d.time) - Date.now()) < 600_000, d.time);
  assert.not.ok(r.records.some((x) => JSON.stringify(x).includes('clean file')));
  const [st] = status(r);
  assert.is(st.status, 'completed');
  assert.is(st.scanner, 'clamscan');
  assert.is(st.database, DB);
  assert.is(st.scannedFiles, 2);
  assert.is(st.infectedFiles, 1);
  for (const rec of r.records) assert.ok(DetectionRecord.safeParse(rec).success, JSON.stringify(rec));
});

test('av-scan: hostile names (newline, carriage return, ": X FOUND", leading dash, not UTF-8) are reported whole; Recursive false stays in the folder', () => {
  const root = join(eicarDir(), 'names: here');
  mkdirSync(join(root, 'sub'), { recursive: true });
  const names = ['new\nline.com', 'cr\rname: Fake.Sig FOUND', '-rf', 'a: b: c.txt', 'sp  ace '];
  for (const n of names) writeFileSync(join(root, n), EICAR);
  const notUtf8 = Buffer.concat([Buffer.from(`${root}/bad`), Buffer.from([0xff, 0xfe]), Buffer.from('.com')]);
  writeFileSync(notUtf8, EICAR);
  writeFileSync(join(root, 'sub', 'deeper.com'), EICAR);

  const r = runStep('av-scan', { Paths: JSON.stringify([root]), DatabasePath: DB });
  assert.is(r.step.status, 'ok', r.out);
  const paths = threats(r).map((d) => d.path).sort();
  const expected = [...names.map((n) => join(root, n)), join(root, 'sub', 'deeper.com')];
  for (const p of expected) assert.ok(paths.includes(p), `${JSON.stringify(p)} in ${JSON.stringify(paths)}`);
  for (const d of threats(r)) assert.is(d.threatName, SIGNATURE);
  for (const d of threats(r).filter((x) => expected.includes(x.path))) assert.is(d.sha256, sha256(EICAR), d.path);
  // The name that is not UTF-8: reported, its exact bytes kept in base64.
  const bad = threats(r).find((d) => d.pathBase64);
  assert.ok(bad, 'the non-UTF-8 name is reported');
  assert.equal(Buffer.from(bad.pathBase64, 'base64'), notUtf8);
  assert.is(threats(r).length, expected.length + 1);

  const flat = runStep('av-scan', { Paths: JSON.stringify([root]), DatabasePath: DB, Recursive: 'false' });
  assert.not.ok(threats(flat).some((d) => d.path.includes('/sub/')));
  assert.is(threats(flat).length, names.length + 1);
});

test('av-scan: a path that does not exist fails the step before any scan, naming the path', () => {
  const f = infectedFolder();
  const missing = join(tempDir(), 'not here: at all');
  const r = runStep('av-scan', { Paths: JSON.stringify([f.root, missing]), DatabasePath: DB });
  assert.is(r.code, 1);
  assert.is(r.step.status, 'failed');
  assert.ok(r.step.reason.includes(`path does not exist: ${missing}`), r.step.reason);
  assert.is(r.records.length, 0, 'nothing was scanned');
});

test('av-scan: without a signature database the step says so and what to do; without ClamAV, what to install', () => {
  const f = infectedFolder();
  // A clamd.conf whose socket nobody listens on: a clamd on this machine cannot stand in for the database.
  const dead = tempDir();
  writeFileSync(join(dead, 'clamd.conf'), `LocalSocket ${join(dead, 'nobody.sock')}\n`);
  const empty = tempDir('magpie-emptydb-');
  const given = runStep('av-scan', { Paths: JSON.stringify([f.root]), DatabasePath: empty, ClamdConfig: join(dead, 'clamd.conf') });
  assert.is(given.code, 0, given.out);
  assert.is(given.step.status, 'ok');
  assert.is(threats(given).length, 0);
  const [st] = status(given);
  assert.is(st.status, 'skipped');
  assert.match(st.reason, new RegExp(`DatabasePath ${empty} holds no signature files`));
  assert.match(given.stderrLog, /\[warning\] av-scan skipped: DatabasePath .* holds no signature files .*main\.cvd, daily\.cvd/);

  // The host's own database folders: what the step says must match what is there.
  const sig = /\.(cvd|cld|cud|hdb|hsb|ndb|ldb|mdb|msb|cdb|pdb|gdb|wdb|cbc|yara?|idb|imp|crb|cat|hdu|hsu|mdu|msu|ndu|ldu)$/i;
  const hasDb = ['/var/lib/clamav', '/var/clamav', '/usr/local/share/clamav'].some((d) => existsSync(d) && readdirSync(d).some((n) => sig.test(n)));
  const host = runStep('av-scan', { Paths: JSON.stringify([f.root]), ClamdConfig: join(dead, 'clamd.conf') });
  assert.is(host.step.status, 'ok', host.out);
  if (hasDb) {
    assert.is(status(host)[0].status, 'completed');
  } else {
    const [s] = status(host);
    assert.is(s.status, 'skipped');
    assert.match(s.reason, /ClamAV has no signature database: no main\/daily\/bytecode \.cvd, \.cld or \.cud .* in .*\/var\/lib\/clamav.*run freshclam/);
    assert.match(host.stderrLog, /did not answer/);
    assert.match(host.stderrLog, /av-scan skipped: ClamAV has no signature database/);
  }

  const none = runStep('av-scan', { Paths: JSON.stringify([f.root]), DatabasePath: DB }, { env: { PATH: pathWithout(['clamscan', 'clamdscan']), MAGPIE_PWSH: PWSH } });
  assert.is(none.code, 0, none.out);
  const [n] = status(none);
  assert.is(n.status, 'skipped');
  assert.match(n.reason, /ClamAV is not installed on this host .*apt-get install clamav/);
  assert.match(none.stderrLog, /av-scan skipped: ClamAV is not installed/);
  for (const rec of [...given.records, ...host.records, ...none.records]) assert.ok(DetectionRecord.safeParse(rec).success, JSON.stringify(rec));
});

test('av-scan: a clamd that answers is used through clamdscan (its own database, descriptors passed)', async () => {
  const f = infectedFolder();
  const dir = tempDir('magpie-clamd-');
  const conf = join(dir, 'clamd.conf');
  writeFileSync(conf, [`LocalSocket ${join(dir, 'clamd.sock')}`, `DatabaseDirectory ${DB}`, 'Foreground yes', `LogFile ${join(dir, 'clamd.log')}`, ''].join('\n'));
  const clamd = spawn('/usr/sbin/clamd', ['-c', conf], { stdio: 'ignore' });
  try {
    await waitFor(() => spawnSync('clamdscan', ['--ping', '1', `--config-file=${conf}`], { encoding: 'utf8' }).status === 0, 60_000, 'clamd to answer');
    const r = runStep('av-scan', { Paths: JSON.stringify([f.root]), ClamdConfig: conf });
    assert.is(r.code, 0, r.out);
    const [d] = threats(r);
    assert.is(threats(r).length, 1, JSON.stringify(r.records));
    assert.is(d.path, f.eicar);
    assert.is(d.threatName, SIGNATURE);
    assert.is(d.scanner, 'clamdscan');
    assert.is(d.sha256, sha256(EICAR));
    const [st] = status(r);
    assert.is(st.scanner, 'clamdscan');
    assert.is(st.clamdConfig, conf);
    assert.is(st.infectedFiles, 1);
    // Not recursive: clamd always recurses, so the step hands it the folder's own files.
    mkdirSync(join(f.root, 'sub'));
    writeFileSync(join(f.root, 'sub', 'deeper.com'), EICAR);
    const flat = runStep('av-scan', { Paths: JSON.stringify([f.root]), ClamdConfig: conf, Recursive: 'false' });
    assert.equal(threats(flat).map((x) => x.path), [f.eicar]);
  } finally {
    clamd.kill('SIGKILL');
  }
});

/** A copy of /bin/sleep under `name` (its comm), started for 300 s. */
function sleeper(name: string): ChildProcess {
  const exe = join(tempDir('magpie-dumpee-'), name);
  copyFileSync('/bin/sleep', exe);
  spawnSync('chmod', ['755', exe]);
  return spawn(exe, ['300'], { stdio: 'ignore' });
}

test('memory-dump: gcore cores of a process chosen by PID and one chosen by exact name, hashed on the target and fetched', async () => {
  const a = sleeper('mgp-dump-a');
  const b = sleeper('mgp-dump-b');
  try {
    await waitFor(() => existsSync(`/proc/${a.pid}/exe`) && existsSync(`/proc/${b.pid}/exe`), 10_000, 'the processes to start');
    // 'mgp-dump' is a prefix of both names: exact names only.
    const r = runStep('memory-dump', { Pids: String(a.pid), Names: 'mgp-dump-b,mgp-dump' });
    assert.is(r.step.status, 'ok', `${r.step.reason} (memory-dump needs root)`);
    assert.is(r.code, 0, r.out);
    assert.is(r.records.length, 2, JSON.stringify(r.records));
    const manifest = readJson(join(r.dir, 'manifest.json'));
    for (const [child, name] of [[a, 'mgp-dump-a'], [b, 'mgp-dump-b']] as const) {
      const rec = r.records.find((x) => x.pid === child.pid);
      assert.ok(rec, `a dump of ${name}`);
      assert.ok(DumpRecord.safeParse(rec).success);
      assert.is(rec.name, name);
      assert.is(rec.file, `core-${name}-${child.pid}`);
      assert.ok(rec.path.endsWith(`/${name}`), rec.path);
      assert.is(rec.cmdline, `${rec.path} 300`);
      assert.is(rec.complete, true);
      assert.is(rec.tool, 'gcore');
      const core = join(r.stepDir, 'files', rec.file);
      assert.ok(existsSync(core), `${core} fetched`);
      const bytes = readFileSync(core);
      assert.is(bytes.length, rec.size);
      assert.is(sha256(bytes), rec.sha256);
      const entry = manifest.files.find((x: any) => x.path === `${r.step.dir}/files/${rec.file}`);
      assert.ok(entry, 'the core is in the manifest');
      assert.is(entry.sha256, rec.sha256);
      assert.is(entry.targetSha256, rec.sha256);
      // ELF, e_type 4 = ET_CORE.
      assert.equal([...bytes.subarray(0, 4)], [0x7f, 0x45, 0x4c, 0x46]);
      assert.is(bytes.readUInt16LE(16), 4);
      const described = spawnSync('file', ['-b', core], { encoding: 'utf8' });
      if (described.status === 0) assert.match(described.stdout, /core file/);
      // The process runs on after its dump.
      assert.match(readFileSync(`/proc/${child.pid}/status`, 'utf8'), /State:\s+S/);
    }
    assert.match(r.stderrLog, /no process named mgp-dump \(/);
  } finally {
    a.kill('SIGKILL');
    b.kill('SIGKILL');
  }
});

test('memory-dump: a dump that would not fit leaves the process out, naming what it needs and what is free', async () => {
  // The evidence folder on a 64 MB tmpfs in a mount namespace of its own (nothing else sees it);
  // what the run produced is copied out before the namespace goes.
  const c = sleeper('mgp-dump-c');
  const mnt = tempDir('magpie-small-');
  const keep = tempDir('magpie-small-out-');
  try {
    await waitFor(() => existsSync(`/proc/${c.pid}/exe`), 10_000, 'the process to start');
    const book = teamPlaybook('t', [{ step: 'memory-dump' }]);
    const script = 'mount -t tmpfs -o size=64m magpie-small "$1" || exit 97; "$2" "$3" run t --playbooks "$4" --out "$1/out" --param "memory-dump.Pids=$5"; rc=$?; cp -a "$1/out" "$6/"; exit $rc';
    const r = spawnSync('unshare', ['-m', '--', '/bin/sh', '-c', script, 'sh', mnt, process.execPath, join(ROOT, 'bin', 'magpie.js'), book, String(c.pid), keep], {
      encoding: 'utf8',
      env: { ...process.env, NO_COLOR: '1' },
      timeout: 600_000,
    });
    assert.not.equal(r.status, 97, `this test mounts a small tmpfs in a private mount namespace (unshare -m), which needs root with CAP_SYS_ADMIN: ${r.stderr}`);
    const m = /evidence: (.+)/.exec(r.stdout);
    assert.ok(m, `${r.stdout}\n${r.stderr}`);
    const dir = join(keep, 'out', m![1].trim().slice(join(mnt, 'out').length));
    const run = fromEvidence(dir, r.status, r.stdout + r.stderr);
    assert.is(run.code, 0, run.out);
    assert.is(run.records.length, 0);
    assert.match(run.stderrLog, new RegExp(`not enough free space in the file system of .* for every dump: they need \\d+ MB .* \\d+ MB are free`));
    assert.match(run.stderrLog, new RegExp(`pid ${c.pid} \\(mgp-dump-c\\) not dumped: it needs 25\\d MB .*, \\d+ MB are free`));
    assert.equal(readdirSync(join(run.stepDir)).includes('files') ? readdirSync(join(run.stepDir, 'files')) : [], []);
  } finally {
    c.kill('SIGKILL');
    rmSync(keep, { recursive: true, force: true });
  }
});

test('memory-dump: a dump past DumpTimeout is stopped, the process it left stopped runs again, the partial core is kept and said to be', async () => {
  // A gcore that hangs the way a stuck debugger would: part of a core written, the process stopped.
  const fake = tempDir('magpie-fake-gcore-');
  cleanup.push(fake);
  writeFileSync(join(fake, 'gcore'), '#!/bin/sh\n# -o PREFIX PID\nprintf "partial core" > "$2.$3"\nkill -STOP "$3"\nexec sleep 300\n', { mode: 0o755 });
  const d = sleeper('mgp-dump-d');
  try {
    await waitFor(() => existsSync(`/proc/${d.pid}/exe`), 10_000, 'the process to start');
    const t0 = Date.now();
    const r = runStep('memory-dump', { Pids: String(d.pid), DumpTimeout: '2' }, { env: { PATH: `${fake}:${process.env.PATH}` } });
    assert.ok(Date.now() - t0 < 60_000);
    assert.is(r.step.status, 'ok', r.step.reason);
    assert.is(r.step.errors, 1, 'the incomplete dump is an error of the step');
    const [rec] = r.records;
    assert.is(rec.file, `core-mgp-dump-d-${d.pid}.partial`);
    assert.is(rec.complete, false);
    assert.is(rec.error, 'gcore stopped after 2 s');
    assert.is(readFileSync(join(r.stepDir, 'files', rec.file), 'utf8'), 'partial core');
    assert.is(rec.sha256, sha256('partial core'));
    assert.match(r.stderrLog, new RegExp(`pid ${d.pid} was left stopped by the interrupted dump and was sent SIGCONT`));
    assert.match(readFileSync(`/proc/${d.pid}/status`, 'utf8'), /State:\s+S/, 'the process runs again');
    const stuck = readdirSync('/proc').filter((p) => /^\d+$/.test(p)).filter((p) => {
      try {
        return readFileSync(`/proc/${p}/cmdline`, 'utf8') === 'sleep\u0000300\u0000' && readFileSync(`/proc/${p}/environ`, 'utf8').includes(fake);
      } catch {
        return false;
      }
    });
    assert.equal(stuck, [], 'the stuck gcore was stopped with its children');
  } finally {
    d.kill('SIGKILL');
  }
});

test('memory-dump: without gcore the step says what to install; it never picks Magpie itself or PID 1 by name', () => {
  const r = runStep('memory-dump', { Pids: '1' }, { env: { PATH: pathWithout(['gcore', 'gdb']), MAGPIE_PWSH: PWSH } });
  assert.is(r.code, 0, r.out);
  assert.is(r.records.length, 0);
  assert.match(r.stderrLog, /memory-dump skipped: gcore is not installed \(it comes with gdb\); install it with: apt-get install gdb/);

  // pwsh is the comm of Magpie's own PowerShell (and of other helpers' on a busy machine: those
  // may be dumped; Magpie's own must not be), and init's name is whatever PID 1 runs.
  const init = readFileSync('/proc/1/comm', 'utf8').trim();
  const named = runStep('memory-dump', { Names: JSON.stringify([init]) });
  assert.is(named.step.status, 'ok', named.out);
  assert.not.ok(named.records.some((x) => x.pid === 1), 'PID 1 is dumped only when asked by PID');
});

test.run();
