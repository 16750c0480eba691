// The rule engine on its own: every modifier, every condition form, invalid rules, and correlation
// thresholds at their exact boundary.
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { join } from 'node:path';
import { InputErrors } from '../lib/errors.ts';
import { importFiles } from '../lib/importers/import.ts';
import { triageFolder } from '../lib/triage/engine.ts';
import { compileCondition, compileSelection, type Rec } from '../lib/triage/matcher.ts';
import { loadRules } from '../lib/triage/rules.ts';
import { tempDir, writeTree } from './helpers.ts';

const sel = (s: unknown) => compileSelection('s', s);
const proc: Rec = { name: 'SvcHost.EXE', path: 'C:\\Users\\Bob\\AppData\\Roaming\\svchost.exe', pid: 3100, signed: false, remoteAddress: '10.20.1.17', v6: 'fe80::1%12', tags: ['a', 'b'], nested: { x: 'deep' }, nothing: null };

test('plain values: case-insensitive equality, numbers, booleans, null, wildcards, lists as OR', () => {
  assert.ok(sel({ name: 'svchost.exe' })(proc));
  assert.not.ok(sel({ 'name|cased': 'svchost.exe' })(proc));
  assert.ok(sel({ 'name|cased': 'SvcHost.EXE' })(proc));
  assert.ok(sel({ pid: 3100 })(proc));
  assert.ok(sel({ pid: '3100' })(proc));
  assert.ok(sel({ signed: false })(proc));
  assert.not.ok(sel({ signed: true })(proc));
  assert.ok(sel({ nothing: null, missing: null })(proc));
  // As in Sigma, \* is a literal star: a backslash before a wildcard is written \\.
  assert.ok(sel({ path: 'c:\\users\\\\*\\appdata\\\\*' })(proc));
  assert.not.ok(sel({ path: 'c:\\users\\*' })(proc));
  assert.ok(sel({ name: 'svc*' })(proc));
  assert.ok(sel({ name: 'svc?ost.exe' })(proc));
  assert.ok(sel({ name: ['lsass.exe', 'svchost.exe'] })(proc));
  assert.not.ok(sel({ name: ['lsass.exe', 'csrss.exe'] })(proc));
  assert.ok(sel({ 'nested.x': 'DEEP' })(proc));
  assert.ok(sel({ tags: 'b' })(proc), 'a list field matches when any element does');
});

test('contains, startswith, endswith, all', () => {
  assert.ok(sel({ 'path|contains': '\\appdata\\' })(proc));
  assert.ok(sel({ 'path|startswith': 'C:\\USERS\\' })(proc));
  assert.ok(sel({ 'path|endswith': '.EXE' })(proc));
  assert.ok(sel({ 'path|contains|all': ['users', 'roaming'] })(proc));
  assert.not.ok(sel({ 'path|contains|all': ['users', 'temp'] })(proc));
  assert.ok(sel({ 'path|contains': ['temp', 'roaming'] })(proc));
  assert.not.ok(sel({ 'missing|contains': 'x' })(proc));
});

test('re, cidr (IPv4 and IPv6 with zone), gt/gte/lt/lte, exists', () => {
  assert.ok(sel({ 'name|re': '^svch[o0]st\\.exe$' })(proc));
  assert.not.ok(sel({ 'name|re|cased': '^svchost' })(proc));
  assert.ok(sel({ 'remoteAddress|cidr': '10.20.0.0/16' })(proc));
  assert.not.ok(sel({ 'remoteAddress|cidr': '192.168.0.0/16' })(proc));
  assert.ok(sel({ 'v6|cidr': 'fe80::/10' })(proc));
  assert.not.ok(sel({ 'v6|cidr': '10.0.0.0/8' })(proc), 'families do not mix');
  assert.ok(sel({ 'pid|gt': 3000, 'pid|lt': 4000 })(proc));
  assert.ok(sel({ 'pid|gte': 3100, 'pid|lte': 3100 })(proc));
  assert.not.ok(sel({ 'pid|gt': 3100 })(proc));
  assert.not.ok(sel({ 'name|gt': 1 })(proc), 'a non-number never compares');
  assert.ok(sel({ 'path|exists': true, 'missing|exists': false, 'nothing|exists': false })(proc));
});

test('a selection list is OR of maps; a map is AND of fields', () => {
  assert.ok(sel([{ name: 'lsass.exe' }, { pid: 3100 }])(proc));
  assert.not.ok(sel({ name: 'svchost.exe', pid: 1 })(proc));
});

test('conditions: and, or, not, parentheses, 1 of pattern, all of them', () => {
  const sels = new Map([
    ['sel_a', sel({ name: 'svchost.exe' })],
    ['sel_b', sel({ pid: 1 })],
    ['filter', sel({ 'path|startswith': 'C:\\Windows\\' })],
  ]);
  const c = (s: string) => compileCondition(s, sels)(proc);
  assert.ok(c('sel_a'));
  assert.not.ok(c('sel_a and sel_b'));
  assert.ok(c('sel_a or sel_b'));
  assert.ok(c('sel_a and not filter'));
  assert.not.ok(c('not sel_a'));
  assert.ok(c('not (sel_b or filter)'));
  assert.not.ok(c('sel_b or filter and sel_a'), 'and binds tighter than or');
  assert.ok(c('(sel_b or filter) or sel_a'));
  assert.ok(c('1 of sel_*'));
  assert.not.ok(c('all of sel_*'));
  assert.not.ok(c('all of them'));
  assert.ok(c('1 of them and not filter'));
});

