// Golden tests: each fixture of a responder's existing tool output → the normalized records it
// must give (test/fixtures/import/expected/*.json; only scripts/update-golden.ts rewrites them).
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { IMPORTERS, importFiles } from '../lib/importers/import.ts';
import { DateReader, parseDate } from '../lib/importers/dates.ts';
import { parseXmlRoots as parseXml } from '../lib/xml.ts';
import { autorunRecords } from '../lib/importers/autoruns.ts';
import { triageFolder } from '../lib/triage/engine.ts';
import { loadRules } from '../lib/triage/rules.ts';
import { RECORD_SCHEMAS } from '../lib/records/schemas.ts';
import { verifyEvidence } from '../lib/evidence/verify.ts';
import { cli, readJson, readJsonl, tempDir } from './helpers.ts';
import { IMPORT_CASES, IMPORT_DIR as DIR, importFixture, importGoldenFile } from './fixtures/golden.ts';

for (const [kind, file] of IMPORT_CASES) {
  test(`${kind}: ${file} gives the golden records, each valid for its kind`, () => {
    const result = importFixture(kind, file);
    const golden = importGoldenFile(file);
    assert.ok(existsSync(golden), `no golden file ${golden}: run scripts/update-golden.ts and review what it wrote`);
    assert.equal(JSON.parse(JSON.stringify(result)), readJson(golden));
    for (const r of result.records) {
      const v = RECORD_SCHEMAS[result.kind].safeParse(r);
      assert.ok(v.success, `${file}: ${JSON.stringify(r)}: ${!v.success && v.error.message}`);
    }
  });
}

test('UTF-16 with and without BOM, UTF-8 with and without BOM read alike', () => {
  const a = IMPORTERS.autoruns.importer(readFileSync(join(DIR, 'autorunsc-infected-utf16.csv')), 'a');
  const b = IMPORTERS.autoruns.importer(readFileSync(join(DIR, 'autorunsc-nobom-utf16.csv')), 'b');
  assert.equal(b.records, a.records.slice(0, b.records.length));
  const c = IMPORTERS.autoruns.importer(readFileSync(join(DIR, 'autorunsc-clean-utf8.csv')), 'c');
  const d = IMPORTERS.autoruns.importer(readFileSync(join(DIR, 'autorunsc-clean-utf8bom.csv')), 'd');
  assert.equal(c.records.map((r) => r.entry), d.records.map((r) => r.entry));
  assert.ok(c.warnings.some((w) => /without -s/.test(w)) && c.warnings.some((w) => /without -h/.test(w)));
});

test('location-header rows (empty Entry) are not records; signer verdicts become signed', () => {
  const r = IMPORTERS.autoruns.importer(readFileSync(join(DIR, 'autorunsc-infected-utf16.csv')), 'x').records;
  assert.ok(r.every((x) => x.entry));
  assert.is(r.find((x) => x.entry === 'SecurityHealth')!.signed, true);
  assert.is(r.find((x) => x.entry === 'svc')!.signed, false);
  assert.is(r.find((x) => x.entry === 'Updater')!.signed, null);
  assert.is(r.find((x) => x.entry === 'WindowsUpdater')!.time, '2025-11-26T04:00:12.000Z');
});

test('netstat: IPv6 zone ids, *:* UDP rows, -b owners and refusals', () => {
  const r = IMPORTERS.netstat.importer(readFileSync(join(DIR, 'netstat-anob.txt')), 'x').records;
  assert.equal(r.map((x) => x.processName), ['svchost.exe', null, 'winupdate.exe', 'mssecsvc.exe', 'svchost.exe', 'svchost.exe', 'svchost.exe']);
  const ano = IMPORTERS.netstat.importer(readFileSync(join(DIR, 'netstat-ano.txt')), 'x').records;
  assert.ok(ano.some((x) => x.localAddress === 'fe80::1c2d:3e4f:5a6b:7c8d%12' && x.remoteAddress === 'fe80::1%12' && x.state === 'CloseWait'));
  assert.ok(ano.some((x) => x.protocol === 'udp' && x.localAddress === 'fe80::1c2d:3e4f:5a6b:7c8d%12' && x.localPort === 1900 && x.remoteAddress === null));
});

