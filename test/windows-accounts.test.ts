// The accounts step (Windows) under real pwsh: local users, group members, quser sessions and
// cached profiles from recorded shapes (test/fixtures/windows/accounts, README.md there) on an
// infected workstation and a healthy domain-joined server; the CIM fallbacks (no LocalAccounts
// module; Get-LocalGroupMember failing on an orphaned SID); quser's columns in English and German;
// the new-local-admin rules on both hosts.
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { join } from 'node:path';
import { z } from 'zod';
import { loadRuleSet } from '../lib/triage/rules.ts';
import { RuleIndex } from '../lib/triage/rule-index.ts';
import { FIXTURES, pwshOrFail, ruleHits, runWindowsStep } from './helpers.ts';

pwshOrFail();
const HERE = join(FIXTURES, 'windows', 'accounts');
const schema = z.looseObject({ type: z.enum(['user', 'group-member', 'session', 'profile']) });
const run = (host: string, globals: Record<string, string> = {}) =>
  runWindowsStep('accounts', { fixtureDir: join(HERE, host), fakes: [join(FIXTURES, 'windows', 'fakes.ps1'), join(HERE, 'fakes.ps1')], globals, schema });
const of = (records: any[], type: string) => records.filter((x) => x.type === type);
const DAY = 86_400_000;

const infected = run('infected');
const healthy = run('healthy');

test('infected host: local users with their password facts; the new hidden account created two days before collection', () => {
  assert.is(infected.summary.status, 'ok', infected.stderrLog);
  assert.is(infected.summary.errors, 0, infected.stderrLog);
  assert.not.match(infected.stderrLog, /warning/);
  const users = of(infected.records, 'user');
  assert.equal(users.map((u) => [u.name, u.rid, u.enabled]), [
    ['Administrator', 500, false], ['DefaultAccount', 503, false], ['Guest', 501, false], ['kiosk', 1001, true], ['support$', 1003, true], ['WDAGUtilityAccount', 504, false],
  ]);
  const s = users.find((u) => u.name === 'support$');
  assert.is(s.source, 'Get-LocalUser');
  assert.is(s.sid, 'S-1-5-21-3623811015-3361044348-30300820-1003');
  assert.is(s.principalSource, 'Local');
  assert.is(s.passwordNeverExpires, true);
  assert.is(s.passwordNotRequired, false);
  assert.is(s.createdSource, 'Security 4720');
  const age = Date.now() - Date.parse(s.created);
  assert.ok(age > 2 * DAY && age < 2.2 * DAY, `created ${s.created}`);
  assert.is(s.recentlyCreated, true);
  assert.is(s.hiddenName, true);
  assert.is(s.lookalikeName, false);
  assert.ok(Date.parse(s.lastLogon) > Date.parse(s.created));
  const kiosk = users.find((u) => u.name === 'kiosk');
  assert.equal([kiosk.created, kiosk.recentlyCreated, kiosk.passwordNeverExpires, kiosk.hiddenName], [null, null, false, false], 'created unknown when the log has no 4720 for it');
  assert.ok(users.every((u) => !u.lookalikeName), 'the built-in accounts under their own RIDs are not look-alikes');
});

test('infected host: every local group with members, the member\'s SID, class and source; 4732 gives when it was added', () => {
  const members = of(infected.records, 'group-member');
  assert.equal(members.map((m) => [m.group, m.member, m.memberClass, m.principalSource]), [
    ['Administrators', 'WS-017\\Administrator', 'User', 'Local'],
    ['Administrators', 'CORP\\Domain Admins', 'Group', 'ActiveDirectory'],
    ['Administrators', 'WS-017\\support$', 'User', 'Local'],
    ['Guests', 'WS-017\\Guest', 'User', 'Local'],
    ['Remote Desktop Users', 'WS-017\\support$', 'User', 'Local'],
    ['Users', 'CORP\\Domain Users', 'Group', 'ActiveDirectory'],
    ['Users', 'WS-017\\kiosk', 'User', 'Local'],
    ['Users', 'NT AUTHORITY\\Authenticated Users', 'Group', 'Unknown'],
    ['Users', 'NT AUTHORITY\\INTERACTIVE', 'Group', 'Unknown'],
  ]);
  assert.ok(members.every((m) => m.source === 'Get-LocalGroupMember'));
  const admin = members.find((m) => m.group === 'Administrators' && m.memberName === 'support$');
  assert.equal([admin.groupSid, admin.memberSid, admin.memberRid, admin.memberDomain, admin.memberEnabled, admin.recentlyCreated, admin.hiddenName, admin.recentlyAdded], ['S-1-5-32-544', 'S-1-5-21-3623811015-3361044348-30300820-1003', 1003, 'WS-017', true, true, true, true]);
  assert.ok(Date.parse(admin.added) - Date.parse(admin.memberCreated) === 28_000, `${admin.memberCreated} then ${admin.added}`);
  const rdp = members.find((m) => m.group === 'Remote Desktop Users');
  assert.is(rdp.groupSid, 'S-1-5-32-555');
  assert.ok(Date.parse(rdp.added) > Date.parse(admin.added));
  const domainAdmins = members.find((m) => m.memberName === 'Domain Admins');
  assert.equal([domainAdmins.memberRid, domainAdmins.hiddenName, domainAdmins.recentlyCreated], [512, null, null], 'a domain group carries no local-account facts');
});

