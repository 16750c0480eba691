// SigmaHQ's rules as published (test/fixtures/sigmahq: rules/windows whole, and the rules its
// regression samples name, under the Detection Rule License 1.1): they load, or are skipped with
// the reason; they run over event logs imported with `magpie import evtx` (SigmaHQ's own
// regression samples, a representative part: `npm run test:sigmahq` runs all of them) and over
// the live state Magpie collects (recorded hosts: nothing at high on the healthy server).
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { loadRuleSet } from '../lib/triage/rules.ts';
import { levelRank, triageFolder } from '../lib/triage/engine.ts';
import { skipKind } from '../lib/sigma/load.ts';
import { cli, collectRecordedWindowsHost, pwshOrFail, tempDir } from './helpers.ts';
import { evtxexportOrFail } from './evtx-tools.ts';
import { passed, runSample, sampleName, samples, SIGMAHQ } from './sigmahq.ts';
import { RuleIndex } from '../lib/triage/rule-index.ts';
import { AhoCorasick } from '../lib/triage/aho-corasick.ts';
import { readEvtx } from '../lib/importers/evtx.ts';
import type { RecordKind } from '../lib/definitions.ts';

pwshOrFail();
evtxexportOrFail();
const WINDOWS = join(SIGMAHQ, 'rules', 'windows');
const REGRESSION_RULES = ['rules', 'rules-emerging-threats', 'rules-threat-hunting'].map((d) => join(SIGMAHQ, d));
let windows: ReturnType<typeof loadRuleSet>;
/** The recorded hosts, collected once for the live-state and index tests. */
const hosts: Record<string, string> = {};
test.before(async () => {
  windows = loadRuleSet([WINDOWS], false);
  const out = tempDir('magpie-sigma-hosts-');
  const names = ['healthy-server', 'infected', 'infected-lab'];
  const dirs = await Promise.all(names.map((h) => collectRecordedWindowsHost(h, out)));
  names.forEach((h, i) => (hosts[h] = dirs[i]));
});
const KNOWN_SKIPS = ['logsource not mapped', 'fields not mapped', 'unsupported', 'status deprecated', 'status unsupported', 'correlation rule', 'filter rule', 'aggregation', 'near'];

test('all of SigmaHQ\'s rules/windows load unchanged; every skip names the rule and a known reason; none fails; process_creation loads whole', () => {
  const { rules, sigma } = windows;
  const files = (readdirSync(WINDOWS, { recursive: true }) as string[]).filter((f) => f.endsWith('.yml'));
  assert.is(sigma.failed.length, 0, JSON.stringify(sigma.failed.slice(0, 3)));
  assert.is(rules.length + sigma.skipped.length, files.length, 'every file is loaded or skipped');
  for (const s of sigma.skipped) {
    assert.ok(KNOWN_SKIPS.includes(skipKind(s.reason)), `${s.rule}: ${s.reason}`);
    assert.match(s.rule, /\S/);
  }
  assert.ok(sigma.skipped.length <= files.length * 0.02, `${sigma.skipped.length} skipped of ${files.length}`);
  const pc = rules.filter((r) => r.file.includes('/process_creation/'));
  const pcFiles = files.filter((f) => f.startsWith('process_creation/'));
  assert.is(pc.length, pcFiles.length, 'every process_creation rule loads');
  // Each runs over Sysmon 1 / Security 4688 events, and nearly all over live process records.
  assert.ok(pc.every((r) => r.targets?.['event' as never]));
  assert.ok(pc.filter((r) => r.targets?.process).length >= pc.length * 0.98);
  // The rules the issue names, as a new user tried them.
  for (const id of ['proc_creation_win_mshta_http.yml', 'proc_creation_win_certutil_download.yml']) assert.ok(pc.some((r) => r.file.endsWith(id)), id);
  // SigmaHQ attribution travels with each rule: author, references, and the folder's licence.
  const mshta = pc.find((r) => r.file.endsWith('proc_creation_win_mshta_http.yml'))!;
  assert.equal([mshta.sigma?.license, typeof mshta.def.author, mshta.def.references.length > 0], ['DRL-1.1', 'string', true]);
});