test('bad input names the file and says what was expected', () => {
  const says = (re: RegExp) => (e: unknown) => re.test(String(e));
  assert.throws(() => IMPORTERS.autoruns.importer(Buffer.from('a,b\n1,2\n'), 'x.csv'), says(/x\.csv: not autorunsc CSV: expected the columns "Entry Location" and "Entry"/));
  assert.throws(() => IMPORTERS.netstat.importer(Buffer.from('hello\n'), 'n.txt'), says(/n\.txt: not netstat -ano output/));
  assert.throws(() => IMPORTERS.defender.importer(Buffer.from('{oops'), 'd.json'), says(/d\.json: not JSON/));
  const r = cli(['import', 'autoruns', join(DIR, 'netstat-ano.txt'), '--host', 'WS1', '--out', tempDir()]);
  assert.is(r.code, 2);
  assert.match(r.stderr, /netstat-ano\.txt: not autorunsc CSV/);
});

test('magpie import makes an evidence folder of the usual shape, marked imported, source kept and hashed', async () => {
  const out = tempDir();
  const r = cli(['import', 'netstat', join(DIR, 'netstat-ano.txt'), join(DIR, 'netstat-anob.txt'), '--host', 'WS-FIN-042', '--case', 'IR-7', '--out', out]);
  assert.is(r.code, 0, r.stderr);
  const dir = /evidence: (.+)/.exec(r.stdout)![1].trim();
  const m = readJson(join(dir, 'manifest.json'));
  assert.is(m.target.transport, 'import');
  assert.is(m.imported.kind, 'netstat');
  assert.equal(m.imported.files.map((f: any) => f.name), ['netstat-ano.txt', 'netstat-anob.txt']);
  assert.is(m.imported.files[0].sha256, m.files.find((f: any) => f.path === 'steps/01-import-netstat/files/netstat-ano.txt').sha256);
  assert.equal(m.steps.map((s: any) => [s.kind, s.status, s.records]), [['connection', 'ok', 25], ['connection', 'ok', 7]]);
  assert.is(readJsonl(join(dir, 'steps', '01-import-netstat', 'records.jsonl')).length, 25);
  assert.ok((await verifyEvidence(dir)).ok);
  void importFiles;
});

// ---- Imports that never lose data silently (issue 8) ----

const read = (kind: string, file: string, opts = {}) => IMPORTERS[kind].importer(readFileSync(join(DIR, file)), file, opts);
const times = (kind: string, file: string, opts = {}) => Object.fromEntries(read(kind, file, opts).records.map((r) => [r.entry ?? r.name, r.time ?? r.startTime]));

