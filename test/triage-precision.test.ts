// Precision and recall of the built-in rules on two recorded Windows hosts: a healthy server with
// Office, OneDrive, VMware Tools, McAfee and HP software (hundreds of autostarts) must give no
// high finding and only a handful of medium ones; an infected lab machine must have each
// persistence pattern flagged at the level its rule states. Also: the facts the rules weigh
// (random names, folder classes, look-alikes) and team allowlists.
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { folderClass, isLookalikeName, levelRank, looksRandom, triageFolder, type Finding } from '../lib/triage/engine.ts';
import { InputErrors } from '../lib/errors.ts';
import { loadRules } from '../lib/triage/rules.ts';
import { sha256Text } from '../lib/evidence/hash.ts';
import { cli, collectRecordedWindowsHost, pwshOrFail, readJson, tempDir, writeTree } from './helpers.ts';

pwshOrFail();
const rules = loadRules();
const hosts = { healthy: '', lab: '' };

test.before(async () => {
  const out = tempDir();
  [hosts.healthy, hosts.lab] = await Promise.all([collectRecordedWindowsHost('healthy-server', out), collectRecordedWindowsHost('infected-lab', out)]);
});

const what = (f: Finding) => String(f.record.entry ?? f.record.name);
const rows = (fs: Finding[]) => fs.map((f) => `${f.rule.level} ${f.rule.id}: ${what(f)}`).sort();
const ADMIN = 'S-1-5-21-3623811015-3361044348-30300820-500';

test('healthy server: hundreds of autostarts, no finding at high or above, four at medium (each worth opening)', async () => {
  const r = await triageFolder(hosts.healthy, { rules });
  assert.ok(r.counts.autorun! >= 300, `${r.counts.autorun} autostarts`);
  assert.ok(r.counts.process! >= 80, `${r.counts.process} processes`);
  assert.equal(rows(r.findings.filter((f) => levelRank(f.rule.level) >= levelRank('high'))), []);
  // The unsigned in-house agent (a service and its task), and the OneDrive updater tasks whose
  // %localappdata% folder the collection cannot resolve, so their signature is unknown.
  assert.equal(rows(r.findings.filter((f) => f.rule.level === 'medium')), [
    'medium magpie-autorun-missing-or-unsigned: ContosoBatchAgent',
    'medium magpie-autorun-missing-or-unsigned: \\Contoso\\Nightly batch',
    `medium magpie-scheduled-task-user-folder: \\OneDrive Reporting Task-${ADMIN}`,
    `medium magpie-scheduled-task-user-folder: \\OneDrive Standalone Update Task-${ADMIN}`,
  ]);
});

test('healthy server: Winlogon Shell=explorer.exe resolves to C:\\Windows\\explorer.exe, present and signed, and is not flagged', async () => {
  const { findings } = await triageFolder(hosts.healthy, { rules });
  const records = readFileSync(join(hosts.healthy, 'steps', '04-autoruns', 'records.jsonl'), 'utf8').trim().split('\n').map((l) => JSON.parse(l));
  const shell = records.find((r) => r.entry === 'Shell');
  assert.equal([shell.launchString, shell.imagePath, shell.imageExists, shell.signed], ['explorer.exe', 'C:\\Windows\\explorer.exe', true, true]);
  assert.not.ok(findings.some((f) => f.record.entry === 'Shell' || f.record.entry === 'Userinit'));
  // rundll32, cscript and cmd tasks of Windows: their DLL or script is found, hashed and signed.
  const pla = records.find((r) => r.entry === '\\Microsoft\\Windows\\PLA\\Server Manager Performance Monitor');
  assert.equal([pla.imagePath, pla.launcher, pla.signed], ['C:\\Windows\\system32\\pla.dll', 'C:\\Windows\\system32\\rundll32.exe', true]);
  assert.not.ok(records.some((r) => r.category === 'Status'));
});

