// av-scan on Windows: the real windows.ps1, composed with the prelude exactly as the runner runs it,
// under real pwsh, with the Defender commands stood in for by recorded-shape data
// (test/fixtures/windows/av-scan: SOURCE.md says where each shape comes from). The stand-ins log
// every call, so the tests see which scan was started, with which arguments, and what never ran.
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import type { StepSummary } from '../lib/script.ts';
import { DetectionRecord } from '../lib/records/schemas.ts';
import { FIXTURES, readJsonl, runWindowsStep, tempDir } from './helpers.ts';


interface Call {
  command: string;
  arguments: any;
}
interface AvRun {
  summary: StepSummary;
  records: any[];
  stderrLog: string;
  calls: Call[];
}

/** Runs av-scan's windows.ps1 (prelude + step, as composed for a host) against one scenario folder. */
function runAvScan(scenario: string, params: Record<string, string> = {}, opts: { admin?: boolean } = {}): AvRun {
  const calls = join(tempDir('magpie-avscan-calls-'), 'calls.jsonl');
  writeFileSync(calls, '');
  const r = runWindowsStep('av-scan', {
    fixtureDir: join(FIXTURES, 'windows', 'av-scan', scenario),
    globals: { AvScanCallLog: calls },
    fakes: [join(FIXTURES, 'windows', 'fakes.ps1'), join(FIXTURES, 'windows', 'av-scan', 'fakes.ps1')],
    params,
    schema: DetectionRecord,
    admin: opts.admin,
  });
  return { summary: r.summary, records: r.records, stderrLog: r.stderrLog, calls: readJsonl(calls) };
}

const called = (r: AvRun, command: string) => r.calls.filter((c) => c.command === command);
const threats = (r: AvRun) => r.records.filter((x) => x.type === 'threat');
const statuses = (r: AvRun) => r.records.filter((x) => x.type === 'status');

test('quick scan: Start-MpScan QuickScan as a job, then the detections since its start joined with their threats', () => {
  const r = runAvScan('workstation');
  assert.is(r.summary.status, 'ok', r.summary.message ?? r.stderrLog);
  const scans = called(r, 'Start-MpScan');
  assert.equal(scans.map((c) => c.arguments), [{ ScanType: 'QuickScan', AsJob: true }]);
  // Defender's state was read before the scan, the detections after it.
  const order = r.calls.map((c) => c.command);
  assert.ok(order.indexOf('Get-MpComputerStatus') < order.indexOf('Start-MpScan'));
  assert.ok(order.lastIndexOf('Get-MpThreatDetection') > order.indexOf('Start-MpScan'));
  assert.ok(r.calls.some((c) => c.command === 'Get-CimInstance' && c.arguments.Namespace === 'root/SecurityCenter2' && c.arguments.ClassName === 'AntiVirusProduct'));

  const [s] = statuses(r);
  assert.is(statuses(r).length, 1);
  assert.equal(
    { type: s.type, source: s.source, status: s.status, scanType: s.scanType, method: s.method, engine: s.engineVersion, sig: s.signatureVersion, product: s.productVersion, count: s.count },
    { type: 'status', source: 'defender-scan', status: 'completed', scanType: 'quick', method: 'Start-MpScan', engine: '1.1.25090.3001', sig: '1.441.318.0', product: '4.18.25090.3009', count: 3 },
  );
  assert.ok(Date.parse(s.started) <= Date.parse(s.ended));
  assert.is(r.records.at(-1).type, 'status', 'the status record comes last');

  const t = threats(r);
  // The Mimikatz detection of a week before is Defender's history, not this scan's.
  assert.equal(t.map((x) => x.threatName).sort(), ['Backdoor:Win64/CobaltStrike.NP!dha', 'PUA:Win32/Presenoker', 'Trojan:Win32/Meterpreter.RPZ!MTB']);
  assert.ok(t.every((x) => x.source === 'defender-scan' && x.scanType === 'quick'));
  assert.ok(t.every((x) => Date.parse(x.initialDetectionTime) >= Date.parse(s.started) || Date.parse(x.lastThreatStatusChangeTime) >= Date.parse(s.started)));

  const by = (name: string) => t.find((x) => x.threatName === name);
  const cs = by('Backdoor:Win64/CobaltStrike.NP!dha');
  assert.equal(
    { id: cs.detectionId, threatId: cs.threatId, sev: cs.severity, sevId: cs.severityId, cat: cs.category, action: cs.action, ok: cs.actionSuccess, cleaning: cs.cleaningAction, st: cs.threatStatus, res: cs.resources, proc: cs.processName, user: cs.user },
    { id: '{C41F7A2E-9B3D-4E6F-A8C1-2D5E7F9A0B3C}', threatId: 2147725325, sev: 'Severe', sevId: 5, cat: 'Backdoor', action: 'remediated', ok: true, cleaning: 'Quarantine', st: 'Quarantined', res: ['C:\\Users\\jdoe\\AppData\\Local\\Temp\\upd.exe'], proc: 'Unknown', user: 'NT AUTHORITY\\SYSTEM' },
  );
  assert.is(cs.time, cs.initialDetectionTime);
  // 47 s after the recorded scan started, so 47 s after this one did (give or take the second it was cut to).
  const after = (Date.parse(cs.time) - Date.parse(s.started)) / 1000;
  assert.ok(after >= 46 && after <= 49, `detected ${after} s after the start`);
  assert.ok(cs.remediationTime);

  const mp = by('Trojan:Win32/Meterpreter.RPZ!MTB');
  assert.equal(
    { sev: mp.severity, cat: mp.category, action: mp.action, ok: mp.actionSuccess, cleaning: mp.cleaningAction, st: mp.threatStatus, stId: mp.threatStatusId, res: mp.resources, active: mp.threatActive, ran: mp.didThreatExecute, remediated: mp.remediationTime },
    { sev: 'High', cat: 'Trojan', action: 'remediation failed', ok: false, cleaning: 'Remove', st: 'RemoveFailed', stId: 104, res: ['C:\\ProgramData\\svc\\svchost.exe', 'pid:4242,ProcessStart:134087238123456789'], active: true, ran: true, remediated: null },
  );
  // First seen two days before; the scan found it again (its status changed after the start).
  const pua = by('PUA:Win32/Presenoker');
  assert.equal([pua.severity, pua.category], ['Low', 'PotentialUnwantedSoftware']);
  assert.ok(Date.parse(pua.initialDetectionTime) < Date.parse(s.started));
  assert.ok(Date.parse(pua.lastThreatStatusChangeTime) >= Date.parse(s.started));
});