test('dates: every documented shape reads to ISO UTC', () => {
  const cases: [unknown, string | null, ('dmy' | 'mdy')?][] = [
    ['7/12/2012 12:29 AM', '2012-07-12T00:29:00.000Z'], // autorunsc without -t: no seconds, 12-hour
    ['7/12/2012 12:29 PM', '2012-07-12T12:29:00.000Z'],
    ['11/26/2025 4:05:09 PM', '2025-11-26T16:05:09.000Z'], // en-US with seconds
    ['13/02/2024 16:05', '2024-02-13T16:05:00.000Z', 'dmy'], // en-GB, 24-hour, no seconds
    ['02/03/2024 09:15', '2024-03-02T09:15:00.000Z', 'dmy'],
    ['02/03/2024 09:15', '2024-02-03T09:15:00.000Z', 'mdy'],
    ['26.11.2025 08:02:00', '2025-11-26T08:02:00.000Z'], // de-DE: dots are day first whatever the order
    ['26.11.2025', '2025-11-26T00:00:00.000Z'], // a date alone
    ['2025/11/26 16:05:03', '2025-11-26T16:05:03.000Z'], // ja-JP / zh-CN: year first
    ['26/11/25 16:05', '2025-11-26T16:05:00.000Z', 'dmy'], // two-digit year
    ['20251126-091503', '2025-11-26T09:15:03.000Z'], // autorunsc -t
    ['20251126090005.500000+060', '2025-11-26T08:00:05.500Z'], // WMI DMTF, offset in minutes
    ['/Date(1764131000000)/', '2025-11-26T04:23:20.000Z'], // ConvertTo-Json on 5.1
    ['2025-11-26T06:23:20.5+01:00', '2025-11-26T05:23:20.500Z'], // ConvertTo-Json on 7
    ['2025-11-26T04:23:20.1234567Z', '2025-11-26T04:23:20.123Z'], // wevtutil: 7 fraction digits
    ['2025-11-26T04:01:10.123456789Z', '2025-11-26T04:01:10.123Z'], // Velociraptor: nanoseconds
    ['2025-11-26 04:24:20.000000', '2025-11-26T04:24:20.000Z'], // evtx converters, no zone
    ['2025-11-26T04:00', '2025-11-26T04:00:00.000Z'], // ISO without seconds
    [1764131000, '2025-11-26T04:23:20.000Z'], // epoch seconds
    ['31/02/2024 10:00', null, 'dmy'], // no such day: never rolled into March
    ['13/02/2024 16:05', null, 'mdy'], // month 13
    ['13:05 PM 1/1/2024', null],
    ['26 nov. 2025 08:02', null],
  ];
  for (const [v, want, order] of cases) assert.is(parseDate(v, order ?? 'mdy'), want, `${JSON.stringify(v)} (${order ?? 'mdy'})`);
});

test('dates: autorunsc times without seconds are read, not nulled (en-US, UTF-16, 12-hour)', () => {
  const r = read('autoruns', 'autorunsc-enus-utf16.csv');
  assert.equal(times('autoruns', 'autorunsc-enus-utf16.csv'), {
    SecurityHealth: '2012-07-12T00:29:00.000Z',
    'VMware User Process': '2025-11-26T16:05:00.000Z',
    'n/a': '2024-02-03T12:00:00.000Z',
    '\\Updater': '2025-11-26T00:01:00.000Z',
  });
  assert.ok(!r.warnings.some((w) => /date/i.test(w)), r.warnings.join('\n'));
});

test('dates: day/month order comes from the file (13/02 → dd/MM for every row), ambiguity is said, --date-order settles it', () => {
  // en-GB: "13/02/2024" can only be dd/MM, so "02/03/2024" in the same file is 2 March.
  assert.equal(times('autoruns', 'autorunsc-engb.csv'), { SecurityHealth: '2024-02-13T16:05:00.000Z', OneDrive: '2024-03-02T09:15:00.000Z', Teams: '2023-12-01T23:59:00.000Z' });
  assert.ok(!read('autoruns', 'autorunsc-engb.csv').warnings.some((w) => /day and month/.test(w)));
  // Nothing above 12: read as MM/dd, and said so, naming the option.
  const amb = read('autoruns', 'autorunsc-ambiguous.csv');
  assert.is(amb.records[0].time, '2024-02-03T09:15:00.000Z');
  assert.ok(amb.warnings.some((w) => /autorunsc-ambiguous\.csv: day and month cannot be told apart.*"02\/03\/2024 09:15:00".*--date-order dmy/.test(w)), amb.warnings.join('\n'));
  const dmy = read('autoruns', 'autorunsc-ambiguous.csv', { dateOrder: 'dmy' });
  assert.equal(dmy.records.map((r) => r.time), ['2024-03-02T09:15:00.000Z', '2024-06-05T18:30:00.000Z']);
  assert.ok(!dmy.warnings.some((w) => /day and month/.test(w)), 'the option settles it: no warning');
  // Forcing mdy on an en-GB file: 13/02 cannot be read, and that is counted, not silent.
  const forced = read('autoruns', 'autorunsc-engb.csv', { dateOrder: 'mdy' });
  assert.is(forced.records.find((r) => r.entry === 'SecurityHealth')!.time, null);
  assert.ok(forced.warnings.some((w) => /1 date could not be read.*"13\/02\/2024 16:05"/.test(w)), forced.warnings.join('\n'));
  // Process exports: de-DE (semicolons, dd.MM.yyyy) and WMI's DMTF form.
  assert.equal(times('processes-csv', 'get-process-de.csv'), { 'explorer.exe': '2025-11-26T08:02:00.000Z', 'winword.exe': '2025-02-03T16:45:10.000Z', System: null });
  assert.equal(times('processes-csv', 'win32_process-wmi.csv'), { 'services.exe': '2025-11-26T08:00:05.500Z', 'svchost.exe': '2025-11-26T04:30:00.000Z', System: null });
});

