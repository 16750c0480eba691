// autoruns on Windows, the step alone: the real windows.ps1, composed with the prelude as the runner
// runs it, under real pwsh, against a recorded-shape workstation (test/fixtures/windows/autoruns;
// SOURCE.md there says where each shape comes from) whose registry is read through a stand-in for
// [Microsoft.Win32.RegistryKey] (test/fixtures/windows/fakes.ps1). The workstation has an Entra ID
// user and a local user logged on, a third profile whose hive is not loaded, a Run key the
// collecting account may not open among readable ones, a Run value named PSUpdater, launch strings
// bare, quoted, with %ProgramFiles(x86)% and per-user variables, and launchers in front of payloads.
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { join } from 'node:path';
import type { StepSummary } from '../lib/script.ts';
import { AutorunRecord } from '../lib/records/schemas.ts';
import { deriveFacts } from '../lib/triage/engine.ts';
import { loadRules } from '../lib/triage/rules.ts';
import { FIXTURES, runWindowsStep } from './helpers.ts';

const ENTRA = 'S-1-12-1-3187654321-1122334455-2233445566-3344556677';
const KIOSK = 'S-1-5-21-1111111111-2222222222-3333333333-1001';
const OLD = 'S-1-5-21-1111111111-2222222222-3333333333-1002';
const RUN = 'SOFTWARE\\Microsoft\\Windows\\CurrentVersion\\Run';

interface Run {
  summary: StepSummary;
  records: any[];
  stderrLog: string;
}

function runAutoruns(host: string): Run {
  return runWindowsStep('autoruns', { fixtureDir: join(FIXTURES, 'windows', 'autoruns', host), fakes: [join(FIXTURES, 'windows', 'fakes.ps1')], schema: AutorunRecord });
}

let run: Run;
test.before(() => {
  run = runAutoruns('workstation');
});
const entry = (name: string, location?: string) => {
  const found = run.records.filter((r) => r.entry === name && (!location || r.location === location));
  assert.is(found.length, 1, `one record for ${name}${location ? ' at ' + location : ''}: ${JSON.stringify(found)}`);
  return found[0];
};
const image = (r: any) => ({ imagePath: r.imagePath, launcher: r.launcher, imageExists: r.imageExists, signed: r.signed });

test('the step is ok although one key could not be read: the error is counted, a status record names the key, the keys after it still come', () => {
  assert.is(run.summary.status, 'ok', run.summary.message ?? run.stderrLog);
  assert.is(run.summary.errors, 1, run.stderrLog);
  assert.match(run.stderrLog, /cannot read HKLM\\SOFTWARE\\Microsoft\\Windows\\CurrentVersion\\RunOnce: Requested registry access is not allowed/);
  const denied = run.records.filter((r) => r.category === 'Status' && r.status === 'not-read');
  assert.equal(denied.map((r) => r.location), ['HKLM\\SOFTWARE\\Microsoft\\Windows\\CurrentVersion\\RunOnce']);
  assert.not.ok(run.records.some((r) => r.entry === 'Cleanup'), 'nothing of the unreadable key is made up');
  // Written as produced: the status record sits between the keys read before and after it.
  const at = (r: any) => run.records.indexOf(r);
  assert.ok(at(entry('SecurityHealth')) < at(denied[0]) && at(denied[0]) < at(entry('Adobe ARM')));
  assert.is(entry('Adobe ARM').location, 'HKLM\\SOFTWARE\\WOW6432Node\\Microsoft\\Windows\\CurrentVersion\\Run');
});

test('a Run value named PSUpdater is read (value names straight from the key), its script behind powershell -File', () => {
  const r = entry('PSUpdater');
  assert.is(r.location, `HKLM\\${RUN}`);
  assert.equal(image(r), { imagePath: 'C:\\ProgramData\\PSUpdate\\update.ps1', launcher: 'C:\\WINDOWS\\System32\\WindowsPowerShell\\v1.0\\powershell.exe', imageExists: true, signed: false });
  assert.is(r.launchString, 'powershell.exe -NoProfile -WindowStyle Hidden -File "C:\\ProgramData\\PSUpdate\\update.ps1"');
});

