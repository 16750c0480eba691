// traffic-capture on Windows: the real step (step.yaml + windows.ps1, composed with the prelude as for
// a host) under real pwsh, with pktmon.exe, netsh.exe and schtasks.exe answered by PowerShell stand-ins
// that print the programs' recorded console text and write the files they write
// (test/fixtures/windows/traffic-capture: README.md there says where each answer comes from). The
// pcapng that "pktmon etl2pcap" writes is a real loopback capture recorded on Linux with dumpcap
// (record-loopback.py): Magpie's session is TCP 127.0.0.5 <-> 127.0.0.9:5985 in it, beside traffic
// that resembles it and must stay. What the step removes is checked with Wireshark's tshark, and the
// blocks it keeps must be byte for byte the blocks of the input.
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { spawn, spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { loadCatalog } from '../lib/catalog.ts';
import { sha256Text } from '../lib/evidence/hash.ts';
import { buildPlan } from '../lib/plan.ts';
import { CaptureRecord } from '../lib/records/schemas.ts';
import { composeScript, invocationLine, parseSummary, RECORD_DEPTH, type StepSummary } from '../lib/script.ts';
import { FIXTURES, pwshOrFail, readJsonl, teamPlaybook, tempDir } from './helpers.ts';

const PWSH = pwshOrFail();
const HERE = join(FIXTURES, 'windows', 'traffic-capture');
const LOOPBACK = join(HERE, 'loopback.pcapng');
const SESSION = '127.0.0.5 127.0.0.9 5985';
/** The session's packets, as tshark sees them. */
const SESSION_FILTER = 'ip.addr==127.0.0.5 && ip.addr==127.0.0.9 && tcp.port==5985 && !(tcp.srcport==5985 && ip.src==127.0.0.5) && !(tcp.dstport==5985 && ip.dst==127.0.0.5)';
const q = (s: string) => `'${s.replace(/'/g, "''")}'`;

interface Call {
  cmd: string;
  args: string[];
}
interface Run {
  summary: StepSummary;
  records: any[];
  stdoutLog: string;
  stderrLog: string;
  files: string[];
  filesDir: string;
  calls: Call[];
}

/** One run of the step (async, so the runs of one test go side by side). */
async function run(o: { params?: Record<string, string>; management?: string; globals?: Record<string, string> } = {}): Promise<Run> {
  const book = teamPlaybook('t', [{ step: 'traffic-capture' }]);
  const plan = buildPlan(loadCatalog([book]), 't', new Map(Object.entries({ Seconds: '1', ...o.params }).map(([k, v]) => [`traffic-capture.${k}`, v])));
  const step = plan.steps[0];
  const script = composeScript(step, 'windows');
  if (!script) throw new Error('traffic-capture has no Windows script');
  const dir = tempDir('magpie-tc-');
  const stage = join(dir, 'stage');
  mkdirSync(stage);
  const callLog = join(dir, 'calls.jsonl');
  writeFileSync(callLog, '');
  const globals = { TcDir: HERE, TcCallLog: callLog, TcPcapng: LOOPBACK, ...o.globals };
  const runner = [
    ...Object.entries(globals).map(([k, v]) => `$global:${k} = ${q(v)}`),
    `. ${q(join(HERE, 'fakes.ps1'))}`,
    invocationLine(script, { params: step.params, stage, depth: RECORD_DEPTH, target: { user: 'CORP\\responder', admin: true }, management: o.management }),
  ].join('\n');
  writeFileSync(join(dir, 'run.ps1'), runner);
  const r = await new Promise<{ status: number | null; stdout: string; stderr: string }>((resolve) => {
    const child = spawn(PWSH, ['-NoProfile', '-NonInteractive', '-File', join(dir, 'run.ps1')], { stdio: ['ignore', 'pipe', 'pipe'], timeout: 120_000 });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (d) => (stdout += d));
    child.stderr.on('data', (d) => (stderr += d));
    child.on('close', (status) => resolve({ status, stdout, stderr }));
  });
  const { summary, rest } = parseSummary(r.stdout);
  if (!summary) throw new Error(`no summary (exit ${r.status}):\n${rest}\n${r.stderr}`);
  const text = (n: string) => (existsSync(join(stage, n)) ? readFileSync(join(stage, n), 'utf8') : '');
  const records = text('records.jsonl') ? readJsonl(join(stage, 'records.jsonl')) : [];
  for (const rec of records) assert.ok(CaptureRecord.safeParse(rec).success, `not a capture record: ${JSON.stringify(rec)}`);
  const filesDir = join(stage, 'files');
  return { summary, records, stdoutLog: text('stdout.log'), stderrLog: text('stderr.log'), files: existsSync(filesDir) ? readdirSync(filesDir).sort() : [], filesDir, calls: readJsonl(callLog) };
}