test('dates: an unreadable date is a counted warning naming the values, never a silent null', () => {
  const csv = '"Time","Entry Location","Entry","Enabled","Signer","Image Path","SHA-256"\n' +
    '"26 nov. 2025 08:02","HKLM\\Run","A","enabled","(Verified) X","c:\\a.exe",""\n' +
    '"yesterday","HKLM\\Run","B","enabled","(Verified) X","c:\\b.exe",""\n' +
    '"11/26/2025 4:05 PM","HKLM\\Run","C","enabled","(Verified) X","c:\\c.exe",""\n';
  const r = IMPORTERS.autoruns.importer(Buffer.from(csv), 'fr.csv');
  assert.equal(r.records.map((x) => x.time), [null, null, '2025-11-26T16:05:00.000Z']);
  const w = r.warnings.filter((x) => /could not be read/.test(x));
  assert.is(w.length, 1, r.warnings.join('\n'));
  assert.match(w[0], /^fr\.csv: 2 dates could not be read and are left empty: "26 nov\. 2025 08:02" \(entry 1 "A"\), "yesterday" \(entry 2 "B"\)$/);
  const d = new DateReader('x').decide([]);
  assert.is(d.iso(''), null);
  assert.is(d.iso('N/A'), null);
  assert.equal(d.counts().unreadable, 0, 'empty and N/A are no date, not an unreadable one');
});

test('Get-Process Parent column ("System.Diagnostics.Process (services)") becomes parentName', () => {
  const r = read('processes-csv', 'get-process-ps7.csv').records;
  assert.equal(r.map((p) => [p.name, p.parentName]), [['services.exe', 'wininit.exe'], ['svchost.exe', 'services.exe'], ['svchost.exe', 'explorer.exe'], ['smss.exe', 'System'], ['orphan.exe', null]]);
  assert.ok(!('parentName' in read('processes-csv', 'get-process.csv').records[0]), 'no Parent column: nothing is invented');
});

test('netstat -an (no PID): connections kept without owners, one warning; both ownership spellings are normal lines', () => {
  const an = read('netstat', 'netstat-an.txt');
  assert.is(an.records.length, 8);
  assert.ok(an.records.every((r) => r.pid === null));
  assert.ok(an.records.some((r) => r.remoteAddress === '104.243.33.118' && r.remotePort === 4444 && r.state === 'Established'));
  assert.ok(an.records.some((r) => r.protocol === 'udp' && r.localAddress === '::1' && r.localPort === 1900));
  assert.equal(an.warnings, ['netstat-an.txt: netstat ran without -o, so the 8 connections have no owning process; netstat -ano gives owners']);
  const anb = read('netstat', 'netstat-anb.txt');
  assert.equal(anb.records.map((r) => [r.localPort, r.processName]), [[135, 'svchost.exe'], [445, null], [5040, null], [51300, 'winupdate.exe'], [123, 'svchost.exe']]);
  assert.is(anb.warnings.length, 1, anb.warnings.join('\n'));
  assert.ok(!anb.warnings.some((w) => /unrecognised/.test(w)));
  assert.equal(read('netstat', 'netstat-ano.txt').warnings, [], '-ano says nothing about owners');
});