test('rules Magpie cannot run are skipped with one line each, never a failed triage; a broken file is counted as failed', () => {
  const dir = tempDir('magpie-sigma-bad-');
  writeFileSync(join(dir, 'cloud.yml'), 'title: AWS thing\nid: 11111111-1111-4111-8111-111111111111\nlogsource: { product: aws, service: cloudtrail }\ndetection:\n  sel: { eventName: X }\n  condition: sel\nlevel: high\n');
  writeFileSync(join(dir, 'count.yml'), 'title: Old count\nid: 22222222-2222-4222-8222-222222222222\nlogsource: { product: windows, category: process_creation }\ndetection:\n  sel: { Image|endswith: x.exe }\n  condition: sel | count() by Computer > 5\nlevel: low\n');
  writeFileSync(join(dir, 'broken.yml'), 'title: Broken\nlogsource: { product: windows, category: process_creation }\ndetection:\n  sel: [unclosed\n  condition: sel\n');
  writeFileSync(join(dir, 'fine.yml'), 'title: Whoami\nid: 33333333-3333-4333-8333-333333333333\nstatus: test\ndate: 2026-01-01\nmodified: 2026-02-01\nlicense: DRL-1.1\nrelated: [{ id: 44444444-4444-4444-8444-444444444444, type: derived }]\ncustom_field: kept\nlogsource: { product: windows, category: process_creation }\ndetection:\n  sel: { Image|endswith: \\whoami.exe }\n  condition: sel\nlevel: low\n');
  const { rules, sigma } = loadRuleSet([dir], false);
  assert.equal(rules.map((r) => r.def.title), ['Whoami']);
  assert.equal(sigma.skipped.map((s) => skipKind(s.reason)).sort(), ['aggregation', 'logsource not mapped']);
  assert.is(sigma.failed.length, 1);
  const folder = tempDir('magpie-sigma-empty-');
  writeFileSync(join(folder, 'manifest.json'), '{}');
  const r = cli(['triage', '--rules', dir, '--no-builtin-rules', tempDir('magpie-sigma-none-')]);
  assert.match(r.stderr, /sigma: skipped AWS thing \(11111111-1111-4111-8111-111111111111\) \(.*cloud\.yml\): logsource not mapped: product aws, service cloudtrail/);
  assert.match(r.stderr, /sigma: failed .*broken\.yml: invalid YAML/);
  assert.match(r.stderr, /sigma: 4 rules read: 1 loaded, 2 skipped \((1 logsource not mapped, 1 aggregation|1 aggregation, 1 logsource not mapped)\), 1 failed/);
});

test('SigmaHQ\'s regression samples (a representative part: every logsource folder, every third sample): imported with magpie import evtx, each gives a finding of the rule its info.yml names', async () => {
  const all = samples();
  assert.ok(all.length >= 200, `${all.length} samples`);
  const folderOf = (s: (typeof all)[number]) => sampleName(s).split('/').slice(0, -1).join('/');
  const chosen = all.filter((s, i) => i % 3 === 0 || all.findIndex((x) => folderOf(x) === folderOf(s)) === i);
  const { rules } = loadRuleSet(REGRESSION_RULES, false);
  const out = tempDir('magpie-sigmahq-');
  const failed: string[] = [];
  for (const s of chosen) {
    const r = await runSample(s, rules, out);
    if (!passed(r)) failed.push(`${sampleName(s)}: ${r.events} events, ${r.fired} findings of ${s.ruleId}${r.error ? `: ${r.error}` : ''}`);
  }
  assert.ok(chosen.length >= 70, `${chosen.length} chosen`);
  assert.equal(failed, [], `${chosen.length - failed.length}/${chosen.length} passed`);
});