test('healthy server: Office Policies\\Explorer\\Run entries and uninstalled vendor products are low; Microsoft and vendor services, OneDrive and cmd built-ins are not flagged', async () => {
  const { findings } = await triageFolder(hosts.healthy, { rules });
  assert.equal(rows(findings.filter((f) => f.rule.level === 'low')), [
    'low magpie-autorun-policies-run-vendor: Lync',
    'low magpie-autorun-stale-vendor: Communicator',
    'low magpie-autorun-stale-vendor: HP Print Scan Doctor',
    'low magpie-autorun-stale-vendor: HPWMISVC',
    'low magpie-autorun-stale-vendor: Lync',
    'low magpie-autorun-stale-vendor: Lync',
  ]);
  const flagged = new Set(findings.map(what));
  for (const name of ['CryptSvc', 'MpsSvc', 'iphlpsvc', 'Winmgmt', 'TrustedInstaller', 'VaultSvc', 'mfemms', 'mfefire', 'mfevtp', 'masvc', 'macmnsvc', 'VGAuthService', 'VMTools', 'vm3dservice', 'hpqddsvc', 'HPSIService', 'gupdatem', 'CDPUserSvc_4f1c2', 'WarpJITSvc', 'wercplsupport'])
    assert.not.ok(flagged.has(name), `service ${name} flagged`);
  for (const task of ['\\Contoso\\Purge VMware temp', '\\Contoso\\Purge batch logs', '\\Microsoft\\Windows\\Server Manager\\CleanupOldPerfLogs', '\\Microsoft\\Windows\\UPnP\\UPnPHostConfig', '\\OneDrive Standalone Update Task v2-S-1-5-21-3623811015-3361044348-30300820-1117', 'OneDrive', 'com.squirrel.Teams.Teams'])
    assert.not.ok(flagged.has(task), `${task} flagged`);
});

test('healthy server: Startup shortcuts to an application and to a plain PowerShell window are read through to their targets and not flagged', async () => {
  const r = await triageFolder(hosts.healthy, { rules });
  const records = readFileSync(join(hosts.healthy, 'steps', '04-autoruns', 'records.jsonl'), 'utf8').trim().split('\n').map((l) => JSON.parse(l));
  const lnk = records.filter((x) => x.shortcut).map((x) => [x.entry, x.imagePath, x.signed]);
  assert.equal(lnk, [
    ['USB Key.lnk', 'C:\\Program Files (x86)\\HDZB_USBKEY_NEW1G\\HDZB_USBKEY_NEW1G.exe', true],
    ['Windows PowerShell (x86).lnk', 'C:\\Windows\\SysWOW64\\WindowsPowerShell\\v1.0\\powershell.exe', true],
  ]);
  assert.equal(r.findings.filter((f) => String(f.record.entry).endsWith('.lnk')).map((f) => f.rule.id), []);
});

test('infected lab: each persistence pattern is flagged at the level stated', async () => {
  const { findings } = await triageFolder(hosts.lab, { rules });
  const got = new Set(rows(findings));
  const expected = [
    // A RAT autostarting from Documents, its signature not verified; and running.
    'high magpie-autorun-unsigned-user-writable: Dropbox Update',
    'high magpie-unsigned-user-writable: dbxupd.exe',
    // A startup entry starting a svchost look-alike, and the look-alike running.
    'high magpie-autorun-lookalike-name: Windows Host Process',
    'high magpie-lookalike-process-name: scvhost.exe',
    // A scheduled task running a .bat from C:\Windows\Win32\ (no such folder on Windows), and the cmd.exe running it.
    'high magpie-autorun-fake-system-folder: \\Microsoft\\Windows\\Maintenance\\WinSvcUpdate',
    'high magpie-autorun-script-host: \\Microsoft\\Windows\\Maintenance\\WinSvcUpdate',
    'high magpie-process-fake-system-folder: cmd.exe',
    'high magpie-process-script-host: cmd.exe',
    // An unsigned random-named service image in C:\Windows.
    'high magpie-service-unsigned-suspicious: qfwzkxnb',
    // A service from a System32 look-alike under ProgramData, and its process.
    'high magpie-autorun-fake-system-folder: RuntimeBrokerSvc',
    'high magpie-service-unsigned-suspicious: RuntimeBrokerSvc',
    'high magpie-process-fake-system-folder: RuntimeBroker.exe',
    // Script launchers in a service, a task and processes.
    'high magpie-autorun-script-host: WinHelperSvc',
    'high magpie-autorun-script-host: \\UpdateCheck',
    'high magpie-process-script-host: wscript.exe',
    'high magpie-process-script-host: powershell.exe',
    // An unsigned "updater" task in Temp; an unsigned Policies\Explorer\Run entry in ProgramData.
    'high magpie-autorun-unsigned-user-writable: \\GoogleUpdateTaskUserS-1-5-21-2718281828-4590452353-6028747135-1107Core',
    'high magpie-autorun-policies-run: MicrosoftEdgeAutoLaunch',
    'high magpie-autorun-unsigned-user-writable: MicrosoftEdgeAutoLaunch',
    // Microsoft's certificate on a file that no longer matches it is not a known publisher's program.
    'high magpie-autorun-policies-run: OneNote Tray',
    // A USB worm's Startup shortcut: cmd renames its hidden scripts and starts one.
    'high magpie-autorun-shortcut-interpreter: Photos.lnk',
    // Persistence beyond Run keys: a WMI consumer that downloads and runs, utilman.exe replaced
    // by cmd.exe at the logon screen, a password filter DLL in ProgramData loaded by lsass.
    'high magpie-autorun-wmi-consumer: Windows Update Consumer',
    'critical magpie-autorun-accessibility-hijack: Debugger',
    'high magpie-autorun-lsa-appinit: Notification Packages: C:\\ProgramData\\Microsoft\\Crypto\\pwdflt.dll',
  ];
  assert.equal(expected.filter((e) => !got.has(e)), [], 'missed');
  // Nothing high about the machine's own software.
  const benign = ['OneDrive', 'OneDrive.exe', 'VMTools', 'vmtoolsd.exe', 'VMware User Process', 'explorer.exe', 'svchost.exe', 'CryptSvc', 'iphlpsvc', `\\OneDrive Standalone Update Task-S-1-5-21-2718281828-4590452353-6028747135-1107`];
  assert.equal(findings.filter((f) => levelRank(f.rule.level) >= levelRank('high') && benign.includes(what(f))).map((f) => `${f.rule.id}: ${what(f)}`), []);
});