test('autorunsc: n/a entries kept; -x XML and Import-Csv | ConvertTo-Json (UTF-16) read like the CSV', () => {
  assert.ok(read('autoruns', 'autorunsc-enus-utf16.csv').records.some((r) => r.entry === 'n/a' && r.location === 'HKLM\\SOFTWARE\\Classes\\Protocols\\Filter'));
  const xml = read('autoruns', 'autorunsc-x.xml').records;
  assert.equal(xml.map((r) => r.entry), ['SecurityHealth', 'WindowsUpdater', 'n/a', '\\Tasks & "Updates" <daily>']);
  const wu = xml.find((r) => r.entry === 'WindowsUpdater')!;
  assert.is(wu.launchString, 'wscript.exe //B //E:vbscript "C:\\Users\\jdoe\\AppData\\Roaming\\Microsoft\\upd.vbs"');
  assert.is(wu.time, '2025-11-26T04:00:12.000Z');
  assert.is(xml.find((r) => r.entry === 'SecurityHealth')!.signed, true);
  assert.is(xml.at(-1)!.signed, false);
  assert.is(xml.at(-1)!.sha256, 'ed01ebfbc9eb5bbea545af4d01bf5f1071661840480439c6e5babe8e080e41aa');
  const json = read('autoruns', 'autorunsc-importcsv.json');
  assert.equal(json.records.map((r) => [r.entry, r.time]), [['SecurityHealth', '2012-07-12T00:29:00.000Z'], ['Updater', '2025-11-26T04:01:00.000Z'], ['n/a', '2024-02-03T12:00:00.000Z']]);
  assert.throws(() => IMPORTERS.autoruns.importer(Buffer.from('<autoruns><item><location>x</location></autoruns>'), 'bad.xml'), (e: unknown) => /bad\.xml: not autorunsc XML: line 1: <\/autoruns> closes <item>/.test(String(e)));
  assert.throws(() => parseXml('<!DOCTYPE x [<!ENTITY a "b">]><x>&a;</x>'), /DTDs/);
});

test('Defender: evtx parsers (JSONL, "Record N", xmltodict), Get-WinEvent | ConvertTo-Json, wevtutil XML; 5012/5010/5001 and Disable* 5007 are protection-disabled', () => {
  const summary = (file: string) => read('defender', file).records.map((r) => `${r.eventId} ${r.type} ${r.threatName ?? r.detail} ${r.time}`);
  const threat1116 = '1116 threat Trojan:JS/Nemucod!MSR 2025-11-26T04:23:20.123Z';
  const scan5012 = '5012 protection-disabled Scanning for viruses is disabled 2025-11-26T05:40:00.000Z';
  assert.equal(summary('defender-evtx.jsonl'), [
    threat1116,
    scan5012,
    '5007 protection-disabled HKLM\\SOFTWARE\\Microsoft\\Windows Defender\\Real-Time Protection\\DisableRealtimeMonitoring = 0x1 2025-11-26T05:41:00.000Z',
    '5007 exclusion HKLM\\SOFTWARE\\Microsoft\\Windows Defender\\Exclusions\\Paths\\C:\\ProgramData\\kbtlxyzqjf 2025-11-26T05:42:00.000Z',
  ]);
  assert.equal(read('defender', 'defender-evtx.jsonl').warnings, ['defender-evtx.jsonl: 3 Defender events do not become a record (health reports, updates, settings other than exclusions or protection turned off): 1150 ×2, 5007']);
  assert.equal(summary('defender-evtx-records.json'), [threat1116, scan5012]);
  assert.equal(summary('defender-wevtutil.xml'), [threat1116, scan5012, '5007 exclusion HKLM\\SOFTWARE\\Microsoft\\Windows Defender\\Exclusions\\Processes\\powershell.exe 2025-11-26T05:42:00.000Z']);
  assert.equal(summary('defender-xmltodict.json'), [
    '1117 threat Trojan:JS/Nemucod!MSR 2025-11-26T04:24:20.000Z',
    '5001 protection-disabled Real-time protection is disabled 2025-11-26T05:46:40.000Z',
    '5010 protection-disabled Scanning for malware and other potentially unwanted software is disabled 2025-11-26T05:46:41.000Z',
  ]);
  assert.equal(summary('defender-getwinevent-ps7.json'), ['5012 protection-disabled Scanning for viruses is disabled 2025-11-26T05:40:00.123Z', '1116 threat Backdoor:MSIL/Bladabindi 2025-11-26T05:23:20.500Z']);
  const ev = read('defender', 'defender-evtx.jsonl').records[0];
  assert.equal([ev.severity, ev.category, ev.user, ev.processName, ev.detectionSource, ev.resources], ['Severe', 'Trojan', 'CORP\\jdoe', 'C:\\Windows\\explorer.exe', 'Real-Time Protection', ['C:\\Users\\jdoe\\Downloads\\invoice_2025.zip->invoice.js']]);
  assert.is(read('defender', 'defender-xmltodict.json').records[0].action, 'Quarantine');
  assert.throws(() => IMPORTERS.defender.importer(Buffer.from('<Event><System><EventID>1</EventID></System>'), 'w.xml'), (e: unknown) => /w\.xml: not wevtutil XML: unterminated element <Event>/.test(String(e)));
});