test('environment variables anywhere in the string, %ProgramFiles(x86)% and quoted paths; the launch string stays as written', () => {
  assert.equal(image(entry('SecurityHealth')), { imagePath: 'C:\\WINDOWS\\system32\\SecurityHealthSystray.exe', launcher: null, imageExists: true, signed: true });
  assert.is(entry('SecurityHealth').launchString, '%windir%\\system32\\SecurityHealthSystray.exe', 'read unexpanded');
  const agent = entry('Contoso Agent');
  assert.equal(image(agent), { imagePath: 'C:\\Program Files (x86)\\Contoso\\Agent\\agent.exe', launcher: null, imageExists: true, signed: true });
  assert.match(agent.signer, /^CN="Contoso Ltd"/);
  assert.equal(image(entry('UpdSvc')), { imagePath: 'C:\\ProgramData\\Updater\\upd.exe', launcher: null, imageExists: true, signed: false }, '\\??\\ prefix');
  assert.is(entry('ContosoUpdater').imagePath, 'C:\\Program Files (x86)\\Contoso\\Agent\\cupdate.exe');
});

test('Winlogon: Shell=explorer.exe is C:\\Windows\\explorer.exe and present; every comma-separated Userinit entry is its own record', () => {
  assert.equal(image(entry('Shell')), { imagePath: 'C:\\WINDOWS\\explorer.exe', launcher: null, imageExists: true, signed: true });
  const userinit = run.records.filter((r) => r.entry === 'Userinit');
  assert.equal(userinit.map((r) => [r.launchString, r.imagePath, r.signed]), [
    ['C:\\Windows\\system32\\userinit.exe', 'C:\\Windows\\system32\\userinit.exe', true],
    ['C:\\Windows\\system32\\ntfsmon.exe', 'C:\\Windows\\system32\\ntfsmon.exe', false],
  ]);
});

test('an Entra ID user (S-1-12-1-…): its Run key, its own %APPDATA% and %LOCALAPPDATA%, never the collecting account\'s', () => {
  const loc = `HKU\\${ENTRA}\\${RUN}`;
  const one = entry('OneDrive', loc);
  assert.is(one.profile, ENTRA);
  assert.is(one.imagePath, 'C:\\Users\\ana.silva\\AppData\\Local\\Microsoft\\OneDrive\\OneDrive.exe');
  assert.is(one.launchString, '"%LOCALAPPDATA%\\Microsoft\\OneDrive\\OneDrive.exe" /background');
  assert.equal(image(entry('SyncUI', loc)), { imagePath: 'C:\\Users\\ana.silva\\AppData\\Roaming\\Sync\\syncui.dll', launcher: 'C:\\WINDOWS\\System32\\rundll32.exe', imageExists: true, signed: false });
  assert.equal(image(entry('Helper', loc)), { imagePath: 'C:\\Users\\ana.silva\\AppData\\Roaming\\helper\\h.hta', launcher: 'C:\\WINDOWS\\System32\\mshta.exe', imageExists: false, signed: null });
  assert.equal(image(entry('Tool', loc)), { imagePath: 'C:\\Users\\ana.silva\\Tools\\tool.exe', launcher: 'C:\\WINDOWS\\System32\\cmd.exe', imageExists: true, signed: false }, 'cmd /c start "" X');
  assert.not.ok(run.records.some((r) => /responder/i.test(JSON.stringify(r))), 'nothing resolved with the collecting account\'s profile');
});