test('over live state: SigmaHQ\'s Windows rules on recorded hosts find the infected ones\' malware, and nothing at high on the healthy server', async () => {
  const { rules } = windows;
  const [healthy, infected, lab] = [hosts['healthy-server'], hosts.infected, hosts['infected-lab']];
  const titles = async (dir: string, min: string) => (await triageFolder(dir, { rules })).findings.filter((f) => levelRank(f.rule.level) >= levelRank(min as never)).map((f) => `${f.rule.title} | ${f.record.name ?? f.record.processName}`).sort();
  assert.equal(await titles(healthy, 'high'), []);
  const inf = await titles(infected, 'high');
  for (const want of ['Potential Crypto Mining Activity | winupdate.exe', 'PowerShell Base64 Encoded IEX Cmdlet | powershell.exe']) assert.ok(inf.includes(want), `${want} in ${inf.join('; ')}`);
  assert.ok((await titles(lab, 'high')).includes('Execution of Powershell Script in Public Folder | powershell.exe'));
  // A Sigma finding carries the rule's attribution.
  const f = (await triageFolder(infected, { rules })).findings.find((x) => x.rule.title === 'Potential Crypto Mining Activity')!;
  assert.equal([f.rule.source, f.rule.license, typeof f.rule.author, (f.rule.references ?? []).length > 0], ['sigma', 'DRL-1.1', 'string', true]);
  // The report keeps the attribution the Detection Rule License asks for.
  const r = cli(['triage', '--rules', WINDOWS, infected]);
  assert.is(r.code, 0, r.stderr);
  const runs = readdirSync(join(infected, 'triage'));
  const html = readFileSync(join(infected, 'triage', runs[runs.length - 1], 'report.html'), 'utf8');
  assert.match(html, /Potential Crypto Mining Activity[\s\S]*Sigma rule by [^<]+, licence DRL-1\.1/);
  assert.match(r.stderr, /magpie: sigma: \d+ rules read: \d+ loaded, \d+ skipped \(/);
});

test('the rule index never drops a match: on every regression event and every recorded host\'s records, the rules it offers find exactly what testing every rule finds', async () => {
  const { rules } = windows;
  const index = new RuleIndex(rules);
  assert.ok(rules.filter((r) => r.indexAtoms).length >= rules.length * 0.9, 'most rules are indexed by a text they need');
  const check = (kind: RecordKind, r: Record<string, unknown>) => {
    const brute = rules.filter((x) => x.targets?.[kind]?.(r)).map((x) => x.def.id).sort();
    const offered: string[] = [];
    index.forEach(kind, r, (e) => {
      if (e.match(r)) offered.push(e.rule.def.id);
    });
    assert.equal(offered.sort(), brute, `${kind}: ${JSON.stringify(r).slice(0, 200)}`);
    return brute.length;
  };
  let events = 0;
  let hits = 0;
  for (const s of samples()) for (const f of s.evtx) for await (const e of readEvtx(f)) (events++, (hits += check('event', e as never)));
  assert.ok(events >= 200 && hits >= 150, `${events} events, ${hits} matches`);
  for (const dir of Object.values(hosts)) {
    const procs = readdirSync(join(dir, 'steps')).find((d) => d.endsWith('-processes'))!;
    for (const line of readFileSync(join(dir, 'steps', procs, 'records.jsonl'), 'utf8').trim().split('\n')) check('process', JSON.parse(line));
  }
});

test('Aho-Corasick finds every occurrence of overlapping and nested texts', () => {
  const ac = new AhoCorasick(['he', 'she', 'his', 'hers', '\\cmd.exe', 'cmd']);
  const found: string[] = [];
  const pats = ['he', 'she', 'his', 'hers', '\\cmd.exe', 'cmd'];
  ac.search('ushers c:\\windows\\cmd.exe', (id) => found.push(pats[id]));
  assert.equal(found.sort(), ['\\cmd.exe', 'cmd', 'he', 'hers', 'she']);
});

test.run();