const verbs = (r: Run) => r.calls.map((c) => `${c.cmd} ${c.cmd === 'schtasks.exe' ? c.args[0] : c.args.slice(0, c.cmd === 'netsh.exe' ? 2 : 1).join(' ')}`);

function tshark(file: string, filter?: string): string[] {
  const r = spawnSync('tshark', ['-r', file, '-T', 'fields', '-e', 'frame.number', ...(filter ? ['-Y', filter] : [])], { encoding: 'utf8' });
  if (r.status !== 0) throw new Error(`tshark failed on ${file}: ${r.stderr}`);
  return r.stdout.split('\n').filter(Boolean);
}

/** pcapng blocks as they are in the file (each with its bytes), reading each section's byte order. */
function blocks(buf: Buffer): { type: number; bytes: Buffer }[] {
  const out: { type: number; bytes: Buffer }[] = [];
  let le = true;
  for (let at = 0; at < buf.length; ) {
    if (buf.readUInt32BE(at) === 0x0a0d0d0a) le = buf.readUInt32LE(at + 8) === 0x1a2b3c4d;
    const len = le ? buf.readUInt32LE(at + 4) : buf.readUInt32BE(at + 4);
    out.push({ type: le ? buf.readUInt32LE(at) : buf.readUInt32BE(at), bytes: buf.subarray(at, at + len) });
    at += len;
  }
  return out;
}

/** The blocks of `input` without the packets whose frame numbers are in `drop`: what the step must write. */
function expectedWithout(input: Buffer, drop: Set<number>): Buffer {
  let frame = 0;
  return Buffer.concat(
    blocks(input)
      .filter((b) => !([2, 3, 6].includes(b.type) && drop.has(++frame)))
      .map((b) => b.bytes),
  );
}