test('full scan: Start-MpScan FullScan; Paths given to a quick or full scan are ignored with a warning', () => {
  const r = runAvScan('workstation', { ScanType: 'full', Paths: 'C:\\Users' });
  assert.is(r.summary.status, 'ok', r.summary.message ?? r.stderrLog);
  assert.equal(called(r, 'Start-MpScan').map((c) => c.arguments), [{ ScanType: 'FullScan', AsJob: true }]);
  assert.match(r.stderrLog, /Paths are scanned with ScanType custom only.*C:\\Users/);
  assert.is(statuses(r)[0].scanType, 'full');
});

test('custom scan: each given path scanned with CustomScan -ScanPath', () => {
  const a = tempDir('magpie-avscan-a-');
  const b = tempDir('magpie-avscan-b-');
  const r = runAvScan('workstation', { ScanType: 'custom', Paths: `${a},${b}` });
  assert.is(r.summary.status, 'ok', r.summary.message ?? r.stderrLog);
  assert.equal(called(r, 'Start-MpScan').map((c) => c.arguments), [
    { ScanType: 'CustomScan', ScanPath: a, AsJob: true },
    { ScanType: 'CustomScan', ScanPath: b, AsJob: true },
  ]);
  const [s] = statuses(r);
  assert.equal([s.scanType, s.paths], ['custom', [a, b]]);
});

test('custom scan with a path that does not exist fails before anything runs, naming the path', () => {
  const there = tempDir('magpie-avscan-there-');
  const missing = join(tempDir('magpie-avscan-'), 'no such folder');
  const r = runAvScan('workstation', { ScanType: 'custom', Paths: JSON.stringify([there, missing]) });
  assert.is(r.summary.status, 'failed');
  assert.ok(r.summary.message?.includes(`path does not exist: ${missing}`), r.summary.message ?? '');
  assert.equal(called(r, 'Start-MpScan'), [], 'no scan was started');
  assert.equal(r.calls, [], 'not even Defender\'s state was read');
  assert.equal(r.records, []);
});

