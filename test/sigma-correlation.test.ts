// Sigma correlation rules as the specification (v2) writes them, in their own documents:
// event_count, value_count, temporal and temporal_ordered over Windows Security events, grouped
// by fields within a timespan; the rules they use make no finding of their own unless generate.
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { EvidenceWriter } from '../lib/evidence/writer.ts';
import type { Plan, PlannedStep } from '../lib/plan.ts';
import { triageFolder } from '../lib/triage/engine.ts';
import { loadRuleSet } from '../lib/triage/rules.ts';
import { tempDir } from './helpers.ts';

const T0 = Date.parse('2026-11-20T03:00:00Z');
const ev = (minute: number, eventId: number, data: Record<string, string>) => ({ channel: 'Security', provider: 'Microsoft-Windows-Security-Auditing', eventId, time: new Date(T0 + minute * 60_000).toISOString(), computer: 'DC01', recordId: Math.round(minute * 100), data });
const fail = (m: number, user: string, ip = '10.0.0.66') => ev(m, 4625, { TargetUserName: user, IpAddress: ip, LogonType: '3' });
const ok = (m: number, user: string, ip = '10.0.0.66') => ev(m, 4624, { TargetUserName: user, IpAddress: ip, LogonType: '3' });

async function folder(events: unknown[]): Promise<string> {
  const step: PlannedStep = { index: 1, id: 'security', stepId: 'security', description: 'events', kind: 'event', timeoutSec: 1, continueOnError: true, admin: false, params: {}, tools: [], scripts: {}, source: 'test' };
  const plan: Plan = { playbook: { name: 't', file: 't', sha256: '0'.repeat(64), params: {} }, steps: [step] };
  const root = tempDir('magpie-corr-');
  const w = EvidenceWriter.create({ root, caseId: 'corr', targetName: 'DC01', transport: 'import', plan });
  const staged = join(root, 'staged');
  mkdirSync(staged);
  writeFileSync(join(staged, 'records.jsonl'), events.map((e) => JSON.stringify(e)).join('\n') + '\n');
  await w.recordStep(step, { status: 'ok', reason: null, partial: false, os: 'windows', fetched: staged });
  return w.finish('complete');
}

const BASE = `title: Failed logon
name: failed_logon
status: test
logsource: { product: windows, service: security }
detection:
  selection: { EventID: 4625 }
  condition: selection
level: low
---
title: Successful network logon
name: network_logon
status: test
logsource: { product: windows, service: security }
detection:
  selection: { EventID: 4624, LogonType: 3 }
  condition: selection
level: informational
`;
const corr = (body: string) => `${BASE}---\n${body}`;

function rules(files: Record<string, string>) {
  const dir = tempDir('magpie-corr-rules-');
  for (const [n, t] of Object.entries(files)) writeFileSync(join(dir, n), t);
  return loadRuleSet([dir], false);
}

const EVENTS = [
  // admin: six failures in two minutes, then a success: brute force that worked.
  ...[0, 0.2, 0.5, 1, 1.5, 2].map((m) => fail(m, 'admin')),
  ok(2.5, 'admin'),
  // bob: six failures over an hour (a user who forgot a password).
  ...[0, 12, 24, 36, 48, 60].map((m) => fail(m, 'bob')),
  // eve: three failures.
  ...[3, 3.1, 3.2].map((m) => fail(m, 'eve')),
  // one address logs on as four accounts in five minutes (password spraying that worked).
  ...['u1', 'u2', 'u3', 'u4'].map((u, i) => ok(10 + i, u, '10.9.9.9')),
  // carol: a success, then failures (the wrong order for temporal_ordered).
  ok(30, 'carol'),
  fail(31, 'carol'),
];

test('event_count: five failures within five minutes for one user (admin), not spread over an hour (bob) or too few (eve); the rule it uses makes no finding of its own', async () => {
  const { rules: rs, sigma } = rules({
    'brute.yml': corr(`title: Many failed logons to one account
id: 0e95725d-7320-415d-80f7-004da920fc11
correlation:
  type: event_count
  rules: [failed_logon]
  group-by: [TargetUserName]
  timespan: 5m
  condition: { gte: 5 }
level: high
`),
  });
  assert.equal([sigma.skipped, sigma.failed], [[], []]);
  const r = await triageFolder(await folder(EVENTS), { rules: rs });
  const high = r.findings.filter((f) => f.rule.id === '0e95725d-7320-415d-80f7-004da920fc11');
  assert.equal(high.map((f) => f.group!.by), [{ TargetUserName: 'admin' }]);
  assert.is(high[0].group!.count, 6);
  assert.match(high[0].rule.title, /Many failed logons to one account \(6 matches\)/);
  assert.is(high[0].group!.locations.length, 6, 'it points at each event');
  assert.not.ok(r.findings.some((f) => f.rule.title === 'Failed logon'), 'generate is false: the base rule is quiet');
});

test('value_count: one address logging on as four accounts in five minutes; generate: true keeps the base rule\'s findings', async () => {
  const { rules: rs } = rules({
    'spray.yml': corr(`title: One address, many accounts
id: spray-1
correlation:
  type: value_count
  rules: [network_logon]
  group-by: [IpAddress]
  timespan: 5m
  condition: { gte: 4, field: TargetUserName }
  generate: true
level: high
`),
  });
  const r = await triageFolder(await folder(EVENTS), { rules: rs });
  const f = r.findings.filter((x) => x.rule.id === 'spray-1');
  assert.equal(f.map((x) => [x.group!.by, x.group!.distinct, [...x.group!.values].sort()]), [[{ IpAddress: '10.9.9.9' }, 4, ['u1', 'u2', 'u3', 'u4']]]);
  assert.ok(r.findings.filter((x) => x.rule.title === 'Successful network logon').length >= 6);
});

test('temporal and temporal_ordered: failures then a success for one account; the reverse order only for temporal', async () => {
  const body = (type: string, id: string) => `title: Failure and success (${type})
id: ${id}
correlation:
  type: ${type}
  rules: [failed_logon, network_logon]
  group-by: [TargetUserName]
  timespan: 5m
level: high
`;
  const { rules: rs } = rules({ 'temporal.yml': corr(body('temporal', 'temporal-1')), 'ordered.yml': `${body('temporal_ordered', 'ordered-1')}` });
  const r = await triageFolder(await folder(EVENTS), { rules: rs });
  const users = (id: string) => r.findings.filter((f) => f.rule.id === id).map((f) => f.group!.by.TargetUserName).sort();
  assert.equal(users('temporal-1'), ['admin', 'carol']);
  assert.equal(users('ordered-1'), ['admin']);
});

test('a correlation of a rule that is not there, or with a bad timespan, is skipped or failed with one line, never a failed triage', () => {
  const { rules: rs, sigma } = rules({
    'unknown.yml': `title: Of nothing\nid: c-1\ncorrelation:\n  type: event_count\n  rules: [no_such_rule]\n  timespan: 5m\n  condition: { gte: 2 }\nlevel: low\n`,
    'bad.yml': corr(`title: Bad span\nid: c-2\ncorrelation:\n  type: event_count\n  rules: [failed_logon]\n  timespan: soon\n  condition: { gte: 2 }\nlevel: low\n`),
  });
  assert.equal(sigma.skipped.map((s) => s.reason), ['correlation of unknown rules: no_such_rule (not loaded or skipped)']);
  assert.is(sigma.failed.length, 1);
  assert.match(sigma.failed[0].error, /Bad span: correlation\.timespan: a number and s, m, h, d, M or y/);
  assert.ok(rs.some((r) => r.def.title === 'Failed logon'));
});

test.run();
