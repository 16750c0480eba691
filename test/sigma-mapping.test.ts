// How Sigma rules read Magpie's records and events (playbooks/sigma/windows.yaml, and a team's
// sigma-pipeline-*.yaml): Security 4688 beside Sysmon 1, Sysmon's packed Hashes, registry-backed
// autostarts as registry_set, a team's own logsource and %placeholders%.
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { loadRuleSet } from '../lib/triage/rules.ts';
import type { CompiledRule } from '../lib/triage/rules.ts';
import type { RecordKind } from '../lib/definitions.ts';
import { tempDir } from './helpers.ts';
import { subjectOf } from '../lib/triage/prioritise.ts';

function load(files: Record<string, string>): CompiledRule[] {
  const dir = tempDir('magpie-sigma-map-');
  for (const [n, t] of Object.entries(files)) writeFileSync(join(dir, n), t);
  const { rules, sigma } = loadRuleSet([dir], false);
  assert.equal([sigma.skipped, sigma.failed], [[], []]);
  return rules;
}
const rule = (logsource: string, detection: string, extra = '') => `title: t\nid: 55555555-5555-4555-8555-555555555555\nstatus: test\n${extra}logsource: ${logsource}\ndetection:\n${detection}\nlevel: high\n`;
const on = (r: CompiledRule, kind: RecordKind, rec: Record<string, unknown>) => !!r.targets?.[kind]?.(rec);

test('process_creation: a Sysmon 1 event, a Security 4688 event (NewProcessName as Image) and a live process record', () => {
  const [r] = load({ 'whoami.yml': rule('{ product: windows, category: process_creation }', "  selection:\n    Image|endswith: '\\whoami.exe'\n    CommandLine|contains: '/priv'\n  condition: selection") });
  assert.ok(on(r, 'event', { channel: 'Microsoft-Windows-Sysmon/Operational', eventId: 1, data: { Image: 'C:\\Windows\\System32\\whoami.exe', CommandLine: 'whoami /priv' } }));
  assert.ok(on(r, 'event', { channel: 'Security', eventId: 4688, data: { NewProcessName: 'C:\\Windows\\System32\\whoami.exe', CommandLine: 'whoami /priv' } }));
  assert.not.ok(on(r, 'event', { channel: 'Security', eventId: 4624, data: { NewProcessName: 'C:\\Windows\\System32\\whoami.exe', CommandLine: 'whoami /priv' } }), 'another event ID');
  assert.ok(on(r, 'process', { path: 'C:\\Windows\\System32\\whoami.exe', commandLine: 'whoami /priv', name: 'whoami.exe' }));
  assert.is(r.os, 'windows');
});

test('hashes: Sysmon\'s packed Hashes field split for rules that name sha256 or Imphash; a process record\'s own hashes', () => {
  const [r] = load({ 'hash.yml': rule('{ product: windows, category: process_creation }', "  selection:\n    - sha256: 8f1e0c5b1b7e4d6a0b7b9f3d2c1a0e9f8d7c6b5a4f3e2d1c0b9a8f7e6d5c4b3a\n    - Hashes|contains: 'IMPHASH=F34D5F2D4577ED6D9CEEC516C1F5A744'\n  condition: selection") });
  assert.ok(on(r, 'event', { channel: 'Microsoft-Windows-Sysmon/Operational', eventId: 1, data: { Hashes: 'MD5=1,SHA256=8F1E0C5B1B7E4D6A0B7B9F3D2C1A0E9F8D7C6B5A4F3E2D1C0B9A8F7E6D5C4B3A,IMPHASH=0' } }));
  assert.ok(on(r, 'event', { channel: 'Microsoft-Windows-Sysmon/Operational', eventId: 1, data: { Hashes: 'MD5=1,IMPHASH=F34D5F2D4577ED6D9CEEC516C1F5A744' } }));
  assert.ok(on(r, 'process', { path: 'C:\\x.exe', sha256: '8f1e0c5b1b7e4d6a0b7b9f3d2c1a0e9f8d7c6b5a4f3e2d1c0b9a8f7e6d5c4b3a' }));
  assert.not.ok(on(r, 'process', { path: 'C:\\x.exe', sha256: '00' }));
});