test('every built-in Windows rule left out of the infected golden fires on the lab machine or the healthy server', async () => {
  const fired = new Set<string>();
  for (const dir of [hosts.lab, hosts.healthy]) for (const f of (await triageFolder(dir, { rules })).findings) fired.add(f.rule.id);
  for (const id of ['magpie-autorun-wmi-consumer', 'magpie-autorun-accessibility-hijack', 'magpie-autorun-lsa-appinit', 'magpie-autorun-shortcut-interpreter', 'magpie-autorun-stale-vendor', 'magpie-autorun-policies-run-vendor', 'magpie-autorun-lookalike-name', 'magpie-autorun-fake-system-folder', 'magpie-process-fake-system-folder', 'magpie-process-script-host'])
    assert.ok(fired.has(id), `${id} fires`);
});

test('the random-name test judges the name, not its case', () => {
  for (const name of ['CryptSvc', 'mpssvc', 'MPSSVC', 'iphlpsvc', 'IPHLPSVC', 'Winmgmt', 'winmgmt', 'TrustedInstaller', 'TRUSTEDINSTALLER', 'VaultSvc', 'TrkWks', 'lltdsvc', 'wuauserv', 'CDPUserSvc_4f1c2', 'mfemms', 'VGAuthService', 'AudioEndpointBuilder', 'clr_optimization_v4.0.30319_64'])
    assert.not.ok(looksRandom(name), `${name} is not random`);
  for (const name of ['kbtlxyzqjf', 'KBTLXYZQJF', 'qfwzkxnb', 'QfWzKxNb', 'ewyohzqjqykpcn', 'tBvmqKwe', 'xK7p2mQ9rT'])
    assert.ok(looksRandom(name), `${name} is random`);
});

test('folder classes: real and fake system folders, user-writable folders, Program Files', () => {
  const cases: [string, string][] = [
    ['C:\\Windows\\System32\\svchost.exe', 'system'],
    ['%windir%\\system32\\defrag.exe', 'system'],
    ['\\SystemRoot\\System32\\smss.exe', 'system'],
    ['C:\\Windows\\SoftwareDistribution\\Download\\x.exe', 'windows'],
    ['C:\\Windows\\mssecsvc.exe', 'windows-root'],
    ['C:\\Windows\\Win32\\svcupd.bat', 'fake-system'],
    ['C:\\Windows\\Sytem32\\a.exe', 'fake-system'],
    ['C:\\ProgramData\\Microsoft\\System32\\RuntimeBroker.exe', 'fake-system'],
    ['C:\\System32\\a.exe', 'fake-system'],
    ['C:\\Users\\mlopez\\Documents\\Dropbox Tools\\dbxupd.exe', 'user-writable'],
    ['%localappdata%\\Microsoft\\OneDrive\\OneDriveStandaloneUpdater.exe', 'user-writable'],
    ['C:\\ProgramData\\svc\\svc.exe', 'user-writable'],
    ['C:\\Windows\\Temp\\x.exe', 'user-writable'],
    ['C:\\ProgramData\\Microsoft\\Windows Defender\\platform\\4.18.25100.9-0\\MsMpEng.exe', 'program-files'],
    ['C:\\Program Files (x86)\\Google\\Update\\GoogleUpdate.exe', 'program-files'],
    ['D:\\Tools\\x.exe', 'other'],
  ];
  assert.equal(cases.map(([p]) => [p, folderClass(p)]), cases);
});