test('pktmon, stopped by time: help, status, filter list, the stop task, start, stop, task deleted, etl2pcap; the session removed from the pcapng and nothing else', async () => {
  const r = await run({ management: SESSION });
  assert.is(r.summary.status, 'ok', `${r.summary.message}\n${r.stderrLog}`);
  assert.is(r.summary.errors, 0, r.stderrLog);
  assert.equal(verbs(r), ['pktmon.exe help', 'pktmon.exe status', 'pktmon.exe filter', 'schtasks.exe /Create', 'pktmon.exe start', 'pktmon.exe stop', 'schtasks.exe /Delete', 'pktmon.exe etl2pcap']);
  const [, , , create, start, , del, conv] = r.calls;
  const etl = join(r.filesDir, 'capture.etl');
  assert.equal(start.args, ['start', '--capture', '--comp', 'nics', '--pkt-size', '0', '--file-name', etl, '--file-size', '400', '--log-mode', 'circular']);
  assert.equal(conv.args, ['etl2pcap', etl, '--out', join(r.filesDir, 'capture-with-session.pcapng')]);
  // The safety net: a SYSTEM task named Magpie-capture-stop-* that checks every minute whether the
  // step's PowerShell still runs and the deadline has not passed, else stops pktmon and deletes
  // itself; the same task deleted when the step ends.
  const arg = (c: Call, name: string) => c.args[c.args.indexOf(name) + 1];
  assert.match(arg(create, '/TN'), /^Magpie-capture-stop-[0-9a-f]{12}$/);
  assert.equal([arg(create, '/SC'), arg(create, '/MO'), arg(create, '/RU')], ['MINUTE', '1', 'SYSTEM']);
  const tr = arg(create, '/TR');
  assert.match(tr, new RegExp(`^C:\\\\Windows\\\\System32\\\\WindowsPowerShell\\\\v1\\.0\\\\powershell\\.exe -NoP -NonI -C "if\\(!\\(Get-Process -Id \\d+ -EA 0\\) -or \\[datetime\\]::UtcNow\\.Ticks -gt \\d+\\)\\{pktmon stop;schtasks /Delete /TN ${arg(create, '/TN')} /F\\}"$`), tr);
  assert.ok(tr.length <= 261, `schtasks /TR takes 261 characters at most: ${tr.length}`);
  assert.equal(del.args, ['/Delete', '/TN', arg(create, '/TN'), '/F']);
  // Every command is in stdout.log before it ran, in the order it ran, with what it answered.
  const runs = r.stdoutLog.split('\n').filter((l) => l.startsWith('run: '));
  assert.equal(runs.map((l) => l.split(' ')[1]), r.calls.map((c) => c.cmd));
  assert.ok(runs[4].startsWith('run: pktmon.exe start --capture --comp nics --pkt-size 0 --file-name '), runs[4]);
  assert.match(r.stdoutLog, /pktmon: Log file: .*capture\.etl \(No events lost\)/);
  assert.match(r.stdoutLog, /pktmon: Packets formatted:   8106/);

  // Only the pcapng is left: no ETL, no unfiltered copy.
  assert.equal(r.files, ['capture.pcapng']);
  const out = join(r.filesDir, 'capture.pcapng');
  const session = new Set(tshark(LOOPBACK, SESSION_FILTER).map(Number));
  assert.is(session.size, 18);
  assert.equal(tshark(out, SESSION_FILTER), []);
  assert.is(tshark(out).length, tshark(LOOPBACK).length - 18);
  // What resembles the session stays: another host on 5985 (10 packets), the responder's own port
  // 5985 to the target's 9999 (10), UDP 5985 both sides and the ICMP replies quoting it (6).
  assert.is(tshark(out, 'tcp.port==5985').length, 20);
  assert.is(tshark(out, 'tcp.port==5985 && ip.addr==127.0.0.7').length, 10);
  assert.is(tshark(out, 'tcp.port==9999').length, 10);
  assert.is(tshark(out, 'udp.port==5985').length, 6);
  assert.ok(readFileSync(out).equals(expectedWithout(readFileSync(LOOPBACK), session)), 'every other block copied byte for byte');

  const [rec] = r.records;
  assert.is(r.records.length, 1);
  assert.equal(
    { file: rec.file, format: rec.format, tool: rec.tool, interfaces: rec.interfaces, filter: rec.filter, stoppedBy: rec.stoppedBy, complete: rec.complete, packets: rec.packets, seconds: rec.seconds, maxBytes: rec.maxBytes, error: rec.error },
    { file: 'capture.pcapng', format: 'pcapng', tool: 'pktmon', interfaces: ['all'], filter: null, stoppedBy: 'time', complete: true, packets: 53, seconds: 1, maxBytes: 200 * 1048576, error: null },
  );
  assert.is(rec.excluded, 'tcp 127.0.0.5 <-> 127.0.0.9 port 5985 (18 packets removed after capture)');
  assert.is(rec.sha256, sha256Text(readFileSync(out)));
  assert.is(rec.size, readFileSync(out).length);
  assert.ok(rec.durationMs >= 1000 && rec.durationMs < 20_000, String(rec.durationMs));
  assert.equal(r.summary.files.map((f) => [f.path, f.sha256]), [['capture.pcapng', rec.sha256]]);
});