test('quser: the caller\'s session, a disconnected one with no session name, idle times ".", "47" and "1+02:03", logon times in the host\'s culture', () => {
  assert.equal(of(infected.records, 'session').map((s) => [s.user, s.sessionName, s.id, s.state, s.disconnected, s.current, s.rdp, s.idle, s.idleMinutes, s.logonTime]), [
    ['j.doe', 'console', 1, 'Active', false, true, false, '.', 0, '2026-03-12T07:55:00.000Z'],
    ['support$', null, 2, 'Disc', true, false, false, '1+02:03', 1563, '2026-03-10T07:12:00.000Z'],
    ['kiosk', 'rdp-tcp#7', 3, 'Active', false, false, true, '47', 47, '2026-03-11T07:58:00.000Z'],
  ]);
  assert.equal(of(healthy.records, 'session').map((s) => [s.user, s.sessionName, s.disconnected, s.current, s.idle, s.idleMinutes, s.logonTimeText]), [
    ['a.smith', 'rdp-tcp#14', false, false, '.', 0, '3/12/2026 9:31 AM'],
    ['b.jones', null, true, false, '12:07', 727, '3/11/2026 4:15 PM'],
    ['it-admin', 'console', false, true, 'none', 0, '2/28/2026 8:02 AM'],
  ]);
});

test('quser on a German host: translated header and states, a user name with a space, a 20-character name, dd.MM.yyyy times', () => {
  const r = run('infected', { AccountsQuser: 'quser-de.txt', AccountsCulture: 'de-DE' });
  assert.is(r.summary.errors, 0, r.stderrLog);
  assert.equal(of(r.records, 'session').map((s) => [s.user, s.sessionName, s.id, s.state, s.disconnected, s.idleMinutes, s.logonTime]), [
    ['j.doe', 'console', 1, 'Aktiv', false, 0, '2026-03-12T07:55:00.000Z'],
    ['support$', null, 2, 'Getr.', true, 1563, '2026-03-10T07:12:00.000Z'],
    ['Hans Meier', 'rdp-tcp#7', 3, 'Aktiv', false, 0, '2026-03-11T07:58:00.000Z'],
    ['abcdefghijklmnopqrst', 'rdp-tcp#9', 4, 'Aktiv', false, 65, '2026-03-11T13:20:00.000Z'],
  ]);
});

test('quser with nobody logged on ("No User exists for *", exit 1) is no session and no error', () => {
  const r = run('infected', { AccountsQuser: 'quser-none.txt', AccountsQuserExit: '1' });
  assert.is(r.summary.errors, 0, r.stderrLog);
  assert.equal(of(r.records, 'session'), []);
  assert.ok(of(r.records, 'user').length === 6);
});

test('cached profiles: SID, path, last use, loaded, special, the local owner\'s name', () => {
  const p = of(infected.records, 'profile');
  assert.equal(p.map((x) => [x.path, x.user, x.loaded, x.special]), [
    ['C:\\Users\\support$', 'support$', true, false],
    ['C:\\Users\\j.doe', null, true, false],
    ['C:\\Users\\kiosk', 'kiosk', false, false],
    ['C:\\Windows\\ServiceProfiles\\NetworkService', null, true, true],
    ['C:\\Windows\\ServiceProfiles\\LocalService', null, true, true],
    ['C:\\Windows\\system32\\config\\systemprofile', null, true, true],
  ]);
  assert.is(p[0].sid, 'S-1-5-21-3623811015-3361044348-30300820-1003');
  // The recorded times, moved together to this machine's clock when the fakes loaded (which may be
  // long before this test runs: uvu loads every file first): 89 s apart as recorded, and recent.
  assert.is(Date.parse(p[1].lastUseTime) - Date.parse(p[0].lastUseTime), 89_000);
  assert.ok(Date.now() - Date.parse(p[0].lastUseTime) > 0 && Date.now() - Date.parse(p[0].lastUseTime) < 6 * 3600_000, p[0].lastUseTime);
});

