// The Windows step scripts, run by the real runner under real pwsh, with Windows-only commands
// answered from recorded output of a real-shaped infected workstation (test/fixtures/windows).
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { join } from 'node:path';
import { collectRecordedWindowsHost, pwshOrFail, readJson, readJsonl } from './helpers.ts';

pwshOrFail();

let dir = '';
test.before(async () => {
  dir = await collectRecordedWindowsHost('infected');
});

test('all three Windows steps run ok and say which scripts ran', () => {
  const m = readJson(join(dir, 'manifest.json'));
  assert.equal(m.steps.map((s: any) => [s.id, s.status, s.os]), [['host-info', 'ok', 'windows'], ['network', 'ok', 'windows'], ['processes', 'ok', 'windows']]);
  assert.match(m.target.startupScript, /startup\.ps1$/, 'the stand-in is recorded in the manifest');
});

test('host-info: CIM facts become the host record with UTC times', () => {
  const [h] = readJsonl(join(dir, 'steps', '01-host-info', 'records.jsonl'));
  assert.is(h.hostname, 'WS-FIN-042');
  assert.is(h.fqdn, 'ws-fin-042.corp.example.com');
  assert.is(h.osName, 'Microsoft Windows 10 Enterprise');
  assert.is(h.build, '19045');
  assert.is(h.bootTime, '2025-11-26T00:00:00.000Z');
  assert.is(h.memoryBytes, 17009741824);
  assert.equal(h.ipAddresses, ['10.20.30.42%Intel(R) Ethernet Connection (13) I219-LM', 'fe80::1c2d:3e4f:5a6b:7c8d%Intel(R) Ethernet Connection (13) I219-LM']);
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
});

test('network: states by name, owning process joined, worm fan-out to 445 visible', () => {
  const conns = readJsonl(join(dir, 'steps', '02-network', 'records.jsonl'));
  const syn445 = conns.filter((c) => c.state === 'SynSent' && c.remotePort === 445);
  assert.is(syn445.length, 64);
  assert.ok(syn445.every((c) => c.pid === 2300 && c.processName === 'mssecsvc'));
  assert.ok(conns.some((c) => c.state === 'Listen' && c.localPort === 445 && c.pid === 4 && c.processName === 'System'));
  assert.ok(conns.some((c) => c.localAddress === 'fe80::1c2d:3e4f:5a6b:7c8d%12' && c.state === 'TimeWait'));
  const udp = conns.filter((c) => c.protocol === 'udp');
  assert.is(udp.length, 3);
  assert.ok(udp.every((c) => c.remoteAddress === null && c.state === null));
  assert.match(conns[0].createdTime, /^2025-11-26T00:00:30\.000Z$/);
});

test.run();