test('the size cap: an ETL past MaxMB stops the capture at once (stoppedBy size), long before Seconds', async () => {
  const r = await run({ params: { Seconds: '60', MaxMB: '1' }, globals: { TcEtlBytes: String(1536 * 1024) } });
  assert.is(r.summary.status, 'ok', r.stderrLog);
  const [rec] = r.records;
  assert.equal([rec.stoppedBy, rec.complete, rec.maxBytes, rec.seconds], ['size', true, 1048576, 60]);
  assert.ok(rec.durationMs < 10_000, `stopped after ${rec.durationMs} ms`);
  assert.equal(r.calls.find((c) => c.args[0] === 'start')!.args.slice(-4), ['--file-size', '2', '--log-mode', 'circular']);
  assert.ok(verbs(r).indexOf('pktmon.exe stop') < verbs(r).indexOf('schtasks.exe /Delete'));
});

test('a capture already running belongs to somebody else: refused with what to do, and nothing touched (no task, no start, no stop)', async () => {
  const [r, netsh] = await Promise.all([run({ management: SESSION, globals: { TcStatus: 'running' } }), run({ globals: { TcNoPktmon: '1', TcStatus: 'running' } })]);
  assert.is(r.summary.status, 'failed');
  assert.match(r.summary.message!, /a pktmon capture is already running on this host; it belongs to somebody else, so Magpie neither stopped nor changed it and captured nothing\. Find out whose it is \(pktmon status: .*Log file: +C:\\WINDOWS\\system32\\PktMon\.etl.*\); when it is over, run the step again/);
  assert.equal(verbs(r), ['pktmon.exe help', 'pktmon.exe status']);
  assert.equal([r.records, r.files], [[], []]);

  assert.is(netsh.summary.status, 'failed');
  assert.match(netsh.summary.message!, /a netsh capture is already running on this host; it belongs to somebody else/);
  assert.equal(verbs(netsh), ['netsh.exe trace show']);
});

test('a status in another display language is not guessed at: the start fails on the running capture, which is refused and never stopped', async () => {
  const r = await run({ globals: { TcStatus: 'localized', TcStartBusy: '1' } });
  assert.is(r.summary.status, 'failed');
  assert.match(r.summary.message!, /pktmon did not start the capture \(exit code 1: Monitoraggio pacchetti già avviato\.\)\. If a capture was already running it belongs to somebody else and was left as it is; nothing was captured/);
  assert.equal(verbs(r), ['pktmon.exe help', 'pktmon.exe status', 'pktmon.exe filter', 'schtasks.exe /Create', 'pktmon.exe start', 'schtasks.exe /Delete']);
  assert.equal(r.records, []);
});