test('look-alike names: one letter from a system process, but not Windows programs that are one letter apart', () => {
  for (const n of ['scvhost.exe', 'svch0st.exe', 'lsasss.exe', 'expl0rer.exe', 'svchost32.exe', 'csrsss.exe', 'winlogin.exe']) assert.ok(isLookalikeName(n), n);
  for (const n of ['svchost.exe', 'sihost.exe', 'dasHost.exe', 'taskhost.exe', 'taskhostw.exe', 'dllhst3g.exe', 'lsaiso.exe', 'vmtoolsd.exe', 'masvc.exe']) assert.not.ok(isLookalikeName(n), n);
});

test('a team allowlist suppresses by path, hash and valid publisher only, and is listed with its hash', async () => {
  const gupdate = '0b78a7c10c2491e6e465eac4d63b1b2493a177bc253181110ae5203811b63396';
  const text =
    'title: Contoso allowlist\nid: contoso-allowlist\ndescription: in-house tools and the lab test files\nallowlist:\n' +
    `  paths: ['C:\\Program Files\\Contoso\\*']\n  hashes: [${gupdate.toUpperCase()}]\n  publishers: ['Dropbox*']\n`;
  const team = writeTree({ 'allow.yaml': text });
  const withList = loadRules([team]);
  const entry = withList.find((r) => r.def.id === 'contoso-allowlist')!;
  assert.is(entry.sha256, sha256Text(text));
  assert.ok(entry.allow);

  const healthy = await triageFolder(hosts.healthy, { rules: withList });
  assert.equal(rows(healthy.findings.filter((f) => f.rule.level === 'medium')), [
    `medium magpie-scheduled-task-user-folder: \\OneDrive Reporting Task-${ADMIN}`,
    `medium magpie-scheduled-task-user-folder: \\OneDrive Standalone Update Task-${ADMIN}`,
  ]);
  assert.equal(healthy.suppressed.map((s) => `${s.rule} ${s.entry}`).sort(), [
    'magpie-autorun-missing-or-unsigned path C:\\Program Files\\Contoso\\*',
    'magpie-autorun-missing-or-unsigned path C:\\Program Files\\Contoso\\*',
  ]);
  const lab = await triageFolder(hosts.lab, { rules: withList });
  const labRows = rows(lab.findings);
  assert.not.ok(labRows.some((r) => r.includes('GoogleUpdateTaskUser')), 'the allowlisted hash is suppressed');
  // The RAT claims to be Dropbox, but its signature does not verify: a publisher entry does not cover it.
  assert.ok(labRows.includes('high magpie-autorun-unsigned-user-writable: Dropbox Update'));
  assert.ok(labRows.includes('high magpie-unsigned-user-writable: dbxupd.exe'));

  // Limited to some rules, it leaves the others alone.
  const only = writeTree({ 'allow.yaml': text + '  rules: [magpie-process-*]\n' });
  const limited = await triageFolder(hosts.lab, { rules: loadRules([only]) });
  assert.ok(rows(limited.findings).some((r) => r.includes('GoogleUpdateTaskUser')));

  // Recorded in triage.json with the rules, file and hash.
  const run = cli(['triage', hosts.healthy, '--rules', team, '--json']);
  assert.is(run.code, 0, run.stderr);
  const out = JSON.parse(run.stdout).hosts[0].out;
  const recorded = readJson(join(out, 'triage.json')).rules.find((r: any) => r.id === 'contoso-allowlist');
  assert.equal(recorded, { id: 'contoso-allowlist', level: 'informational', file: join(team, 'allow.yaml'), sha256: sha256Text(readFileSync(join(team, 'allow.yaml'), 'utf8')) });

  // An allowlist with nothing in it is an error with file and line.
  const bad = writeTree({ 'allow.yaml': 'title: t\nid: empty-list\ndescription: d\nallowlist:\n  rules: [x]\n' });
  try {
    loadRules([bad], false);
    assert.unreachable('an empty allowlist loads');
  } catch (e) {
    assert.instance(e, InputErrors);
    assert.match(String((e as Error).message), /allow\.yaml:5: .*give at least one of publishers, paths, hashes/);
  }
});

test.run();