test('Velociraptor: NetstatEnriched, Pslist, StartupItems and Sysinternals.Autoruns JSONL become connections, processes, autoruns', () => {
  const net = read('velociraptor', 'velociraptor-netstatenriched.jsonl');
  assert.is(net.kind, 'connection');
  const rat = net.records.find((r) => r.remotePort === 4444)!;
  assert.equal([rat.pid, rat.processName, rat.state, rat.localAddress, rat.localPort, rat.remoteAddress, rat.createdTime, rat.signed, rat.user], [3500, 'rdpclip.exe', 'Established', '10.20.30.42', 51300, '104.243.33.118', '2025-11-26T04:01:10.123Z', false, 'CORP\\jdoe']);
  assert.equal(net.records.map((r) => r.state), ['Listen', 'Established', 'SynSent', 'Listen', null]);
  assert.equal(net.records.at(-1)!.remoteAddress, null, 'UDP has no remote end');
  const ps = read('velociraptor', 'velociraptor-pslist.jsonl');
  assert.is(ps.kind, 'process');
  assert.equal(ps.records.map((p) => [p.pid, p.ppid, p.name, p.signed, p.signer]), [[4, 0, 'System', null, null], [712, 600, 'services.exe', true, 'Microsoft Windows'], [1200, 1180, 'explorer.exe', true, 'Microsoft Windows'], [3500, 1200, 'rdpclip.exe', false, null]]);
  assert.is(ps.records[3].sha256, 'ed01ebfbc9eb5bbea545af4d01bf5f1071661840480439c6e5babe8e080e41aa');
  assert.is(ps.records[3].startTime, '2025-11-26T04:01:00.123Z');
  const st = read('velociraptor', 'velociraptor-startupitems.jsonl');
  assert.is(st.kind, 'autorun');
  assert.equal(st.records.map((r) => [r.location, r.entry, r.imagePath, r.enabled]), [
    ['HKLM\\SOFTWARE\\Microsoft\\Windows\\CurrentVersion\\Run', 'SecurityHealth', '%windir%\\system32\\SecurityHealthSystray.exe', true],
    ['HKU\\S-1-5-21-1004336348-1177238915-682003330-1104\\SOFTWARE\\Microsoft\\Windows\\CurrentVersion\\Run', 'OneDrive', 'C:\\Users\\jdoe\\AppData\\Local\\Microsoft\\OneDrive\\OneDrive.exe', true],
    ['HKLM\\SOFTWARE\\Microsoft\\Windows\\CurrentVersion\\Policies\\Explorer\\Run', 'svc', 'C:\\ProgramData\\svc\\svc.exe', false],
    ['C:\\Users\\jdoe\\AppData\\Roaming\\Microsoft\\Windows\\Start Menu\\Programs\\Startup', 'updater.exe', 'C:\\Users\\jdoe\\AppData\\Roaming\\Microsoft\\Windows\\Start Menu\\Programs\\Startup\\updater.exe', true],
  ]);
  assert.is(st.records[3].sha256, 'ed01ebfbc9eb5bbea545af4d01bf5f1071661840480439c6e5babe8e080e41aa');
  const au = read('velociraptor', 'velociraptor-autoruns.jsonl');
  assert.equal(au.records.map((r) => [r.entry, r.signed, r.time]), [['SecurityHealth', true, '2025-03-01T10:15:00.000Z'], ['kbtlxyzqjf', false, '2025-11-26T04:02:00.000Z']]);
  // A file that mixes artifacts: the majority's rows are read and the rest counted, not dropped silently.
  const mixed = Buffer.concat([readFileSync(join(DIR, 'velociraptor-pslist.jsonl')), readFileSync(join(DIR, 'velociraptor-netstatenriched.jsonl')).subarray(0, 0), Buffer.from(readFileSync(join(DIR, 'velociraptor-startupitems.jsonl'), 'utf8').split('\n')[0] + '\n')]);
  const m = IMPORTERS.velociraptor.importer(mixed, 'mixed.jsonl');
  assert.is(m.records.length, 4);
  assert.ok(m.warnings.some((w) => /mixed\.jsonl: 1 row is not Windows\.System\.Pslist/.test(w)), m.warnings.join('\n'));
  assert.throws(() => IMPORTERS.velociraptor.importer(Buffer.from('{"a":1}\n{"b":2}\n'), 'v.jsonl'), (e: unknown) => /v\.jsonl: not a Velociraptor result this importer knows/.test(String(e)));
});

