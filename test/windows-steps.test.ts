// The Windows step scripts, run by the real runner under real pwsh, with Windows-only commands
// answered from recorded output of a real-shaped infected workstation (test/fixtures/windows).
// The workstation is in China Standard Time (UTC+8) and pwsh runs in that zone, whatever this
// machine's zone is: times the host records as local text must come out as the right UTC instant.
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { join } from 'node:path';
import { createHash } from 'node:crypto';
import { collectRecordedWindowsHost, pwshOrFail, readJson, readJsonl } from './helpers.ts';

pwshOrFail();

let dir = '';
test.before(async () => {
  dir = await collectRecordedWindowsHost('infected');
});

test('every Windows step of triage runs ok and says which script ran', () => {
  const m = readJson(join(dir, 'manifest.json'));
  assert.equal(m.steps.map((s: any) => [s.id, s.status, s.os]), [['host-info', 'ok', 'windows'], ['network', 'ok', 'windows'], ['processes', 'ok', 'windows'], ['autoruns', 'ok', 'windows'], ['defender', 'ok', 'windows']]);
  assert.match(m.target.startupScript, /startup\.ps1$/, 'the stand-in is recorded in the manifest');
});

test('host-info: CIM facts become the host record with UTC times, in the recorded host\'s zone', () => {
  const [h] = readJsonl(join(dir, 'steps', '01-host-info', 'records.jsonl'));
  assert.is(h.hostname, 'WS-FIN-042');
  assert.is(h.fqdn, 'ws-fin-042.corp.example.com');
  assert.is(h.osName, 'Microsoft Windows 10 Enterprise');
  assert.is(h.build, '19045');
  assert.is(h.bootTime, '2025-11-26T00:00:00.000Z');
  assert.equal([h.timezone, h.utcOffsetMinutes], ['Asia/Shanghai', 480], 'the step ran in the host\'s zone (China Standard Time)');
  assert.is(h.memoryBytes, 17009741824);
  assert.equal(h.ipAddresses, ['10.20.30.42', 'fe80::1c2d:3e4f:5a6b:7c8d'], 'addresses alone, IPv6 included, no adapter text glued on');
  assert.equal(h.adapters.map((a: any) => [a.description, a.ipAddresses]), [['Intel(R) Ethernet Connection (13) I219-LM', ['10.20.30.42', 'fe80::1c2d:3e4f:5a6b:7c8d']]]);
});

test('processes: parents, owners, hashes (lower-case), Authenticode status and signer', () => {
  const procs = readJsonl(join(dir, 'steps', '03-processes', 'records.jsonl'));
  assert.is(procs.length, 20);
  const by = (pid: number) => procs.find((p) => p.pid === pid);
  const worm = by(2300);
  assert.equal(
    { name: worm.name, ppid: worm.ppid, path: worm.path, sha256: worm.sha256, status: worm.signatureStatus, signed: worm.signed, user: worm.user, cmd: worm.commandLine },
    { name: 'mssecsvc.exe', ppid: 640, path: 'C:\\WINDOWS\\mssecsvc.exe', sha256: '24d004a104d4d54034dbcffc2a4b19a11f39008a575aa614ea04703480b1022c', status: 'NotSigned', signed: false, user: 'NT AUTHORITY\\SYSTEM', cmd: 'C:\\WINDOWS\\mssecsvc.exe -m security' },
  );
  assert.is(worm.startTime, '2025-11-26T05:00:00.000Z');
  assert.is(by(660).signatureStatus, 'Valid');
  assert.is(by(660).signed, true);
  assert.match(by(660).signer, /^CN=Microsoft Windows,/);
  assert.is(by(2400).signatureStatus, 'HashMismatch');
  assert.is(by(2400).signed, false);
  assert.is(by(1200).user, 'CORP\\jdoe');
  assert.is(by(0).path, null);
  assert.is(by(0).sha256, null);
  assert.is(by(0).startTime, null);
  // Windows paths are case-insensitive: system32 and System32 are one image, hashed once.
  assert.is(by(800).sha256, by(912).sha256);
  assert.ok(by(800).sha256);
  // MD5 beside SHA-256 (Get-FileHash -Algorithm MD5, lower-case), for VirusTotal and MD5-only IOC lists.
  assert.is(worm.md5, createHash('md5').update(`magpie fixture ${worm.path.toLowerCase()}`).digest('hex'));
  assert.is(by(0).md5, null);
  assert.ok(procs.filter((p) => p.path && p.sha256).every((p) => /^[0-9a-f]{32}$/.test(p.md5)), 'every hashed image has its MD5');
  // CPU time from Win32_Process's kernel and user time (100 ns units).
  assert.is(by(3500).cpuSeconds, 9999.99);
});

