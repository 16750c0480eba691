// The eventlogs step (Windows) under real pwsh, Get-WinEvent answered from recorded events
// (test/fixtures/windows/eventlogs, SOURCE.md there): the same `event` records `magpie import evtx`
// makes, newest first within Days, a missing log not an error and a denied one a counted error;
// then the built-in event-log rules (SigmaHQ's, vendored under DRL 1.1, and Magpie's brute-force
// correlation) on an infected workstation and a healthy server.
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { collect } from '../lib/collect.ts';
import { EventRecord } from '../lib/records/schemas.ts';
import { parseEvtxEvent } from '../lib/importers/evtx.ts';
import { levelRank, triageFolder } from '../lib/triage/engine.ts';
import { loadRules } from '../lib/triage/rules.ts';
import { FIXTURES, planWithPin, pwshOrFail, runWindowsStep, tempDir } from './helpers.ts';

pwshOrFail();
const HERE = join(FIXTURES, 'windows', 'eventlogs');
const FAKES = [join(FIXTURES, 'windows', 'fakes.ps1'), join(HERE, 'fakes.ps1')];
const run = (host: string, params: Record<string, string> = {}) => runWindowsStep('eventlogs', { fixtureDir: join(HERE, host), fakes: FAKES, params, schema: EventRecord });

test('infected workstation: every recorded event in range, each as magpie import evtx makes it from the same XML, newest first per log', () => {
  const r = run('infected');
  assert.is(r.summary.status, 'ok', r.stderrLog);
  assert.is(r.summary.errors, 0, r.stderrLog);
  assert.is(r.records.length, 15);
  const sec = r.records.filter((e) => e.channel === 'Security');
  const times = sec.map((e) => e.time);
  assert.equal(times, [...times].sort().reverse(), 'newest first');
  const cleared = r.records.find((e) => e.eventId === 1102)!;
  assert.equal([cleared.provider, cleared.data.SubjectUserName, cleared.data.SubjectLogonId], ['Microsoft-Windows-Eventlog', 'Administrator', '0x9f3e2a1']);
  const svc = r.records.find((e) => e.eventId === 7045)!;
  assert.equal([svc.provider, svc.user, svc.data.ServiceName], ['Service Control Manager', 'S-1-5-21-3623811015-3361044348-30300820-500', 'WinDefendUpd']);
  // One shape whichever way the events came: the step's record and the evtx importer's agree.
  for (const e of r.records) {
    assert.match(e.xml, /^<Event xmlns=/);
    const imported = parseEvtxEvent(e.xml)!;
    assert.equal([e.channel, e.provider, e.eventId, e.computer, e.recordId], [imported.channel, imported.provider, imported.eventId, imported.computer, imported.recordId]);
    assert.equal(e.data, imported.data);
  }
});

test('parameters: MaxEvents keeps the newest per log, Logs narrows, KeepXml off drops the XML; an unknown log or a bad number fails before anything is read', () => {
  const two = run('infected', { MaxEvents: '2', Logs: 'Security', KeepXml: 'false' });
  assert.is(two.summary.status, 'ok', two.stderrLog);
  assert.equal(two.records.map((e) => e.eventId), [1102, 4732]);
  assert.ok(two.records.every((e) => e.xml === null));
  const bad = run('infected', { Logs: 'Securty' });
  assert.is(bad.summary.status, 'failed');
  assert.match(bad.summary.message ?? '', /Logs: Securty is not one of the logs this step reads: Security, System/);
  assert.is(run('infected', { Days: '0' }).summary.status, 'failed');
});

test('without administrator rights the Security log is a counted error naming it; the other logs still come; a log the host lacks is a warning', () => {
  const r = run('no-admin');
  assert.is(r.summary.status, 'ok');
  assert.is(r.summary.errors, 1);
  assert.match(r.stderrLog, /cannot read the Security log: Attempted to perform an unauthorized operation/);
  assert.match(r.stderrLog, /Microsoft-Windows-Sysmon\/Operational: this host has no such log/);
  assert.equal(r.records.map((e) => e.eventId), [4104]);
});

async function triageHost(host: string) {
  const startup = join(tempDir('magpie-evl-'), 'startup.ps1');
  const q = (s: string) => `'${s.replace(/'/g, "''")}'`;
  writeFileSync(startup, [`$global:MagpieFixtureDir = ${q(join(HERE, host))}`, ...FAKES.map((f) => `. ${q(f)}`)].join('\n') + '\n');
  const [res] = await collect({ plan: planWithPin([{ step: 'eventlogs' }], [], 'eventlogs', null), targets: ['localhost'], transport: 'local', out: tempDir('magpie-evl-out-'), caseId: 'evl', concurrency: 1, local: { startupScript: startup, osOverride: 'windows' } });
  assert.ok(res.dir, res.error ?? '');
  return triageFolder(res.dir!, { rules: loadRules() });
}

test('built-in event-log rules: the infected workstation\'s log clearing, new admin, service from cmd, download cradle and password guessing; nothing at high on the healthy server', async () => {
  const inf = await triageHost('infected');
  const got = inf.findings.map((f) => `${f.rule.level} ${f.rule.title}`);
  for (const want of [
    'high Security Eventlog Cleared',
    'medium User Added to Local Administrator Group',
    'high Password guessing against this host from one address (8 matches)',
  ])
    assert.ok(got.includes(want), `${want} in:\n${got.join('\n')}`);
  assert.ok(inf.findings.some((f) => f.kind === 'event' && f.record.eventId === 7045 && levelRank(f.rule.level) >= levelRank('high')), `a 7045 finding at high:\n${got.join('\n')}`);
  assert.ok(inf.findings.some((f) => f.kind === 'event' && f.record.eventId === 4104), 'the download cradle');
  const brute = inf.findings.find((f) => f.rule.id === 'magpie-brute-force-logon')!;
  assert.equal([brute.group!.by, brute.group!.locations.length], [{ IpAddress: '185.220.101.5' }, 8]);
  assert.not.ok(got.some((g) => g.includes('Failed network or RDP logon')), 'the correlation\'s unit rule makes no finding of its own');
  const healthy = await triageHost('healthy-server');
  assert.equal(healthy.findings.filter((f) => levelRank(f.rule.level) >= levelRank('high')).map((f) => f.rule.title), []);
  assert.ok(healthy.counts.event! >= 30);
});

test.run();