test('magpie import with several kinds for one host: one folder, one step per source, captured separately, and triage joins connections to process names', async () => {
  const out = tempDir();
  const r = cli(['import', '--host', 'WS-042', '--case', 'IR-8', '--out', out, `netstat:${join(DIR, 'netstat-ano.txt')}`, `tasklist:${join(DIR, 'tasklist.csv')}`]);
  assert.is(r.code, 0, r.stderr);
  const dir = /evidence: (.+)/.exec(r.stdout)![1].trim();
  const m = readJson(join(dir, 'manifest.json'));
  assert.is(m.imported.kind, 'netstat+tasklist');
  assert.equal(m.imported.files.map((f: any) => f.name), ['netstat-ano.txt', 'tasklist.csv']);
  assert.equal(m.steps.map((s: any) => [s.id, s.kind, s.records, s.params.capturedSeparately]), [['import-netstat', 'connection', 25, true], ['import-tasklist', 'process', 6, true]]);
  assert.is(m.playbook.params.capturedSeparately, true);
  assert.match(m.playbook.params.note, /captured separately/);
  assert.ok((await verifyEvidence(dir)).ok);
  // A rule that can only match when the connection got its process name from the tasklist step.
  const rules = tempDir();
  writeFileSync(join(rules, 'joined.yaml'), 'title: joined\nid: test-joined-name\nlevel: low\ndescription: a connection named by the joined process\nlogsource: { category: connection }\ndetection:\n  selection:\n    processName: mssecsvc.exe\n    remotePort: 445\n  condition: selection\n');
  const t = await triageFolder(dir, { rules: loadRules([rules], false) });
  assert.is(t.findings.filter((f) => f.rule.id === 'test-joined-name').length, 12, 'the 12 SMB connections of pid 2300 are named mssecsvc.exe');
  // The same two files imported apart: no join, no finding.
  const a = await importFiles('netstat', [join(DIR, 'netstat-ano.txt')], { host: 'WS-042', caseId: 'IR-8', out });
  assert.is((await triageFolder(a.dir, { rules: loadRules([rules], false) })).findings.length, 0);
});