test('custom scan without Paths, or an unknown ScanType, fails before anything runs', () => {
  const none = runAvScan('workstation', { ScanType: 'custom' });
  assert.is(none.summary.status, 'failed');
  assert.match(none.summary.message ?? '', /ScanType custom needs Paths/);
  const bad = runAvScan('workstation', { ScanType: 'deep' });
  assert.is(bad.summary.status, 'failed');
  assert.match(bad.summary.message ?? '', /ScanType must be quick, full or custom, got 'deep'/);
  assert.equal([...none.calls, ...bad.calls], []);
});

test('passive mode beside another antivirus: no scan, a skipped status naming the active product', () => {
  const r = runAvScan('passive');
  assert.is(r.summary.status, 'ok', r.summary.message ?? r.stderrLog);
  assert.equal(called(r, 'Start-MpScan'), []);
  assert.equal(called(r, 'Get-MpThreatDetection'), []);
  assert.is(r.records.length, 1);
  const [s] = r.records;
  assert.equal([s.type, s.source, s.status, s.amRunningMode, s.registeredProducts], ['status', 'defender-scan', 'skipped', 'Passive Mode', ['Sophos Anti-Virus']]);
  assert.match(s.reason, /AMRunningMode is 'Passive Mode'/);
  assert.match(s.reason, /the active antivirus is Sophos Anti-Virus/);
  assert.match(r.stderrLog, /\[warning\] av-scan skipped: .*Sophos Anti-Virus/);
});

test('an account that is not elevated: no scan, a skipped status saying administrator rights are needed', () => {
  const r = runAvScan('workstation', {}, { admin: false });
  assert.is(r.summary.status, 'ok', r.summary.message ?? r.stderrLog);
  assert.equal(called(r, 'Start-MpScan'), []);
  const [s] = r.records;
  assert.equal([r.records.length, s.type, s.status], [1, 'status', 'skipped']);
  assert.match(s.reason, /needs administrator rights \(Start-MpScan, MpCmdRun\.exe -Scan\); CORP\\responder is not elevated/);
});

test('no Defender module (Windows Server): MpCmdRun.exe -Scan, detections and versions through CIM, no SecurityCenter2', () => {
  const r = runAvScan('server');
  assert.is(r.summary.status, 'ok', r.summary.message ?? r.stderrLog);
  assert.equal(called(r, 'Start-MpScan'), []);
  assert.equal(called(r, 'MpCmdRun.exe').map((c) => c.arguments), [['-Scan', '-ScanType', '1']]);
  const cim = called(r, 'Get-CimInstance').map((c) => `${c.arguments.Namespace}:${c.arguments.ClassName}`);
  assert.ok(cim.includes('root/SecurityCenter2:AntiVirusProduct'));
  assert.ok(cim.includes('root/Microsoft/Windows/Defender:MSFT_MpThreatDetection'));
  assert.ok(cim.includes('root/Microsoft/Windows/Defender:MSFT_MpThreat'));
  assert.ok(cim.includes('root/Microsoft/Windows/Defender:MSFT_MpComputerStatus'));
  assert.not.match(r.stderrLog, /SecurityCenter2/, 'a server without Security Center is no warning');
  const [t] = threats(r);
  assert.equal([threats(r).length, t.threatName, t.severity, t.category, t.resources], [1, 'Backdoor:ASP/Webshell.T', 'Severe', 'Backdoor', ['C:\\inetpub\\wwwroot\\aspnet_client\\system_web\\errorEE.aspx']]);
  const [s] = statuses(r);
  assert.equal([s.status, s.method, s.exitCodes, s.count, s.engineVersion], ['completed', 'MpCmdRun.exe', [2], 1, '1.1.25090.3001']);
});

test('MpCmdRun.exe: full is -ScanType 2, custom is -ScanType 3 -File for each path', () => {
  const full = runAvScan('server', { ScanType: 'full' });
  assert.equal(called(full, 'MpCmdRun.exe').map((c) => c.arguments), [['-Scan', '-ScanType', '2']]);
  const dir = tempDir('magpie-avscan-web-');
  const custom = runAvScan('server', { ScanType: 'custom', Paths: dir });
  assert.is(custom.summary.status, 'ok', custom.summary.message ?? custom.stderrLog);
  assert.equal(called(custom, 'MpCmdRun.exe').map((c) => c.arguments), [['-Scan', '-ScanType', '3', '-File', dir]]);
});

test.run();
