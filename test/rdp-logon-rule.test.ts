// The rule on RDP logons from public addresses (playbooks/rules/rdp-logon-public-address.yaml)
// over `event` records built here as the eventlogs step and `magpie import evtx` make them:
// Security 4624 (EventData by name) and TerminalServices-LocalSessionManager 21/25 (UserData's
// leaf elements by name: User, SessionID, Address).
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { join } from 'node:path';
import { readFileSync, writeFileSync } from 'node:fs';
import { EventRecord } from '../lib/records/schemas.ts';
import { loadRules } from '../lib/triage/rules.ts';
import { RuleIndex } from '../lib/triage/rule-index.ts';
import { ROOT, ruleHits, tempDir } from './helpers.ts';

const ID = 'magpie-rdp-logon-public-address';
let recordId = 1000;
const logon = (ip: string, type = 10) =>
  EventRecord.parse({
    channel: 'Security', provider: 'Microsoft-Windows-Security-Auditing', eventId: 4624, time: '2026-11-20T03:14:07.000Z', computer: 'WS-0142.corp.example.com', recordId: recordId++, level: 0, user: null,
    data: { SubjectUserSid: 'S-1-5-18', SubjectUserName: 'WS-0142$', SubjectDomainName: 'CORP', TargetUserName: 'jdoe', TargetDomainName: 'CORP', LogonType: String(type), LogonProcessName: 'User32 ', AuthenticationPackageName: 'Negotiate', WorkstationName: 'WS-0142', IpAddress: ip, IpPort: '0' },
  });
const session = (address: string, eventId = 21) =>
  EventRecord.parse({
    channel: 'Microsoft-Windows-TerminalServices-LocalSessionManager/Operational', provider: 'Microsoft-Windows-TerminalServices-LocalSessionManager', eventId, time: '2026-11-20T03:14:08.000Z', computer: 'WS-0142.corp.example.com', recordId: recordId++, level: 4, user: 'S-1-5-18',
    data: { User: 'CORP\\jdoe', SessionID: '3', Address: address },
  });

const hits = (index: RuleIndex, recs: Record<string, unknown>[]) => ruleHits(index, 'event', recs, (e, r: any) => (e.rule.def.id === ID ? `${r.eventId} ${r.data.IpAddress ?? r.data.Address}` : '')).filter(Boolean);

test('a public address hits (4624 type 10, LocalSessionManager 21 and 25, IPv6, IPv4-mapped); private, loopback, link-local and unique-local ranges do not', () => {
  const index = new RuleIndex(loadRules());
  const flagged = [logon('185.220.101.5'), logon('8.8.4.4'), logon('2001:db8:85a3::8a2e:370:7334'), logon('::ffff:203.0.113.9'), session('203.0.113.7'), session('198.51.100.23', 25), logon('172.32.0.1'), logon('11.0.0.1')];
  assert.equal(hits(index, flagged), ['4624 185.220.101.5', '4624 8.8.4.4', '4624 2001:db8:85a3::8a2e:370:7334', '4624 ::ffff:203.0.113.9', '21 203.0.113.7', '25 198.51.100.23', '4624 172.32.0.1', '4624 11.0.0.1']);
  const quiet = [
    logon('10.20.1.15'), logon('192.168.1.44'), logon('172.16.0.9'), logon('172.31.255.254'), logon('127.0.0.1'), logon('::1'), logon('fe80::1c2b:3d4e:5f60:7182'), logon('fe80::1%12'), logon('fd12:3456:789a::10'), logon('::ffff:10.1.2.3'), logon('169.254.10.20'), logon('-'), logon(''), logon('0.0.0.0'),
    session('10.0.0.8'), session('192.168.50.2', 25), session('fe80::aa:bb'), session('LOCAL'), session(''),
  ];
  assert.equal(hits(index, quiet), []);
});

test('not RDP: a network logon (3), an interactive one (2) or an unlock (7) from a public address is not this rule\'s; 24 (disconnect) is not a logon', () => {
  const index = new RuleIndex(loadRules());
  assert.equal(hits(index, [logon('185.220.101.5', 3), logon('185.220.101.5', 2), logon('185.220.101.5', 7), session('185.220.101.5', 24)]), []);
  // Another channel with the same fields (a forwarded copy under another name) is not read either.
  assert.equal(hits(index, [{ ...logon('185.220.101.5'), channel: 'ForwardedEvents' }]), []);
});

// The copy goes under the same id, so that it replaces the built-in rule (rules/README.md).
test('a team\'s copy with its own ranges added to both lists replaces the built-in rule: quiet on them, still flags the rest', () => {
  const own = tempDir('magpie-rdp-rules-');
  const text = readFileSync(join(ROOT, 'playbooks', 'rules', 'rdp-logon-public-address.yaml'), 'utf8')
    .replace(/(known_logon:\n\s+data\.IpAddress\|cidr:\n)/, '$1      - 192.0.2.0/24\n')
    .replace(/(known_session:\n\s+data\.Address\|cidr:\n)/, '$1      - 192.0.2.0/24\n');
  assert.ok(text.split('192.0.2.0/24').length === 3, 'both lists extended');
  writeFileSync(join(own, 'rdp-logon-public-address.yaml'), text);
  const rules = loadRules([own]);
  assert.is(rules.filter((r) => r.def.id === 'magpie-rdp-logon-public-address').length, 1, 'one rule of that id: the team\'s');
  const index = new RuleIndex(rules);
  assert.equal(hits(index, [logon('192.0.2.44'), session('192.0.2.45', 25), logon('203.0.113.9')]), ['4624 203.0.113.9']);
  // Two of a team's own rules with one id are still a mistake, named with both files.
  const twice = tempDir('magpie-rdp-twice-');
  writeFileSync(join(twice, 'a.yaml'), text);
  writeFileSync(join(twice, 'b.yaml'), text);
  assert.throws(() => loadRules([twice]), /duplicate rule id "magpie-rdp-logon-public-address" \(also in .*a\.yaml\)/);
});

test.run();
