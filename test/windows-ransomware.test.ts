// ransomware-signs on Windows: the real windows.ps1, composed with the prelude as the runner runs
// it, under real pwsh, with Win32_ShadowCopy, Win32_Service and bcdedit answered from recorded
// shapes (test/fixtures/windows/ransomware, SOURCE.md) and a real folder tree planted here. A
// healthy server must give the built-in rules nothing; an encrypted workstation must give each
// ransomware rule its finding, and the ransom note's text must come out as data, flattened.
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { mkdirSync, readFileSync, utimesSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { loadCatalog } from '../lib/catalog.ts';
import { buildPlan } from '../lib/plan.ts';
import { DetectionRecord } from '../lib/records/schemas.ts';
import { loadRules } from '../lib/triage/rules.ts';
import { FIXTURES, runWindowsStep, tempDir } from './helpers.ts';

const rules = loadRules().filter((r) => !r.allow);
const HERE = join(FIXTURES, 'windows', 'ransomware');

/** The step's windows.ps1 against a scenario folder (recorded CIM and bcdedit answers). */
const runStep = (fixtureDir: string, params: Record<string, string>) =>
  runWindowsStep('ransomware-signs', { fixtureDir, fakes: [join(FIXTURES, 'windows', 'fakes.ps1'), join(HERE, 'fakes.ps1')], params, schema: DetectionRecord });

/** The built-in rules that fire on these records, by id. */
const firing = (records: Record<string, any>[]) => [...new Set(records.flatMap((r) => rules.filter((x) => x.def.logsource.category === 'detection' && x.match(r)).map((x) => x.def.id)))].sort();

function plant(root: string, files: Record<string, string | Buffer>, ageDays = 0): void {
  const when = new Date(Date.now() - ageDays * 86_400_000);
  for (const [rel, content] of Object.entries(files)) {
    const f = join(root, ...rel.split('/'));
    mkdirSync(join(f, '..'), { recursive: true });
    writeFileSync(f, content);
    utimesSync(f, when, when);
  }
}

test('a healthy server: shadow copies and recovery as Windows leaves them, a software README and ordinary documents: nothing for the rules', () => {
  const root = tempDir('magpie-rw-clean-');
  const docs: Record<string, string> = {};
  for (let i = 0; i < 80; i++) docs[`Administrator/Documents/report-${i}.docx`] = `report ${i}`;
  for (let i = 0; i < 70; i++) docs[`Administrator/Pictures/scan-${i}.jpg`] = `jpg ${i}`;
  plant(root, {
    ...docs,
    'Administrator/Desktop/README.txt': 'Contoso Backup Agent 7.2\r\nSee the manual for how to restore a file from the console.\r\n',
    'Administrator/Desktop/How to connect to the VPN.txt': 'Open the client and enter vpn.corp.example.',
  });
  plant(root, { 'Administrator/Downloads/old.lockbit': 'x' }, 40); // too old to count
  const r = runStep(join(HERE, 'healthy-server'), { Paths: root });
  assert.is(r.summary.status, 'ok', r.stderrLog);
  const state = r.records.find((x) => x.source === 'Win32_ShadowCopy');
  assert.equal([state?.shadowCopies, state?.vssStartMode, state?.newestShadowCopy], [2, 'Manual', '2025-11-26T08:00:00.000Z']);
  assert.equal(r.records.map((x) => x.type), ['status'], JSON.stringify(r.records));
  assert.equal(firing(r.records), []);
});

test('an encrypted workstation: recovery off, VSS disabled, LockBit-style notes in three folders, 60 files renamed: each rule fires once per sign', () => {
  const root = tempDir('magpie-rw-hit-');
  const note = 'All your important files are stolen and encrypted!\r\n\r\nYou must find Restore-My-Files.txt\r\nTo recover your files, download Tor Browser and visit http://lockbitabcdefgh.onion\r\n\u001b[2J\u0007';
  const encrypted: Record<string, Buffer> = {};
  for (let i = 0; i < 60; i++) encrypted[`jdoe/Documents/${i % 3 ? 'Finance' : 'HR'}/file-${i}.xlsx.lockbit`] = Buffer.from([i, 1, 2, 3]);
  plant(root, {
    ...encrypted,
    'jdoe/Desktop/Restore-My-Files.txt': note,
    'jdoe/Documents/Restore-My-Files.txt': note,
    'jdoe/Documents/Finance/Restore-My-Files.txt': note,
    // One note alone in a folder, but its text speaks of encryption and payment.
    'jdoe/Pictures/HOW_TO_DECRYPT.hta': '<html><body>Your files are encrypted. Pay 0.5 bitcoin to decrypt.</body></html>',
  });
  const r = runStep(join(HERE, 'encrypted'), { Paths: root, MinFiles: '50' });
  assert.is(r.summary.status, 'ok', r.stderrLog);
  const by = (t: string) => r.records.filter((x) => x.type === t);
  assert.is(by('status')[0].shadowCopies, 0);
  assert.equal(by('recovery-disabled').map((x) => [x.source, x.setting]).sort(), [['Win32_Service', 'VSS'], ['bcdedit', 'bootstatuspolicy'], ['bcdedit', 'recoveryenabled']].sort());
  const notes = by('ransom-note');
  assert.is(notes.length, 4, JSON.stringify(notes));
  const restore = notes.filter((n) => n.resources[0].endsWith('Restore-My-Files.txt'));
  assert.is(restore.length, 3);
  assert.ok(restore.every((n) => n.sameNameIn === 3 && n.words.includes('encrypted') && n.words.includes('.onion')));
  assert.not.match(restore[0].detail, /[\u0000-\u001f]/, 'the attacker\'s text is flattened: no control characters');
  assert.match(restore[0].detail, /^All your important files are stolen and encrypted!/);
  const hta = notes.find((n) => n.resources[0].endsWith('HOW_TO_DECRYPT.hta'));
  assert.is(hta?.sameNameIn, 1);
  const mass = by('mass-rename');
  assert.equal(mass.map((x) => [x.extension, x.files, x.folders]), [['lockbit', 60, 2]]);
  assert.is(mass[0].resources.length, 5);
  assert.equal(firing(r.records), ['magpie-ransomware-mass-rename', 'magpie-ransomware-note', 'magpie-ransomware-recovery-disabled']);
});

test('a source that fails is a status record with its error, the others still come; a missing folder fails the step first', () => {
  const root = tempDir('magpie-rw-nobcd-');
  plant(root, { 'a/b.txt': 'x' });
  // No bcdedit.txt in this scenario folder: bcdedit answers "Access is denied" with exit 1.
  const scenario = tempDir('magpie-rw-scenario-');
  writeFileSync(join(scenario, 'Win32_ShadowCopy.json'), '[]');
  writeFileSync(join(scenario, 'Win32_Service.json'), readFileSync(join(FIXTURES, 'windows', 'ransomware', 'healthy-server', 'Win32_Service.json')));
  const r = runStep(scenario, { Paths: root });
  const bcd = r.records.find((x) => x.source === 'bcdedit');
  assert.is(bcd?.type, 'status');
  assert.match(bcd?.error, /bcdedit exited with 1: .*Access is denied/s);
  assert.ok(r.records.some((x) => x.source === 'Win32_ShadowCopy' && x.shadowCopies === 0));
  const missing = runStep(join(HERE, 'healthy-server'), { Paths: join(root, 'nope') });
  assert.is(missing.summary.status, 'failed');
  assert.match(missing.stderrLog, /folder does not exist: .*nope/);
});

test('the ransomware playbook lists the step and says what it is for and how long it takes', () => {
  const catalog = loadCatalog();
  const plan = buildPlan(catalog, 'ransomware', new Map());
  assert.ok(plan.steps.some((s) => s.id === 'ransomware-signs'));
  assert.match(catalog.playbooks.get('ransomware')!.def.description ?? '', /takes one to a few minutes/);
});

test('command lines that delete shadow copies or backups are flagged; none of the healthy server\'s processes is', () => {
  const rule = rules.find((r) => r.def.id === 'magpie-ransomware-recovery-commands')!;
  for (const commandLine of [
    'vssadmin.exe Delete Shadows /All /Quiet',
    'C:\\Windows\\System32\\wbem\\WMIC.exe shadowcopy delete',
    'wbadmin DELETE CATALOG -quiet',
    'bcdedit /set {default} recoveryenabled No',
    'bcdedit.exe /set {default} bootstatuspolicy ignoreallfailures',
    'vssadmin resize shadowstorage /for=c: /on=c: /maxsize=401MB',
  ]) assert.ok(rule.match({ commandLine }), commandLine);
  assert.not.ok(rule.match({ commandLine: 'vssadmin list shadows' }));
  const healthy = JSON.parse(readFileSync(join(FIXTURES, 'windows', 'healthy-server', 'Win32_Process.json'), 'utf8')) as { CommandLine?: string }[];
  assert.ok(healthy.length > 20);
  assert.equal(healthy.filter((p) => p.CommandLine && rule.match({ commandLine: p.CommandLine })), []);
});

test.run();