test('network: states by name, owning process joined, worm fan-out to 445 visible', () => {
  const conns = readJsonl(join(dir, 'steps', '02-network', 'records.jsonl'));
  const syn445 = conns.filter((c) => c.state === 'SynSent' && c.remotePort === 445);
  assert.is(syn445.length, 64);
  assert.ok(syn445.every((c) => c.pid === 2300 && c.processName === 'mssecsvc.exe'), 'named as the processes step names it');
  assert.ok(conns.some((c) => c.state === 'Listen' && c.localPort === 445 && c.pid === 4 && c.processName === 'System'));
  assert.ok(conns.some((c) => c.localAddress === 'fe80::1c2d:3e4f:5a6b:7c8d%12' && c.state === 'TimeWait'));
  const udp = conns.filter((c) => c.protocol === 'udp');
  assert.is(udp.length, 3);
  assert.ok(udp.every((c) => c.remoteAddress === null && c.state === null));
  assert.match(conns[0].createdTime, /^2025-11-26T00:00:30\.000Z$/);
});

test('autoruns: Run keys of the machine and each user hive, Winlogon, enabled services, task actions; images checked once', () => {
  const a = readJsonl(join(dir, 'steps', '04-autoruns', 'records.jsonl'));
  const by = (entry: string) => a.find((r) => r.entry === entry);
  assert.is(by('SecurityHealth').location, 'HKLM\\SOFTWARE\\Microsoft\\Windows\\CurrentVersion\\Run');
  assert.is(by('SecurityHealth').imagePath, 'C:\\Windows\\system32\\SecurityHealthSystray.exe');
  assert.is(by('SecurityHealth').signed, true);
  assert.is(by('WindowsUpdater').location, 'HKU\\S-1-5-21-1004336348-1177238915-682003330-1104\\SOFTWARE\\Microsoft\\Windows\\CurrentVersion\\Run');
  assert.is(by('WindowsUpdater').profile, 'S-1-5-21-1004336348-1177238915-682003330-1104');
  assert.is(by('svc').location, 'HKLM\\SOFTWARE\\Microsoft\\Windows\\CurrentVersion\\Policies\\Explorer\\Run');
  assert.is(by('svc').signed, false);
  assert.is(by('Userinit').launchString, 'C:\\Windows\\system32\\userinit.exe');
  // Shell=explorer.exe is a bare name Windows finds in its own folder: present and signed, not missing.
  assert.equal([by('Shell').imagePath, by('Shell').imageExists, by('Shell').signed], ['C:\\Windows\\explorer.exe', true, true]);
  // The payload behind a launcher is the image (hashed, signature-checked); the launcher is kept.
  assert.equal([by('WindowsUpdater').imagePath, by('WindowsUpdater').launcher, by('WindowsUpdater').imageExists, by('WindowsUpdater').signed], ['C:\\Users\\jdoe\\AppData\\Roaming\\Microsoft\\upd.vbs', 'C:\\Windows\\System32\\wscript.exe', true, false]);
  assert.equal([by('kbtlxyzqjf').imagePath, by('kbtlxyzqjf').launcher, by('kbtlxyzqjf').signatureStatus], ['C:\\ProgramData\\kbtlxyzqjf\\tasksche.exe', 'C:\\Windows\\System32\\cmd.exe', 'HashMismatch']);
  assert.not.ok(a.some((r) => r.category === 'Status'), 'every profile\'s hive is loaded and every key readable');
  assert.not.ok(by('Fax'), 'disabled services are not autostarts');
  assert.is(by('mssecsvc2.0').category, 'Services');
  assert.is(by('mssecsvc2.0').imagePath, 'C:\\WINDOWS\\mssecsvc.exe');
  const task = by('\\OneDrive Standalone Update Task');
  assert.is(task.category, 'Tasks');
  assert.is(task.launchString, 'C:\\Users\\jdoe\\AppData\\Local\\Temp\\odu.exe /update');
  assert.is(task.imageExists, false, 'an image that is not there is reported missing');
  // Task Scheduler records its date as local text without a zone: 12:03 in UTC+8.
  assert.is(task.time, '2025-11-26T04:03:00.000Z');
  assert.is(by('\\Microsoft\\Windows\\Defrag\\ScheduledDefrag').imagePath, 'C:\\Windows\\system32\\defrag.exe');
});

test('defender: protection off, exclusions and detections with their threat names', () => {
  const d = readJsonl(join(dir, 'steps', '05-defender', 'records.jsonl'));
  assert.ok(d.some((r) => r.type === 'protection-disabled' && r.detail === 'RealTimeProtectionEnabled is false'));
  assert.equal(d.filter((r) => r.type === 'exclusion').map((r) => r.detail), ['C:\\ProgramData\\kbtlxyzqjf', 'C:\\Users\\jdoe\\AppData\\Local\\Temp']);
  const t = d.find((r) => r.type === 'threat');
  assert.is(t.threatName, 'Ransom:Win32/WannaCrypt.A!rsm');
  assert.equal(t.resources, ['C:\\WINDOWS\\mssecsvc.exe', 'C:\\ProgramData\\kbtlxyzqjf\\tasksche.exe']);
  assert.is(t.time, '2025-11-26T05:00:00.000Z');
  assert.is(t.action, 'remediation failed');
  const s = d.find((r) => r.type === 'status');
  assert.is(s.realTimeProtection, false);
});

test.run();
