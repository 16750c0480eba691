// The prefetch step (Windows) under real pwsh. The prefetch folder is built here, in a recorded
// host's layout (files/C/Windows/Prefetch, listed by fakes.ps1's Get-ChildItem as real FileInfo
// objects with the times set below), with files written byte by byte from libscca's "Windows
// Prefetch File (PF) format": uncompressed SCCA version 30 in both of its file-information layouts
// (Windows 10: metrics at 0x130, run count at 208; 1903 and later: metrics at 0x128, run count at
// 200), version 23 (Windows 7: one last run at 128, run count at 152), a MAM-compressed one
// (Windows 10/11; ntdll does not exist here, so it stays unparsed and the step says why once),
// a broken one, and files that are not prefetch files. Then the rules on the records.
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { mkdirSync, utimesSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { FileRecord } from '../lib/records/schemas.ts';
import { loadRules, loadRuleSet } from '../lib/triage/rules.ts';
import { RuleIndex } from '../lib/triage/rule-index.ts';
import { FIXTURES, pwshOrFail, ruleHits, runWindowsStep, tempDir } from './helpers.ts';

pwshOrFail();

/** A FILETIME (100 ns since 1601) for an ISO time. */
const filetime = (iso: string) => (BigInt(Date.parse(iso)) + 11_644_473_600_000n) * 10_000n;

/** An uncompressed prefetch file: the 84-byte header, the file information of `version` (and `variant` for 30), nothing after. */
function scca(o: { version: 17 | 23 | 26 | 30 | 31; variant?: 1 | 2; name: string; hash: number; runCount: number; runs: string[] }): Buffer {
  const v2 = o.variant === 2;
  const metrics = { 17: 0x98, 23: 0xf0, 26: 0x130, 30: v2 ? 0x128 : 0x130, 31: v2 ? 0x128 : 0x130 }[o.version];
  const b = Buffer.alloc(metrics);
  b.writeUInt32LE(o.version, 0);
  b.write('SCCA', 4, 'ascii');
  b.writeUInt32LE(0x11, 8);
  b.writeUInt32LE(b.length, 12);
  b.write(o.name, 16, 'utf16le'); // then zeros: the end-of-string character
  b.writeUInt32LE(o.hash, 76);
  // File information (at 84): metrics array offset and count, then the rest as the version has it.
  b.writeUInt32LE(metrics, 84);
  b.writeUInt32LE(0, 88);
  const timesAt = o.version === 17 ? 120 : 128;
  const countAt = { 17: 144, 23: 152, 26: 208, 30: v2 ? 200 : 208, 31: v2 ? 200 : 208 }[o.version];
  o.runs.forEach((t, i) => b.writeBigInt64LE(filetime(t), timesAt + 8 * i));
  b.writeUInt32LE(o.runCount, countAt);
  return b;
}

const RUNS = ['2026-11-19T23:41:07.123Z', '2026-11-19T23:40:02.000Z', '2026-11-18T09:15:00.000Z'];
const MODIFIED = new Date('2026-11-19T23:41:17.000Z');

/** A recorded-host folder with this C:\Windows\Prefetch. */
function host(files: Record<string, Buffer | string>): string {
  const root = tempDir('magpie-prefetch-');
  const dir = join(root, 'files', 'C', 'Windows', 'Prefetch');
  mkdirSync(dir, { recursive: true });
  for (const [name, content] of Object.entries(files)) {
    writeFileSync(join(dir, name), content);
    utimesSync(join(dir, name), MODIFIED, MODIFIED);
  }
  return root;
}

const Prefetch = FileRecord.extend({});
const run = (fixtureDir: string, params: Record<string, string> = {}) => runWindowsStep('prefetch', { fixtureDir, fakes: [join(FIXTURES, 'windows', 'fakes.ps1')], params, schema: Prefetch });

const infected = () =>
  host({
    'MIMIKATZ.EXE-1A2B3C4D.pf': scca({ version: 30, variant: 1, name: 'MIMIKATZ.EXE', hash: 0x1a2b3c4d, runCount: 3, runs: RUNS }),
    'PSEXESVC.EXE-AD70946C.pf': scca({ version: 30, variant: 2, name: 'PSEXESVC.EXE', hash: 0xad70946c, runCount: 12, runs: [RUNS[1]] }),
    'NOTEPAD.EXE-D8414F97.pf': scca({ version: 23, name: 'NOTEPAD.EXE', hash: 0xd8414f97, runCount: 41, runs: [RUNS[2]] }),
    'THISISAVERYLONGPROGRAMNAMETHA-0BADF00D.pf': scca({ version: 31, variant: 2, name: 'THISISAVERYLONGPROGRAMNAMETHA', hash: 0x0badf00d, runCount: 1, runs: [RUNS[0]] }),
    // Windows 10/11: MAM\x04, the uncompressed size, then Xpress Huffman data (not decodable here).
    'CHROME.EXE-5F1C4E2A.pf': Buffer.concat([Buffer.from([0x4d, 0x41, 0x4d, 0x04]), Buffer.from([0x30, 0x01, 0, 0]), Buffer.alloc(64, 0x5a)]),
    'RCLONE.EXE-77E1D0C2.pf': Buffer.concat([Buffer.from([0x4d, 0x41, 0x4d, 0x84]), Buffer.from([0x30, 0x01, 0, 0]), Buffer.alloc(4, 1), Buffer.alloc(64, 0x5a)]),
    'BROKEN.EXE-00C0FFEE.pf': Buffer.from('not a prefetch file at all, only text'),
    'Layout.ini': 'C:\\Windows\\explorer.exe\r\n',
    'AgAppLaunch.db': Buffer.alloc(32),
  });

test('one file record per .pf: name, program and hash from the name, size and times; run count and last runs from SCCA 30 (both layouts), 31 and 23', () => {
  const r = run(infected());
  assert.is(r.summary.status, 'ok', r.stderrLog);
  assert.is(r.summary.errors, 0, r.stderrLog);
  assert.equal(r.records.map((x) => x.name), ['BROKEN.EXE-00C0FFEE.pf', 'CHROME.EXE-5F1C4E2A.pf', 'MIMIKATZ.EXE-1A2B3C4D.pf', 'NOTEPAD.EXE-D8414F97.pf', 'PSEXESVC.EXE-AD70946C.pf', 'RCLONE.EXE-77E1D0C2.pf', 'THISISAVERYLONGPROGRAMNAMETHA-0BADF00D.pf']);
  const by = Object.fromEntries(r.records.map((x) => [x.name.split('-')[0], x]));
  const mimi = by['MIMIKATZ.EXE'];
  assert.equal(
    [mimi.source, mimi.path, mimi.program, mimi.prefetchHash, mimi.size, mimi.modified, mimi.parsed, mimi.compressed, mimi.formatVersion, mimi.runCount, mimi.lastRun, mimi.lastRuns, mimi.error],
    ['prefetch', 'C:\\Windows\\Prefetch\\MIMIKATZ.EXE-1A2B3C4D.pf', 'MIMIKATZ.EXE', '1A2B3C4D', 304, '2026-11-19T23:41:17.000Z', true, false, 30, 3, RUNS[0], RUNS, null],
  );
  assert.match(mimi.created, /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$/);
  assert.equal([by['PSEXESVC.EXE'].runCount, by['PSEXESVC.EXE'].lastRuns, by['PSEXESVC.EXE'].size], [12, [RUNS[1]], 296]);
  assert.equal([by['NOTEPAD.EXE'].formatVersion, by['NOTEPAD.EXE'].runCount, by['NOTEPAD.EXE'].lastRuns], [23, 41, [RUNS[2]]]);
  assert.equal([by.THISISAVERYLONGPROGRAMNAMETHA.formatVersion, by.THISISAVERYLONGPROGRAMNAMETHA.runCount, by.THISISAVERYLONGPROGRAMNAMETHA.prefetchHash], [31, 1, '0BADF00D']);
});

test('compressed (MAM) files without ntdll: the file system\'s facts with parsed false, the reason said once; a broken file is a warning naming it', () => {
  const r = run(infected());
  const by = Object.fromEntries(r.records.map((x) => [x.name.split('-')[0], x]));
  for (const n of ['CHROME.EXE', 'RCLONE.EXE']) {
    const x = by[n];
    assert.equal([x.parsed, x.compressed, x.runCount, x.lastRuns, x.program, x.modified, x.error], [false, true, null, [], n, '2026-11-19T23:41:17.000Z', null], n);
  }
  assert.equal([by['CHROME.EXE'].prefetchHash, by['CHROME.EXE'].size], ['5F1C4E2A', 72]);
  const said = r.stderrLog.split('\n').filter((l) => l.includes('cannot decompress'));
  assert.is(said.length, 1, r.stderrLog);
  assert.match(said[0], /^\[warning\] 2 of 7 prefetch files not parsed \(parsed false, file system times only\): cannot decompress Windows 10\/11 prefetch files \(MAM, Xpress Huffman\) here: ntdll RtlGetCompressionWorkSpaceSize: /);
  assert.equal([by['BROKEN.EXE'].parsed, by['BROKEN.EXE'].error], [false, 'not a prefetch file (no SCCA signature)']);
  assert.match(r.stderrLog, /\[warning\] C:\\Windows\\Prefetch\\BROKEN\.EXE-00C0FFEE\.pf: not a prefetch file/);
});

test('PrefetchPath reads another folder (a real one here); an empty or missing folder is a warning (Windows Server does not prefetch), not an error', () => {
  const other = join(infected(), 'files', 'C', 'Windows', 'Prefetch');
  const r = run(host({}), { PrefetchPath: other });
  assert.is(r.summary.status, 'ok', r.stderrLog);
  assert.is(r.records.length, 7);
  assert.is(r.records.find((x) => x.program === 'MIMIKATZ.EXE').path, join(other, 'MIMIKATZ.EXE-1A2B3C4D.pf'));
  const empty = run(host({}));
  assert.equal([empty.summary.status, empty.summary.errors, empty.records.length], ['ok', 0, 0]);
  assert.match(empty.stderrLog, /\[warning\] no prefetch files in C:\\Windows\\Prefetch \(EnablePrefetcher not readable; Windows Server does not prefetch by default\)/);
  const off = host({});
  writeFileSync(join(off, 'Registry.json'), JSON.stringify({ 'HKEY_LOCAL_MACHINE\\SYSTEM\\CurrentControlSet\\Control\\Session Manager\\Memory Management\\PrefetchParameters': { EnablePrefetcher: 0 } }));
  assert.match(run(off).stderrLog, /EnablePrefetcher is 0: prefetching is off on this host/);
  const missing = run(host({}), { PrefetchPath: 'D:\\NoSuchFolder' });
  assert.equal([missing.summary.status, missing.records.length], ['ok', 0]);
});

test('rules: mimikatz high, PsExec\'s service and rclone medium (compressed or not: the name is enough), Notepad and Chrome nothing; SigmaHQ\'s file rules find nothing high', () => {
  const recs = run(infected()).records;
  const index = new RuleIndex(loadRules());
  const fired = ruleHits(index, 'file', recs, (e, r) => `${e.rule.def.level} ${e.rule.def.id}: ${r.program}`);
  assert.equal(fired.sort(), ['high magpie-prefetch-attack-tool: MIMIKATZ.EXE', 'medium magpie-prefetch-dual-use-tool: PSEXESVC.EXE', 'medium magpie-prefetch-dual-use-tool: RCLONE.EXE']);
  // Other file records (file-hashes') with these names are not prefetch entries.
  assert.equal(ruleHits(index, 'file', [{ path: 'C:\\Users\\Public\\mimikatz.exe', program: 'mimikatz.exe' }], (e) => e.rule.def.id).filter((id) => id.startsWith('magpie-prefetch')), []);
  const sigma = new RuleIndex(loadRuleSet([join(FIXTURES, 'sigmahq', 'rules', 'windows')], false).rules);
  assert.equal(ruleHits(sigma, 'file', recs, (e, r) => (['high', 'critical'].includes(e.rule.def.level) ? `${e.rule.def.title}: ${r.name}` : '')).filter(Boolean), []);
});

test.run();