function rulesError(yaml: string): string {
  const dir = writeTree({ 'r.yml': yaml });
  try {
    loadRules([dir], false);
  } catch (e) {
    if (e instanceof InputErrors) return e.message;
    throw e;
  }
  throw new Error('expected the rule to be rejected');
}

const RULE = (detection: string, extra = '') => `title: t\nid: test-rule\nlevel: high\ndescription: d\nlogsource:\n  category: process\n${extra}detection:\n${detection}`;

test('invalid rules: file, line and what is wrong', () => {
  assert.match(rulesError(RULE('  s:\n    name|sortof: x\n  condition: s\n')), /r\.yml:9: detection\.s: unknown modifier "sortof"/);
  assert.match(rulesError(RULE('  s:\n    name|re: "(unclosed"\n  condition: s\n')), /r\.yml:9: detection\.s: invalid regular expression/);
  assert.match(rulesError(RULE('  s:\n    ip|cidr: 10.0.0.0/99\n  condition: s\n')), /invalid CIDR "10\.0\.0\.0\/99"/);
  assert.match(rulesError(RULE('  s:\n    name: x\n  condition: s and other\n')), /r\.yml:10: detection\.condition: .*names "other", which is not a selection/);
  assert.match(rulesError(RULE('  s:\n    name: x\n  condition: s and\n')), /ends too early/);
  assert.match(rulesError(RULE('  s:\n    name: x\n')), /detection needs a condition/);
  assert.match(rulesError(RULE('  s:\n    name: x\n  condition: s\n').replace('level: high', 'level: severe')), /r\.yml:3: level: /);
  assert.match(rulesError(RULE('  s:\n    name: x\n  condition: s\n').replace('category: process', 'category: registry')), /r\.yml:6: logsource\.category: /);
  assert.match(rulesError(RULE('  s:\n    pid|gt: many\n  condition: s\n')), /needs a number/);
});

test('every built-in rule loads, has ATT&CK tags and tells the responder what to do next', () => {
  const rules = loadRules();
  assert.ok(rules.length >= 15, `${rules.length} rules`);
  for (const r of rules) {
    assert.ok(r.def.tags.some((t) => /^attack\./.test(t)), `${r.def.id} has ATT&CK tags`);
    // SigmaHQ's rules (playbooks/rules/sigmahq) are taken unchanged: they say what they detect and
    // where it comes from; Magpie's own also say what to check next.
    if (r.sigma?.license === 'DRL-1.1') assert.ok(r.def.description.length > 20 && r.def.references.length && r.def.author, `${r.def.id} keeps its description, references and author`);
    else assert.ok(r.def.description.length > 80, `${r.def.id} explains what to check next`);
  }
});

/** An imported netstat folder: pid 2300 half-open to port 445 on `distinct` addresses, each address twice. */
async function smbFanOut(distinct: number): Promise<string> {
  const rows = [];
  for (let i = 0; i < distinct * 2; i++) rows.push(`  TCP    10.20.30.42:${50000 + i}      10.20.1.${(i % distinct) + 1}:445         SYN_SENT        2300`);
  const text = `\nActive Connections\n\n  Proto  Local Address          Foreign Address        State           PID\n${rows.join('\n')}\n`;
  const file = join(writeTree({ 'netstat.txt': text }), 'netstat.txt');
  return (await importFiles('netstat', [file], { host: 'WS-1', caseId: 'threshold', out: tempDir() })).dir;
}

test('correlation thresholds hold exactly at the boundary: gte, gt, lte, lt count distinct values, not records', async () => {
  const correlated = (id: string, condition: string) =>
    `title: ${id}\nid: ${id}\nlevel: high\ndescription: d\nlogsource: { category: connection }\ndetection:\n  s: { state: SynSent, remotePort: 445 }\n  condition: s\n` +
    `correlation:\n  type: value_count\n  group-by: [pid]\n  field: remoteAddress\n  condition: ${condition}\n`;
  const team = writeTree({ 'gt.yml': correlated('test-gt-9', '{ gt: 9 }'), 'lte.yml': correlated('test-lte-9', '{ lte: 9 }'), 'lt.yml': correlated('test-lt-10', '{ lt: 10 }') });
  // The built-in worm rule says gte: 10; the team rules put the other three comparisons at the same edge.
  const rules = [...loadRules().filter((r) => r.def.id === 'magpie-worm-smb-fanout'), ...loadRules([team], false)];
  assert.is(rules.length, 4);
  assert.equal(rules[0].def.correlation?.condition, { gte: 10 }, 'the built-in threshold this test is written for');
  const fired = async (distinct: number) => {
    const { findings } = await triageFolder(await smbFanOut(distinct), { rules });
    for (const f of findings) assert.equal([f.group!.count, f.group!.distinct], [distinct * 2, distinct]);
    return findings.map((f) => f.rule.id).sort();
  };
  // 9 distinct addresses in 18 records: below gte 10 and gt 9, within lte 9 and lt 10.
  assert.equal(await fired(9), ['test-lt-10', 'test-lte-9']);
  // Exactly 10: gte 10 and gt 9 fire, lte 9 and lt 10 do not.
  assert.equal(await fired(10), ['magpie-worm-smb-fanout', 'test-gt-9']);
});

test.run();