test('registry_set: a Run-key autostart read as the value Sysmon 13 would show (TargetObject = key\\\\value, Details = its data)', () => {
  const [r] = load({ 'run.yml': rule('{ product: windows, category: registry_set }', "  selection:\n    TargetObject|contains: '\\CurrentVersion\\Run\\'\n    Details|contains: '\\AppData\\Roaming\\'\n  condition: selection") });
  const autorun = { location: 'HKEY_USERS\\S-1-5-21-1-2-3-1001\\Software\\Microsoft\\Windows\\CurrentVersion\\Run', entry: 'Updater', launchString: 'C:\\Users\\bob\\AppData\\Roaming\\upd.exe', category: 'Logon' };
  assert.ok(on(r, 'autorun', autorun));
  assert.not.ok(on(r, 'autorun', { ...autorun, launchString: 'C:\\Program Files\\Vendor\\agent.exe' }));
  assert.not.ok(on(r, 'autorun', { ...autorun, location: 'C:\\Users\\bob\\AppData\\Roaming\\Microsoft\\Windows\\Start Menu\\Programs\\Startup' }), 'a Startup-folder file is not a registry value');
  assert.ok(on(r, 'event', { channel: 'Microsoft-Windows-Sysmon/Operational', eventId: 13, data: { TargetObject: 'HKU\\S-1-5-21-1\\Software\\Microsoft\\Windows\\CurrentVersion\\Run\\Updater', Details: 'C:\\Users\\bob\\AppData\\Roaming\\upd.exe' } }));
});

test('a team\'s sigma-pipeline-*.yaml in its rules folder: its own logsource and placeholders for |expand', () => {
  const rules = load({
    'sigma-pipeline-acme.yaml': `name: acme\nplaceholders:\n  admin_hosts: [JUMP-01, JUMP-02]\nlogsources:\n  - logsource: { product: acme, category: process_creation }\n    records:\n      process: { Image: path, Host: host }\n`,
    'acme.yml': rule('{ product: acme, category: process_creation }', "  selection:\n    Image|endswith: '\\psexec.exe'\n  filter:\n    Host|expand: '%admin_hosts%'\n  condition: selection and not filter"),
  });
  assert.is(rules.length, 1);
  assert.ok(on(rules[0], 'process', { path: 'C:\\Tools\\PsExec.exe', host: 'WS-042' }));
  assert.not.ok(on(rules[0], 'process', { path: 'C:\\Tools\\PsExec.exe', host: 'jump-02' }));
});

test('a finding on an event or a text record is headed by what it is about (the program, service or account; the user\'s command), not left blank', () => {
  const sysmon = subjectOf({ kind: 'event', record: { channel: 'Microsoft-Windows-Sysmon/Operational', eventId: 1, time: '2025-11-26T05:11:27.927Z', data: { Image: 'C:\\Users\\x\\GRB_NET.exe', CommandLine: 'GRB_NET.exe -m:scan' } } } as never);
  assert.equal([sysmon.name, sysmon.detail], ['GRB_NET.exe', 'Microsoft-Windows-Sysmon/Operational 1 · 2025-11-26T05:11:27.927Z · GRB_NET.exe -m:scan']);
  assert.is(subjectOf({ kind: 'event', record: { channel: 'System', eventId: 7045, data: { ServiceName: 'WinDefendUpd', ImagePath: '%COMSPEC% /c x' } } } as never).name, 'WinDefendUpd');
  assert.is(subjectOf({ kind: 'event', record: { channel: 'Security', eventId: 4624, data: {} } } as never).name, 'Security 4624');
  const cmd = subjectOf({ kind: 'text', record: { source: 'psreadline', user: 'jdoe', file: 'C:\\h.txt', line: 4, command: 'IEX (x)' } } as never);
  assert.equal([cmd.name, cmd.detail], ['jdoe', 'IEX (x) · C:\\h.txt:4']);
});

test.run();