test('launchers: regsvr32 /i:file, a bare name through the machine Path, wscript, a quoted DLL with spaces behind rundll32, powershell -File', () => {
  const loc = `HKU\\${KIOSK}\\${RUN}`;
  assert.equal(image(entry('Register', loc)), { imagePath: 'C:\\Users\\kiosk\\AppData\\Local\\Temp\\x.sct', launcher: 'C:\\WINDOWS\\System32\\regsvr32.exe', imageExists: true, signed: false });
  assert.equal(image(entry('Notes', loc)), { imagePath: 'C:\\Program Files\\Contoso\\bin\\notes.exe', launcher: null, imageExists: true, signed: true });
  assert.equal(image(entry('Logon', loc)), { imagePath: 'C:\\Users\\kiosk\\Documents\\logon.vbs', launcher: 'C:\\WINDOWS\\System32\\wscript.exe', imageExists: true, signed: false });
  assert.equal(image(entry('\\Contoso\\Tools refresh')), { imagePath: 'C:\\Program Files\\Contoso Tools\\ct.dll', launcher: 'C:\\WINDOWS\\system32\\rundll32.exe', imageExists: true, signed: true });
  assert.equal(image(entry('\\Sched')), { imagePath: 'C:\\Users\\Public\\sched.ps1', launcher: 'C:\\WINDOWS\\System32\\WindowsPowerShell\\v1.0\\powershell.exe', imageExists: true, signed: false });
});

test('a svchost service\'s image is its ServiceDll (svchost kept as the launcher); drivers that can load, \\??\\ resolved, disabled ones left out', () => {
  assert.equal(image(entry('LicenseManager')), { imagePath: 'C:\\WINDOWS\\System32\\LicenseManagerSvc.dll', launcher: 'C:\\WINDOWS\\system32\\svchost.exe', imageExists: true, signed: true });
  assert.equal(image(entry('WinUpdSvc')), { imagePath: 'C:\\ProgramData\\WinUpd\\wupd.dll', launcher: 'C:\\WINDOWS\\system32\\svchost.exe', imageExists: true, signed: false });
  assert.is(entry('WinUpdSvc').launchString, 'C:\\WINDOWS\\system32\\svchost.exe -k netsvcs');
  const drivers = run.records.filter((r) => r.category === 'Drivers');
  assert.equal(drivers.map((r) => [r.entry, r.imagePath, r.signed]), [
    ['ACPI', 'C:\\WINDOWS\\system32\\drivers\\ACPI.sys', true],
    ['wdmon', 'C:\\ProgramData\\drv\\wdmon.sys', false],
  ]);
});

test('StartupApproved: entries switched off in Task Manager (first byte odd) are enabled false, the rest true; per hive, Run and Run32', () => {
  const state = (name: string) => entry(name).enabled;
  assert.equal([state('SecurityHealth'), state('Contoso Agent'), state('PSUpdater'), state('Adobe ARM')], [true, false, true, false]);
  const loc = `HKU\\${ENTRA}\\${RUN}`;
  assert.equal([entry('OneDrive', loc).enabled, entry('Tool', loc).enabled, entry('SyncUI', loc).enabled], [true, false, true]);
});

test('a task whose security descriptor was removed (hidden from Get-ScheduledTask) is found in TaskCache\\Tree and read from its XML', () => {
  const hidden = run.records.filter((r) => r.hidden === true);
  assert.equal(hidden.map((r) => [r.location, r.entry, r.launchString, r.imagePath, r.signed, r.profile, r.time]), [
    ['Task Scheduler (hidden)', '\\Microsoft\\Windows\\UpdateSvc\\Sync', 'C:\\ProgramData\\WinUpd\\winupd.exe -s', 'C:\\ProgramData\\WinUpd\\winupd.exe', false, 'NT AUTHORITY\\SYSTEM', '2025-11-20T03:14:00.000Z'],
  ]);
  assert.match(hidden[0].description, /security descriptor/);
  assert.match(run.stderrLog, /\[warning\] hidden scheduled task \\Microsoft\\Windows\\UpdateSvc\\Sync/);
});

test('a profile whose hive is not loaded is named in a status record and a warning; system profiles are not', () => {
  const s = run.records.filter((r) => r.category === 'Status' && r.status === 'hive-not-loaded');
  assert.equal(s.map((r) => [r.location, r.profile]), [[`HKU\\${OLD}`, OLD]]);
  assert.match(s[0].description, /C:\\Users\\olduser/);
  assert.match(run.stderrLog, /\[warning\] the registry hive of S-1-5-21-1111111111-2222222222-3333333333-1002 \(C:\\Users\\olduser\) is not loaded/);
});