test('a host without pktmon: netsh trace (single file, maxSize, the responder left out by a negated filter), its .cab removed, the ETL kept with a warning naming etl2pcapng', async () => {
  const [r, old] = await Promise.all([run({ management: SESSION, globals: { TcNoPktmon: '1' } }), run({ globals: { TcPktmonHelp: 'pktmon-help-1903.txt' } })]);
  assert.is(r.summary.status, 'ok', `${r.summary.message}\n${r.stderrLog}`);
  assert.equal(verbs(r), ['netsh.exe trace show', 'schtasks.exe /Create', 'netsh.exe trace start', 'netsh.exe trace stop', 'schtasks.exe /Delete']);
  const etl = join(r.filesDir, 'capture.etl');
  assert.equal(r.calls[2].args, ['trace', 'start', 'capture=yes', 'report=disabled', 'persistent=no', 'correlation=disabled', 'perfMerge=no', 'fileMode=single', 'overwrite=yes', 'maxSize=200', `traceFile=${etl}`, 'IPv4.Address=!(127.0.0.5)']);
  const create = r.calls[1];
  assert.match(create.args[create.args.indexOf('/TR') + 1], /\{netsh trace stop;schtasks \/Delete \/TN Magpie-capture-stop-[0-9a-f]{12} \/F\}"$/);
  assert.match(r.stdoutLog, /traffic-capture: netsh trace, because pktmon is not on this host/);
  assert.match(r.stdoutLog, /removed capture\.cab/);
  assert.equal(r.files, ['capture.etl']);
  assert.match(r.stderrLog, /\[warning\] traffic-capture: netsh trace writes ETL, which Wireshark does not read: convert capture\.etl on Windows with Microsoft etl2pcapng \(https:\/\/github\.com\/microsoft\/etl2pcapng\)/);
  const [rec] = r.records;
  assert.equal(
    { file: rec.file, format: rec.format, tool: rec.tool, filter: rec.filter, packets: rec.packets, stoppedBy: rec.stoppedBy, complete: rec.complete },
    { file: 'capture.etl', format: 'etl', tool: 'netsh', filter: 'IPv4.Address=!(127.0.0.5)', packets: null, stoppedBy: 'time', complete: true },
  );
  assert.is(rec.excluded, 'every IPv4 packet to or from 127.0.0.5, the responder (netsh trace filters addresses, not connections), the session tcp 127.0.0.5 <-> 127.0.0.9 port 5985 with it');
  assert.is(rec.sha256, sha256Text(readFileSync(etl)));

  // A pktmon older than etl2pcap (Windows 10 1903's help text) is not guessed at either.
  assert.is(old.summary.status, 'ok', old.stderrLog);
  assert.equal(verbs(old).slice(0, 3), ['pktmon.exe help', 'netsh.exe trace show', 'schtasks.exe /Create']);
  assert.match(old.stdoutLog, /netsh trace, because this pktmon has no etl2pcap command/);
});

test('ExcludeManagement false, or no session at all: the pcapng is etl2pcap\'s, unchanged, every packet counted', async () => {
  for (const r of await Promise.all([run({ management: SESSION, params: { ExcludeManagement: 'false' } }), run()])) {
    assert.is(r.summary.status, 'ok', r.stderrLog);
    assert.equal(r.calls.at(-1)!.args, ['etl2pcap', join(r.filesDir, 'capture.etl'), '--out', join(r.filesDir, 'capture.pcapng')]);
    assert.ok(readFileSync(join(r.filesDir, 'capture.pcapng')).equals(readFileSync(LOOPBACK)));
    assert.equal([r.records[0].excluded, r.records[0].packets], [null, 71]);
  }
});

test('a session string that is not RESPONDER TARGET PORT is shown, not used: a warning, nothing removed, the capture still made', async () => {
  const bads = ['10.0.0.5; Remove-Item C:\\ -Recurse 5985', '10.0.0.5 $(whoami) 99999', '10.0.0.5 10.0.0.9', '167772165 10.0.0.9 5985'];
  const runs = await Promise.all(bads.map((management) => run({ management })));
  for (const [n, bad] of bads.entries()) {
    const r = runs[n];
    assert.is(r.summary.status, 'ok', `${bad}: ${r.summary.message}`);
    assert.match(r.stderrLog, /\[warning\] traffic-capture: the session's address is not RESPONDER-ADDRESS TARGET-ADDRESS PORT \(.*\); nothing is left out/, bad);
    assert.ok(readFileSync(join(r.filesDir, 'capture.pcapng')).equals(readFileSync(LOOPBACK)), bad);
    assert.is(r.records[0].excluded, null);
  }
});

test('Interfaces: an adapter pktmon list shows becomes its component id; one it does not show fails before anything starts, naming the ones it shows', async () => {
  const [ok, bad] = await Promise.all([run({ params: { Interfaces: 'Intel(R) Wi-Fi 6 AX201 160MHz,vEthernet (WSL)' } }), run({ params: { Interfaces: 'Ethernet0' } })]);
  assert.is(ok.summary.status, 'ok', ok.stderrLog);
  const start = ok.calls.find((c) => c.args[0] === 'start')!;
  assert.is(start.args[start.args.indexOf('--comp') + 1], '10,121');
  assert.equal(ok.records[0].interfaces, ['Intel(R) Wi-Fi 6 AX201 160MHz', 'vEthernet (WSL)']);

  assert.is(bad.summary.status, 'failed');
  assert.is(
    bad.summary.message,
    "traffic-capture: Interfaces: pktmon list shows no adapter named 'Ethernet0' (it shows: Dell Giga Ethernet; Intel(R) Wi-Fi 6 AX201 160MHz; TAP-Windows Adapter V9; Virtual Machine; vEthernet (WSL)); name the adapter as pktmon list shows it, or leave Interfaces empty for all adapters. Nothing was captured",
  );
  assert.equal(verbs(bad), ['pktmon.exe help', 'pktmon.exe status', 'pktmon.exe list']);
});

test('the capture failing mid-way is still stopped, its task deleted, what it caught converted and recorded (stoppedBy error), and the step fails saying so', async () => {
  const r = await run({ management: SESSION, params: { Seconds: '30' }, globals: { TcSleepThrows: '1' } });
  assert.is(r.summary.status, 'failed');
  assert.match(r.summary.message!, /traffic-capture: the capture failed while running: the session broke while capturing \(test\); the capture was stopped and what it holds is kept as capture\.pcapng/);
  assert.equal(verbs(r).slice(3), ['schtasks.exe /Create', 'pktmon.exe start', 'pktmon.exe stop', 'schtasks.exe /Delete', 'pktmon.exe etl2pcap']);
  const [rec] = r.records;
  assert.equal([rec.stoppedBy, rec.complete, rec.error], ['error', false, 'the capture failed while running: the session broke while capturing (test)']);
  assert.match(rec.excluded, /18 packets removed/);
});

test('etl2pcap failing keeps the ETL, says how to convert it, and says the session is still in it', async () => {
  const r = await run({ management: SESSION, globals: { TcEtl2PcapFail: '1' } });
  assert.is(r.summary.status, 'ok');
  assert.is(r.summary.errors, 1);
  assert.equal(r.files, ['capture.etl']);
  const [rec] = r.records;
  assert.equal([rec.file, rec.format, rec.packets], ['capture.etl', 'etl', null]);
  assert.match(rec.error, /pktmon etl2pcap did not make a pcapng of the capture \(exit code 1: Processing\.\.\. \| Failed to open the log file\..*\); the ETL is kept as capture\.etl: convert it on Windows with pktmon etl2pcap capture\.etl --out capture\.pcapng/);
  assert.is(rec.excluded, 'nothing: tcp 127.0.0.5 <-> 127.0.0.9 port 5985 is in the ETL, which could not be converted to be filtered');
});

test('pktmon filters somebody else set (Defender for Endpoint\'s SenseNdr) are left alone and named in the record', async () => {
  const r = await run({ globals: { TcFilters: 'sensendr' } });
  assert.is(r.summary.status, 'ok', r.stderrLog);
  assert.ok(!r.calls.some((c) => c.args[0] === 'filter' && c.args[1] !== 'list'), 'no filter was added or removed');
  assert.match(r.records[0].filter, /^pktmon filters set before this step: 1 SenseNdr UDP; 2 SenseNdr 01-00-0C-CC-CC-CC; .*; 13 SenseNdr FC$/);
  assert.match(r.stderrLog, /\[warning\] traffic-capture: pktmon has packet filters that somebody else set; only packets they match are captured/);
});

// ---- the pcapng copier across what pktmon and other writers produce --------------------------------

/** One pcapng block in the given byte order: type, body padded to 32 bits, trailing length. */
function block(type: number, body: Buffer, le: boolean): Buffer {
  const pad = (4 - (body.length % 4)) % 4;
  const len = 12 + body.length + pad;
  const b = Buffer.alloc(len);
  const w = (v: number, at: number) => (le ? b.writeUInt32LE(v, at) : b.writeUInt32BE(v, at));
  w(type, 0);
  w(len, 4);
  body.copy(b, 8);
  w(len, len - 4);
  return b;
}

/**
 * The loopback capture rewritten into what other writers make: a big-endian section whose Ethernet
 * frames carry an 802.1Q tag (packets 1-40), then a little-endian section with raw IP (link type
 * 101: packets 41-71, the Ethernet header gone), a simple packet block and a custom block.
 */
function variant(): Buffer {
  const src = readFileSync(LOOPBACK);
  const epbs = blocks(src).filter((b) => b.type === 6).map((b) => b.bytes);
  const u32 = (v: number, le: boolean) => { const x = Buffer.alloc(4); le ? x.writeUInt32LE(v) : x.writeUInt32BE(v); return x; };
  const u16 = (v: number, le: boolean) => { const x = Buffer.alloc(2); le ? x.writeUInt16LE(v) : x.writeUInt16BE(v); return x; };
  const shb = (le: boolean) => block(0x0a0d0d0a, Buffer.concat([u32(0x1a2b3c4d, le), u16(1, le), u16(0, le), Buffer.alloc(8, 0xff)]), le);
  // if_tsresol 9 (nanoseconds), as dumpcap wrote it, then the end of options.
  const idb = (link: number, le: boolean) => block(1, Buffer.concat([u16(link, le), u16(0, le), u32(262144, le), u16(9, le), u16(1, le), Buffer.from([9, 0, 0, 0]), Buffer.alloc(4)]), le);
  const epb = (orig: Buffer, le: boolean, frame: (d: Buffer) => Buffer) => {
    const cap = orig.readUInt32LE(20);
    const data = frame(orig.subarray(28, 28 + cap));
    return block(6, Buffer.concat([u32(0, le), u32(orig.readUInt32LE(12), le), u32(orig.readUInt32LE(16), le), u32(data.length, le), u32(data.length, le), data]), le);
  };
  const tagged = (d: Buffer) => Buffer.concat([d.subarray(0, 12), Buffer.from([0x81, 0x00, 0x00, 0x2a]), d.subarray(12)]);
  const raw = (d: Buffer) => d.subarray(14);
  const parts = [shb(false), idb(1, false), ...epbs.slice(0, 40).map((e) => epb(e, false, tagged))];
  parts.push(shb(true), idb(101, true), ...epbs.slice(40).map((e) => epb(e, true, raw)));
  // A simple packet block (interface 0, raw IP): the DNS query once more.
  const dns = raw(epbs[68].subarray(28, 28 + epbs[68].readUInt32LE(20)));
  parts.push(block(3, Buffer.concat([u32(dns.length, true), dns]), true));
  // A custom block (type 0x00000BAD, private enterprise number 32473 "example"): copied, never read.
  parts.push(block(0x00000bad, Buffer.concat([u32(32473, true), Buffer.from('magpie test custom block')]), true));
  return Buffer.concat(parts);
}

test('both byte orders, 802.1Q tags, raw IP, IPv6, simple packet and custom blocks: the session removed (IPv4 or IPv6), every other block kept byte for byte', async () => {
  const file = join(tempDir('magpie-tc-variant-'), 'variant.pcapng');
  writeFileSync(file, variant());
  // tshark reads the variant as the same traffic: 72 packets (40 of them VLAN-tagged) and the custom
  // block, which it lists as a 73rd frame.
  assert.is(tshark(file).length, 73);
  assert.is(tshark(file, 'vlan.id==42').length, 40);
  const cases: [string, string, number][] = [
    [SESSION, SESSION_FILTER, 18],
    ['::1 ::1 5986', 'ipv6.addr==::1 && tcp.port==5986', 14],
  ];
  const runs = await Promise.all(cases.map(([management]) => run({ management, globals: { TcPcapng: file } })));
  for (const [n, [management, filter, count]] of cases.entries()) {
    const drop = new Set(tshark(file, filter).map(Number));
    assert.is(drop.size, count, management);
    const r = runs[n];
    assert.is(r.summary.status, 'ok', `${management}: ${r.summary.message}\n${r.stderrLog}`);
    const out = join(r.filesDir, 'capture.pcapng');
    assert.equal(tshark(out, filter), [], management);
    assert.is(tshark(out).length, 73 - count, management);
    assert.ok(readFileSync(out).equals(expectedWithout(readFileSync(file), drop)), `${management}: other blocks byte for byte`);
    assert.is(r.records[0].packets, 72 - count);
    assert.match(r.records[0].excluded, new RegExp(`\\(${count} packets removed after capture\\)$`));
  }
});

test.run();