test('healthy server: Get-LocalGroupMember fails on the orphaned SID in Administrators, whose members then come from Win32_GroupUser', () => {
  assert.is(healthy.summary.status, 'ok');
  assert.is(healthy.summary.errors, 0, healthy.stderrLog);
  assert.match(healthy.stderrLog, /Get-LocalGroupMember failed for Administrators \(Failed to compare two elements in the array\.\): its members read through Win32_GroupUser/);
  assert.not.match(healthy.stderrLog, /4720/, 'a Security log without 4720/4732 events is not a problem');
  const admins = of(healthy.records, 'group-member').filter((m) => m.group === 'Administrators');
  assert.equal(admins.map((m) => [m.member, m.memberSid?.split('-').at(-1), m.memberClass, m.principalSource, m.source]), [
    ['SRV-FS01\\Administrator', '500', 'User', 'Local', 'Win32_GroupUser'],
    ['CORP\\Domain Admins', '512', 'Group', 'ActiveDirectory', 'Win32_GroupUser'],
    ['SRV-FS01\\it-admin', '1000', 'User', 'Local', 'Win32_GroupUser'],
    ['CORP\\srv-admins', '2203', 'Group', 'ActiveDirectory', 'Win32_GroupUser'],
  ]);
  assert.equal(of(healthy.records, 'group-member').filter((m) => m.group === 'Remote Desktop Users').map((m) => [m.member, m.source]), [
    ['CORP\\RDP-FileServer-Users', 'Get-LocalGroupMember'], ['CORP\\helpdesk-team', 'Get-LocalGroupMember'],
  ]);
  const it = of(healthy.records, 'user').find((u) => u.name === 'it-admin');
  assert.equal([it.created, it.recentlyCreated, it.hiddenName, it.lookalikeName, it.passwordNeverExpires], [null, null, false, false, true]);
});

test('a host without the LocalAccounts module: users from Win32_UserAccount, groups and members from Win32_Group / Win32_GroupUser, same answers', () => {
  const r = run('infected', { AccountsNoLocalAccounts: '1' });
  assert.is(r.summary.errors, 0, r.stderrLog);
  const users = of(r.records, 'user');
  assert.ok(users.every((u) => u.source === 'Win32_UserAccount'));
  assert.equal(users.map((u) => [u.name, u.sid, u.enabled, u.passwordNeverExpires]), of(infected.records, 'user').map((u) => [u.name, u.sid, u.enabled, u.passwordNeverExpires]));
  const s = users.find((u) => u.name === 'support$');
  assert.equal([s.recentlyCreated, s.hiddenName, s.lastLogon, s.passwordLastSet], [true, true, null, null], 'Win32_UserAccount has no logon or password times');
  const members = of(r.records, 'group-member');
  assert.ok(members.every((m) => m.source === 'Win32_GroupUser'));
  const key = (m: any) => [m.group, m.groupSid, m.member, m.memberSid, m.memberClass, m.principalSource, m.recentlyCreated, m.hiddenName];
  assert.equal(members.map(key), of(infected.records, 'group-member').map(key));
});

test('a Security log the account may not read: a warning, creation times unknown, everything else still comes', () => {
  const r = run('infected', { AccountsSecurityDenied: '1' });
  assert.is(r.summary.errors, 0);
  assert.match(r.stderrLog, /\[warning\] account creation and group addition times not read \(Security log, events 4720 and 4732\): Attempted to perform an unauthorized operation/);
  const s = of(r.records, 'user').find((u) => u.name === 'support$');
  assert.equal([s.created, s.recentlyCreated, s.hiddenName], [null, null, true]);
  assert.is(of(r.records, 'group-member').length, 9);
});

test('rules: the hidden new local admin is high on the infected host; the healthy server\'s old it-admin is low only, nothing at high', () => {
  const { rules } = loadRuleSet();
  const index = new RuleIndex(rules);
  const level = new Map(rules.map((r) => [r.def.id, r.def.level]));
  const hits = (recs: any[]) => ruleHits(index, 'text', recs, (e, r) => `${e.rule.def.id} (${level.get(e.rule.def.id)}): ${r.group} ${r.member}`);
  assert.equal(hits(infected.records), ['magpie-account-new-local-admin (high): Administrators WS-017\\support$']);
  assert.equal(hits(healthy.records), ['magpie-account-local-admin (low): Administrators SRV-FS01\\it-admin']);
  // Each second signal alone; neither; a domain account, the RID 500 account and another group never.
  const base = of(infected.records, 'group-member').find((m) => m.group === 'Administrators' && m.memberName === 'support$');
  const variant = (o: Record<string, unknown>) => hits([{ ...base, recentlyCreated: null, hiddenName: false, lookalikeName: false, ...o }]).map((h) => h.split(':')[0]);
  assert.equal(variant({ member: 'WS-017\\helpdesk', memberName: 'helpdesk', recentlyCreated: true }), ['magpie-account-new-local-admin (high)']);
  assert.equal(variant({ member: 'WS-017\\Administrat0r', memberName: 'Administrat0r', lookalikeName: true }), ['magpie-account-new-local-admin (high)']);
  assert.equal(variant({ member: 'WS-017\\helpdesk', memberName: 'helpdesk', recentlyCreated: false }), ['magpie-account-local-admin (low)']);
  assert.equal(variant({ principalSource: 'ActiveDirectory', recentlyCreated: true }), []);
  assert.equal(variant({ memberRid: 500, lookalikeName: true }), []);
  assert.equal(variant({ group: 'Remote Desktop Users', groupSid: 'S-1-5-32-555', recentlyCreated: true }), []);
});

test.run();