test('triage facts: the payload behind a launcher is what the rules weigh; status records give no facts to flag', () => {
  const sync = deriveFacts('autorun', entry('SyncUI', `HKU\\${ENTRA}\\${RUN}`))!;
  assert.equal([sync.userWritable, sync.imageMissing, sync.bareImage], [true, false, false]);
  const shell = deriveFacts('autorun', entry('Shell'))!;
  assert.equal([shell.imageMissing, shell.folder], [false, 'windows-root']);
  for (const r of run.records.filter((x) => x.category === 'Status')) {
    const f = deriveFacts('autorun', r)!;
    assert.equal([f.imageMissing, f.userWritable, f.targets], [false, false, []]);
  }
});

const STARTUP_KIOSK = 'C:\\Users\\kiosk\\AppData\\Roaming\\Microsoft\\Windows\\Start Menu\\Programs\\Startup';
const STARTUP_ALL = 'C:\\ProgramData\\Microsoft\\Windows\\Start Menu\\Programs\\StartUp';

test('Startup folders: a shortcut is what it starts (target and arguments, read from its bytes), other files are themselves, desktop.ini is not an autostart', () => {
  const usb = entry('USB Key.lnk', STARTUP_ALL);
  assert.equal(image(usb), { imagePath: 'C:\\Program Files (x86)\\HDZB_USBKEY_NEW1G\\HDZB_USBKEY_NEW1G.exe', launcher: null, imageExists: true, signed: true });
  assert.is(usb.shortcut, `${STARTUP_ALL}\\USB Key.lnk`);
  assert.is(usb.profile, 'System-wide');
  // A USB worm's shortcut: cmd opens the folder, then runs the program beside it.
  const worm = entry('DeviceManager.lnk', STARTUP_KIOSK);
  assert.is(worm.launchString, 'C:\\Windows\\System32\\cmd.exe /c start _ & _\\DeviceManager.exe & exit');
  assert.equal([worm.launcher, worm.imagePath, worm.profile], ['C:\\Windows\\System32\\cmd.exe', '_\\DeviceManager.exe', KIOSK]);
  // Padded arguments: what Windows runs, not what Explorer's Target box shows.
  const padded = entry('Documents.lnk', STARTUP_KIOSK);
  assert.match(padded.launchString, /^C:\\Windows\\System32\\cmd\.exe \/c "set PATH=.*dokazatelstva\.zip.*unzip\.exe/s);
  const broken = entry('broken.lnk', STARTUP_KIOSK);
  assert.equal([broken.launchString, broken.imagePath], [null, null]);
  assert.match(broken.description, /^shortcut not read: cut short: 60 bytes/);
  assert.match(run.stderrLog, /shortcut C:\\Users\\kiosk\\.*\\broken\.lnk: cut short/);
  const bat = entry('svc.bat', STARTUP_KIOSK);
  assert.equal([bat.imagePath, bat.imageExists], [`${STARTUP_KIOSK}\\svc.bat`, true]);
  assert.not.ok(run.records.some((r) => r.entry === 'desktop.ini'));
});

test('scheduled tasks with a COM-handler action: the image is the class\'s InprocServer32 DLL, variables expanded; an unregistered class is said, with no image made up', () => {
  const sounds = entry('\\Microsoft\\Windows\\Multimedia\\SystemSoundsService');
  assert.equal([sounds.imagePath, sounds.signed, sounds.comHandler, sounds.launchString], ['C:\\WINDOWS\\System32\\PlaySndSrv.dll', true, '{2DEA658F-54C1-4227-AF9B-260AB5FC3543}', '{2DEA658F-54C1-4227-AF9B-260AB5FC3543}']);
  const odd = entry('\\OneDrive Reporting');
  assert.equal([odd.imagePath, odd.signed, odd.launchString], ['C:\\Users\\Public\\Libraries\\odrep.dll', false, '{5C2B8A1E-7D3F-4E96-9A0B-1F2E3D4C5B6A} telemetry']);
  const orphan = entry('\\Orphan handler');
  assert.equal([orphan.imagePath, orphan.enabled], [null, false]);
  assert.match(orphan.description, /COM handler \{00000000-1111-2222-3333-444444444444\} is not registered under HKLM\\SOFTWARE\\Classes\\CLSID/);
});

test('rules on them: shortcuts handing a command line to cmd fire magpie-autorun-shortcut-interpreter, an application\'s shortcut does not; an unsigned COM handler in Public is high', () => {
  const rules = loadRules();
  const fired = (r: any) => {
    const rec = { ...r, facts: deriveFacts('autorun', r) };
    return rules.filter((x) => x.def.logsource.category === 'autorun' && x.match(rec)).map((x) => x.def.id).sort();
  };
  assert.ok(fired(entry('DeviceManager.lnk')).includes('magpie-autorun-shortcut-interpreter'));
  assert.ok(fired(entry('Documents.lnk')).includes('magpie-autorun-shortcut-interpreter'));
  assert.equal(fired(entry('USB Key.lnk')), []);
  assert.equal(fired(entry('\\Microsoft\\Windows\\Multimedia\\SystemSoundsService')), []);
  assert.ok(fired(entry('\\OneDrive Reporting')).includes('magpie-autorun-unsigned-user-writable'));
});

test('persistence beyond Run keys: IFEO debuggers and SilentProcessExit monitors, AppInit DLLs, LSA packages by name in System32, netsh helpers, WMI consumers with their filter', () => {
  const IFEO = 'HKLM\\SOFTWARE\\Microsoft\\Windows NT\\CurrentVersion\\Image File Execution Options';
  const sethc = entry('Debugger', `${IFEO}\\sethc.exe`);
  assert.equal([sethc.category, sethc.hijacks, sethc.imagePath, sethc.signed], ['Image hijacks', 'sethc.exe', 'C:\\Windows\\System32\\cmd.exe', true]);
  const mon = entry('MonitorProcess');
  assert.equal([mon.hijacks, mon.imagePath, mon.signed], ['notepad.exe', 'C:\\ProgramData\\WinUpd\\winupd.exe', false]);
  assert.not.ok(run.records.some((r) => r.location.endsWith('\\msedge.exe')), 'MitigationOptions alone is no hijack');
  const appinit = entry('AppInit_DLLs', 'HKLM\\SOFTWARE\\Microsoft\\Windows NT\\CurrentVersion\\Windows');
  assert.equal([appinit.imagePath, appinit.enabled], ['C:\\ProgramData\\WinUpd\\wupd.dll', true]);
  assert.equal(entry('Security Packages: mimilib').imagePath, 'C:\\WINDOWS\\System32\\mimilib.dll');
  assert.equal(entry('Authentication Packages: msv1_0').signed, true);
  assert.not.ok(run.records.some((r) => r.entry === 'Security Packages: '), 'the empty "" package is no package');
  assert.equal(entry('dhcpclient').imagePath, 'C:\\WINDOWS\\System32\\dhcpcmonitor.dll');
  const wmi = entry('Updater', 'WMI root/subscription');
  assert.equal([wmi.consumerType, wmi.enabled, wmi.launcher], ['CommandLine', true, null]);
  assert.match(wmi.wmiFilter, /Win32_PerfFormattedData_PerfOS_System/);
  const script = entry('Unbound script');
  assert.equal([script.consumerType, script.scriptingEngine, script.enabled, script.imagePath], ['ActiveScript', 'VBScript', false, null]);
  assert.match(script.launchString, /WScript\.Shell/);
  assert.not.ok(run.records.some((r) => r.entry === 'SCM Event Log Consumer'), 'Windows\' own event-log consumer runs nothing');
});

test.run();
