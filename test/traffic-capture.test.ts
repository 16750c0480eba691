// traffic-capture (Linux) for real: tcpdump captures loopback traffic this test makes while the
// step runs — over SSH against the real sshd, whose own connection must be absent — and triage reads
// the capture with tshark and finds the beacon, the port-445 scan and the generated DNS name. An
// ordinary capture (package downloads, ordinary lookups) gives nothing at high; the size cap holds.
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { spawnSync } from 'node:child_process';
import { readdirSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { verifyEvidence } from '../lib/evidence/verify.ts';
import { CaptureRecord } from '../lib/records/schemas.ts';
import { beaconScore } from '../lib/traffic/beacon.ts';
import { nameShape } from '../lib/traffic/dns-name.ts';
import { cli, cliSpawn, pwshOrFail, readJson, readJsonl, teamPlaybook, tempDir, waitFor } from './helpers.ts';
import { startSshd, type Sshd } from './sshd.ts';
import { beacon, beaconListener, dnsStub, ensureCaptureTools, packageServer, smbScan } from './traffic.ts';

pwshOrFail();
ensureCaptureTools();

const BOOK = teamPlaybook('cap', [{ step: 'traffic-capture' }]);
const GENERATED = 'xj4k2qz9vbw7rt1mq8.top';
let sshd: Sshd;
let knownHosts: string;
let dns: Awaited<ReturnType<typeof dnsStub>>;

test.before(async () => {
  sshd = await startSshd();
  knownHosts = join(tempDir(), 'known_hosts');
  writeFileSync(knownHosts, sshd.knownHostsLine('ed25519') + '\n');
  dns = await dnsStub();
});
test.after(async () => {
  await sshd?.stop();
  dns?.socket.close();
});

const tcpdumpRunning = () => spawnSync('pgrep', ['-f', 'tcpdump -i any'], { encoding: 'utf8' }).status === 0;

/** Starts the capture step through the CLI, waits until tcpdump runs, runs `traffic`, returns the evidence folder. */
async function capture(args: string[], traffic: () => Promise<unknown>): Promise<string> {
  const out = tempDir();
  const p = cliSpawn(['run', 'cap', '--playbooks', BOOK, '--out', out, ...args]);
  let ended = false;
  void p.done.then(() => (ended = true));
  await waitFor(() => tcpdumpRunning() || ended, 60_000, 'tcpdump to start');
  assert.ok(!ended, `the run ended before the capture began:\n${p.output().stdout}\n${p.output().stderr}`);
  await new Promise((r) => setTimeout(r, 500));
  await traffic();
  const r = await p.done;
  assert.is(r.code, 0, r.stderr + r.stdout);
  const m = /evidence: (\S+)/.exec(r.stdout);
  assert.ok(m, r.stdout);
  return m![1];
}

function triage(dir: string): { findings: any[]; problems: string[]; out: string } {
  const r = cli(['triage', dir], { timeoutMs: 300_000 });
  assert.is(r.code, 0, r.stderr + r.stdout);
  const [stamp] = readdirSync(join(dir, 'triage'));
  const f = readJson(join(dir, 'triage', stamp, 'findings.json'));
  return { findings: f.findings, problems: f.problems, out: join(dir, 'triage', stamp) };
}

const captureOf = (dir: string) => {
  const [rec] = readJsonl(join(dir, 'steps', '01-traffic-capture', 'records.jsonl'));
  assert.ok(CaptureRecord.safeParse(rec).success, JSON.stringify(rec));
  return { rec, file: join(dir, 'steps', '01-traffic-capture', 'files', rec.file) };
};
const tsharkCount = (file: string, filter: string) => spawnSync('tshark', ['-r', file, '-n', '-Y', filter], { encoding: 'utf8' }).stdout.split('\n').filter(Boolean).length;

test('over SSH: a beacon, a 445 scan and a generated name are captured and found; the session itself is not in the capture', async () => {
  const listener = await beaconListener();
  try {
    const dir = await capture(
      ['--target', `ssh://root@127.0.0.1:${sshd.port}`, '-i', sshd.userKey, '--known-hosts', knownHosts, '--param', 'traffic-capture.Seconds=16'],
      async () => {
        await dns.lookup(GENERATED);
        await smbScan(Array.from({ length: 30 }, (_, i) => `127.0.0.${10 + i}`));
        await beacon(listener.port, 12);
      },
    );
    const { rec, file } = captureOf(dir);
    assert.is(rec.tool, 'tcpdump');
    assert.is(rec.stoppedBy, 'time');
    assert.ok(rec.complete);
    assert.match(rec.excluded, new RegExp(`127\\.0\\.0\\.1 <-> 127\\.0\\.0\\.1 port ${sshd.port}`));
    assert.is(tsharkCount(file, `tcp.port == ${sshd.port}`), 0, 'the SSH session is not in the capture');
    assert.ok(tsharkCount(file, `tcp.port == ${listener.port}`) >= 12 * 5, 'the beacon is');
    assert.ok((await verifyEvidence(dir)).ok);

    const { findings, problems, out } = triage(dir);
    assert.equal(problems, []);
    const b = findings.find((f: any) => f.rule.id === 'magpie-traffic-beacon');
    assert.ok(b, `beacon found: ${findings.map((f: any) => f.rule.id).join(', ')}`);
    assert.is(b.record.dstPort, listener.port);
    assert.ok(b.record.intervalSeconds > 0.85 && b.record.intervalSeconds < 1.15, `interval ${b.record.intervalSeconds}`);
    assert.ok(b.record.connections >= 10);
    assert.ok(b.record.firstFrame >= 1 && b.record.lastFrame > b.record.firstFrame);
    assert.match(b.location.file, /^triage\/[^/]+\/traffic\/01-traffic-capture\/capture\.pcap\.beacon\.jsonl$/);
    const scan = findings.find((f: any) => f.rule.id === 'magpie-traffic-port-scan');
    assert.ok(scan, 'scan found');
    assert.is(scan.group.distinct, 30);
    assert.is(scan.group.by.dstPort, 445);
    const name = findings.find((f: any) => f.rule.id === 'magpie-dns-generated-name');
    assert.ok(name, 'generated name found');
    assert.is(name.record.query, GENERATED);
    assert.is(name.record.rcode, 'NXDomain');
    // The report heads each by what it is about and says where in the capture to look.
    const html = readFileSync(join(out, 'report.html'), 'utf8');
    assert.match(html, new RegExp(`127\\.0\\.0\\.1:${listener.port}`));
    assert.match(html, /frames \d+–\d+ of steps\/01-traffic-capture\/files\/capture\.pcap/);
    assert.ok(html.includes(GENERATED), 'the generated name heads its finding');
    // The triage folder, its derived records included, is what verify accepts.
    assert.ok((await verifyEvidence(dir)).ok);
    assert.is(spawnSync('sha256sum', ['-c', '--quiet', 'SHA256SUMS'], { cwd: out }).status, 0);
  } finally {
    listener.server.close();
  }
});

test('ordinary traffic (package downloads, ordinary lookups) gives nothing at high', async () => {
  const pkg = await packageServer();
  try {
    const dir = await capture(['--param', 'traffic-capture.Seconds=6'], async () => {
      for (const n of ['deb.debian.org', 'security.debian.org']) await dns.lookup(n);
      for (const n of ['libc6', 'openssl', 'curl']) assert.is(await pkg.download(n), 2 * 1024 * 1024);
    });
    const { findings, problems } = triage(dir);
    assert.equal(problems, []);
    const loud = findings.filter((f: any) => ['high', 'critical'].includes(f.rule.level));
    assert.equal(loud.map((f: any) => f.rule.id), []);
    // The downloads were read: flows with their Host header.
    const [stamp] = readdirSync(join(dir, 'triage'));
    const flows = readJsonl(join(dir, 'triage', stamp, 'traffic', '01-traffic-capture', 'capture.pcap.flow.jsonl'));
    assert.is(flows.filter((f: any) => f.httpHost === 'deb.debian.org' && f.dstPort === pkg.port).length, 3);
  } finally {
    pkg.server.close();
  }
});

test('the size cap holds: the capture stops at MaxMB, long before Seconds', async () => {
  const pkg = await packageServer(4 * 1024 * 1024);
  try {
    let stop = false;
    const started = Date.now();
    const dir = await capture(['--param', 'traffic-capture.Seconds=60', '--param', 'traffic-capture.MaxMB=1'], async () => {
      const load = (async () => {
        while (!stop) await pkg.download('big').catch(() => 0);
      })();
      await waitFor(() => !tcpdumpRunning(), 50_000, 'the capture to stop at its size cap');
      stop = true;
      await load;
    });
    const { rec, file } = captureOf(dir);
    assert.is(rec.stoppedBy, 'size');
    assert.ok(statSync(file).size <= 1024 * 1024, `capture ${statSync(file).size} bytes`);
    assert.ok(statSync(file).size > 512 * 1024);
    assert.ok(Date.now() - started < 45_000, 'stopped long before its 60 seconds');
    assert.ok(rec.packets > 0);
  } finally {
    pkg.server.close();
  }
});

test('dumpcap where tcpdump is missing (Tool=dumpcap): pcapng, its own bounds, triaged the same way', async () => {
  const listener = await beaconListener();
  try {
    const out = tempDir();
    const p = cliSpawn(['run', 'cap', '--playbooks', BOOK, '--out', out, '--param', 'traffic-capture.Tool=dumpcap', '--param', 'traffic-capture.Seconds=5']);
    await waitFor(() => spawnSync('pgrep', ['-f', 'dumpcap -i any']).status === 0, 60_000, 'dumpcap to start');
    await beacon(listener.port, 3, 200, 10);
    const r = await p.done;
    assert.is(r.code, 0, r.stderr + r.stdout);
    const dir = /evidence: (\S+)/.exec(r.stdout)![1];
    const { rec, file } = captureOf(dir);
    assert.equal([rec.tool, rec.format, rec.file, rec.stoppedBy], ['dumpcap', 'pcapng', 'capture.pcapng', 'time']);
    assert.ok(tsharkCount(file, `tcp.port == ${listener.port}`) >= 3 * 5);
    const { problems } = triage(dir);
    assert.equal(problems, []);
  } finally {
    listener.server.close();
  }
});

test('magpie import pcap: a capture taken by hand is triaged the same way', async () => {
  const file = join(tempDir(), 'by-hand.pcap');
  const listener = await beaconListener();
  try {
    const p = (await import('node:child_process')).spawn('tcpdump', ['-i', 'lo', '-n', '-U', '-w', file, `tcp port ${listener.port}`], { stdio: 'ignore' });
    await waitFor(() => spawnSync('pgrep', ['-f', 'tcpdump -i lo']).status === 0, 20_000, 'tcpdump');
    await new Promise((r) => setTimeout(r, 1000));
    await beacon(listener.port, 14, 300, 10);
    p.kill('SIGINT');
    await new Promise((r) => p.once('close', r));
  } finally {
    listener.server.close();
  }
  const out = tempDir();
  const r = cli(['import', 'pcap', file, '--host', 'ws-17', '--out', out]);
  assert.is(r.code, 0, r.stderr + r.stdout);
  const dir = /evidence: (\S+)/.exec(r.stdout)?.[1] ?? readdirSync(join(out, 'adhoc', 'ws-17')).map((s) => join(out, 'adhoc', 'ws-17', s))[0];
  const { findings, out: tri } = triage(dir);
  const b = findings.find((f: any) => f.rule.id === 'magpie-traffic-beacon');
  assert.ok(b, `${findings.map((f: any) => f.rule.id).join(', ')}: ${readdirSync(join(tri, 'traffic'), { recursive: true }).join(', ')}`);
  assert.ok(Math.abs(b.record.intervalSeconds - 0.3) < 0.06, String(b.record.intervalSeconds));
  // Not a capture at all: a clear error naming the file.
  const bad = join(tempDir(), 'notes.etl');
  writeFileSync(bad, 'not a capture');
  const e = cli(['import', 'pcap', bad, '--host', 'ws-17', '--out', tempDir()]);
  assert.is(e.code, 2);
  assert.match(e.stderr, /notes\.etl.*not a pcap or pcapng capture.*etl2pcapng/s);
});

test('beacon score: a timer scores high, random gaps and one burst score low', () => {
  const regular = Array.from({ length: 30 }, (_, i) => i * 60 + (i % 3) - 1);
  const s = beaconScore(regular, regular.map(() => 310), 1800)!;
  assert.ok(s.beaconScore > 0.9, JSON.stringify(s));
  assert.ok(Math.abs(s.intervalSeconds - 60) < 2);
  let t = 0;
  const random = Array.from({ length: 30 }, (_, i) => (t += ((i * 7919) % 97) + 1));
  assert.ok(beaconScore(random, random.map((_, i) => 100 + ((i * 131) % 900)), t)!.beaconScore < 0.7);
  const burst = Array.from({ length: 30 }, (_, i) => i * 0.1);
  assert.ok(beaconScore(burst, burst.map(() => 50), 600)!.beaconScore < 0.1, 'a burst in a long capture is not a beacon');
  assert.is(beaconScore([1, 2, 3], [1, 1, 1], 10), undefined);
});

test('DNS name shape: entropy and length of the longest label, and the TLD', () => {
  assert.equal(nameShape('www.example.com'), { tld: 'com', longestLabel: 7, entropy: 2.52 });
  const g = nameShape(GENERATED);
  assert.is(g.tld, 'top');
  assert.ok(g.entropy > 3.5 && g.longestLabel === 18, JSON.stringify(g));
  assert.is(nameShape('localhost').tld, '');
});

test.run();