test('magpie import: --kind pairs, the old single-kind form, --date-order, and mistakes are exit 2', () => {
  const out = tempDir();
  const r = cli(['import', '--host', 'WS-042', '--out', out, '--kind', 'velociraptor', join(DIR, 'velociraptor-pslist.jsonl'), join(DIR, 'velociraptor-netstatenriched.jsonl'), '--kind', 'autoruns', join(DIR, 'autorunsc-ambiguous.csv'), '--date-order', 'dmy']);
  assert.is(r.code, 0, r.stderr);
  const dir = /evidence: (.+)/.exec(r.stdout)![1].trim();
  const m = readJson(join(dir, 'manifest.json'));
  assert.equal(m.steps.map((s: any) => [s.id, s.kind, s.params.source]), [['import-velociraptor', 'process', 'velociraptor-pslist.jsonl'], ['import-velociraptor', 'connection', 'velociraptor-netstatenriched.jsonl'], ['import-autoruns', 'autorun', 'autorunsc-ambiguous.csv']]);
  assert.is(m.playbook.params.dateOrder, 'dmy');
  assert.is(readJsonl(join(dir, 'steps', '03-import-autoruns', 'records.jsonl'))[0].time, '2024-03-02T09:15:00.000Z');
  assert.not.match(r.stderr, /day and month/);
  const amb = cli(['import', 'autoruns', join(DIR, 'autorunsc-ambiguous.csv'), '--host', 'WS-042', '--out', out]);
  assert.is(amb.code, 0, amb.stderr);
  assert.match(amb.stderr, /magpie: warning: .*autorunsc-ambiguous\.csv: day and month cannot be told apart/);
  const one = readJson(join(/evidence: (.+)/.exec(amb.stdout)![1].trim(), 'manifest.json'));
  assert.is(one.imported.kind, 'autoruns');
  assert.ok(!('capturedSeparately' in one.playbook.params), 'one kind: nothing to say about separate captures');
  const bad = cli(['import', '--host', 'WS-042', '--out', out, '--date-order', 'ymd', 'autoruns', join(DIR, 'autorunsc-engb.csv')]);
  assert.is(bad.code, 2);
  assert.match(bad.stderr, /--date-order ymd: use dmy/);
  const nokind = cli(['import', '--host', 'WS-042', '--out', out, join(DIR, 'netstat-an.txt')]);
  assert.is(nokind.code, 2);
  assert.match(nokind.stderr, /netstat-an\.txt: no kind for this file/);
});

test('autorunsc -s: a blank Signer means no signature; without -s, or for a missing file, it stays unknown', () => {
  const row = (entry: string, signer: string, image: string) => ({ 'Entry Location': 'HKLM\\SOFTWARE\\Microsoft\\Windows\\CurrentVersion\\Run', Entry: entry, Enabled: 'enabled', Signer: signer, 'Image Path': image });
  const withS = autorunRecords(
    [row('SecurityHealth', '(Verified) Microsoft Windows', 'c:\\windows\\system32\\securityhealthsystray.exe'), row('updater', '', 'c:\\windows\\qxwvbn.exe'), row('gone', '', 'File not found: C:\\old\\app.exe')],
    'with-s.csv',
  ).records as { entry: string; signed: boolean | null }[];
  assert.equal(withS.map((r) => [r.entry, r.signed]), [['SecurityHealth', true], ['updater', false], ['gone', null]]);
  const withoutS = autorunRecords([row('updater', '', 'c:\\windows\\qxwvbn.exe')], 'without-s.csv').records as { signed: boolean | null }[];
  assert.is(withoutS[0].signed, null);
});

test.run();
