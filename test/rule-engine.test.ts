// The rule engine on its own: every modifier, every condition form, and invalid rules.
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { InputErrors } from '../lib/errors.ts';
import { compileCondition, compileSelection, type Rec } from '../lib/triage/matcher.ts';
import { loadRules } from '../lib/triage/rules.ts';
import { writeTree } from './helpers.ts';

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
    assert.ok(r.def.description.length > 80, `${r.def.id} explains what to check next`);
  }
});

test.run();
