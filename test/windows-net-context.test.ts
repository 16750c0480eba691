// The net-context step (Windows) under real pwsh: the hosts file through the recorded host's
// files, the DNS cache, neighbours and SMB from recorded CIM shapes (test/fixtures/windows/
// net-context, SOURCE.md there); routes, proxies (registry), firewall rules and named pipes from
// recorded shapes too; a denied source is a counted error, a missing cmdlet a warning; the rules.
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { join } from 'node:path';
import { z } from 'zod';
import { loadRules } from '../lib/triage/rules.ts';
import { levelRank } from '../lib/triage/engine.ts';
import { RuleIndex } from '../lib/triage/rule-index.ts';
import { FIXTURES, pwshOrFail, ruleHits, runWindowsStep } from './helpers.ts';

pwshOrFail();
const HERE = join(FIXTURES, 'windows', 'net-context');
const run = (host: string, globals: Record<string, string> = {}) =>
  runWindowsStep('net-context', { fixtureDir: join(HERE, host), fakes: [join(FIXTURES, 'windows', 'fakes.ps1'), join(HERE, 'fakes.ps1')], globals, schema: z.looseObject({ source: z.enum(['hosts', 'dns-cache', 'neighbor', 'smb-share', 'smb-session', 'route', 'proxy', 'firewall-rule', 'named-pipe']) }) });

test('hosts file entries (comments and blank lines left out), DNS cache by type name, live neighbours, shares and sessions', () => {
  const r = run('infected');
  assert.is(r.summary.status, 'ok', r.stderrLog);
  assert.is(r.summary.errors, 0, r.stderrLog);
  const of = (s: string) => r.records.filter((x) => x.source === s);
  assert.equal(of('hosts').map((x) => [x.line, x.address, x.names]), [
    [11, '127.0.0.1', ['definitionupdates.microsoft.com']],
    [12, '127.0.0.1', ['wdcp.microsoft.com', 'wdcpalt.microsoft.com']],
    [13, '0.0.0.0', ['www.virustotal.com']],
    [14, '10.20.1.5', ['intranet.corp.example']],
  ]);
  assert.equal(of('dns-cache').map((x) => [x.name, x.type, x.data]).slice(0, 2), [['login.microsoftonline.com', 'CNAME', 'login.mso.msidentity.com'], ['login.mso.msidentity.com', 'A', '20.190.159.2']]);
  assert.equal(of('neighbor').map((x) => x.address), ['10.20.30.1', '10.20.30.55'], 'the multicast entry (Permanent) is not a neighbour');
  assert.equal(of('smb-share').map((x) => [x.name, x.path, x.special]).at(-1), ['drop', 'C:\\Users\\Public\\Libraries', false]);
  assert.equal(of('smb-session').map((x) => [x.client, x.user, x.openFiles]), [['10.20.30.55', 'CORP\\svc_backup', 3]]);
});

test('a source the account may not read is a counted error naming it; the others still come', () => {
  const r = run('infected', { NetContextDenied: 'Get-SmbShare' });
  assert.is(r.summary.status, 'ok');
  assert.is(r.summary.errors, 1);
  assert.match(r.stderrLog, /cannot read SMB shares or sessions: Access is denied/);
  assert.ok(r.records.some((x) => x.source === 'dns-cache') && r.records.some((x) => x.source === 'hosts'));
});

test('the hosts-file rule flags Defender\'s and VirusTotal\'s names pointed elsewhere, not an intranet name or a healthy hosts file', () => {
  const index = new RuleIndex(loadRules());
  const hits = (recs: any[]) => ruleHits(index, 'text', recs, (e, r) => `${e.rule.def.id}: ${r.line}`).filter((h) => h.startsWith('magpie-hosts-file-redirect:'));
  assert.equal(hits(run('infected').records), ['magpie-hosts-file-redirect: 11', 'magpie-hosts-file-redirect: 12', 'magpie-hosts-file-redirect: 13']);
  assert.equal(hits(run('healthy').records), []);
});

test('routes, proxies per user hive and WinHTTP, enabled inbound Allow firewall rules with their filters, named pipes', () => {
  const r = run('infected');
  assert.is(r.summary.errors, 0, r.stderrLog);
  const of = (s: string) => r.records.filter((x) => x.source === s);
  assert.equal(of('route')[0], { source: 'route', destination: '0.0.0.0/0', nextHop: '10.20.30.1', interface: 'Ethernet0', metric: 0, protocol: 'NetMgmt', store: 'ActiveStore' });
  assert.equal(of('route').at(-1)!.destination, '52.96.0.0/14');
  const proxies = of('proxy').map((x) => [x.scope, x.sid ?? null, x.proxyEnable, x.proxyServer, x.localProxy]);
  assert.equal(proxies, [
    ['user', '.DEFAULT', false, '', false],
    ['user', 'S-1-5-21-3623811015-3361044348-30300820-500', true, 'proxy.corp.example:8080', false],
    ['user', 'S-1-5-18', false, '', false],
    ['user', 'S-1-5-21-3623811015-3361044348-30300820-1104', true, '127.0.0.1:8080', true],
    ['winhttp', null, true, 'proxy.corp.example:8080', false],
  ], 'every loaded hive but the _Classes ones; WinHTTP from its binary setting');
  const jdoe = of('proxy')[3];
  assert.equal([jdoe.profile, jdoe.proxyHosts, jdoe.proxyPorts, jdoe.proxyOverride], ['C:\\Users\\jdoe', ['127.0.0.1'], [8080], '<local>']);
  assert.is(of('proxy')[4].proxyOverride, '<local>');
  const fw = of('firewall-rule');
  assert.equal(fw.map((x) => x.name).includes('RVM-RPCSS-In-TCP'), false, 'a disabled rule is left out');
  assert.equal(fw.map((x) => x.name).includes('CoreNet-DNS-Out-UDP'), false, 'an outbound rule is left out');
  assert.equal(fw.find((x) => x.name === 'WINRM-HTTP-In-TCP'), { source: 'firewall-rule', name: 'WINRM-HTTP-In-TCP', displayName: 'Windows Remote Management (HTTP-In)', group: 'Windows Remote Management', profile: 'Domain, Private', program: 'System', package: null, protocol: 'TCP', localPort: ['5985'], remoteAddress: ['Any'], policySource: 'PersistentStore' });
  assert.equal(fw.at(-2)!.program, 'C:\\Users\\Public\\svchost.exe');
  assert.equal(fw.map((x) => x.created ?? x.creationTime), fw.map(() => undefined), 'Windows stores no creation time: none is made up');
  const pipes = of('named-pipe');
  assert.ok(pipes.some((x) => x.name === 'lsass' && x.knownOffensive === false));
  assert.equal(pipes.filter((x) => x.knownOffensive).map((x) => [x.name, x.pattern, x.tool]), [
    ['MSSE-1234-server', '^MSSE-\\d+-server$', 'Cobalt Strike (default artifact kit)'],
    ['postex_ssh_1a2b', '^postex_', 'Cobalt Strike (post-exploitation job)'],
  ]);
});

test('a missing networking module is a warning, not an error; a denied pipe listing is a counted error', () => {
  const r = run('infected', { NetContextMissing: 'Get-NetRoute,Get-NetFirewallRule', NetContextDenied: 'NamedPipes' });
  assert.is(r.summary.status, 'ok');
  assert.is(r.summary.errors, 1, r.stderrLog);
  assert.match(r.stderrLog, /the routing table not read: Get-NetRoute is not available on this host/);
  assert.match(r.stderrLog, /the firewall rules not read: Get-NetFirewallRule is not available on this host/);
  assert.match(r.stderrLog, /cannot list the named pipes/);
  assert.equal(['route', 'firewall-rule', 'named-pipe'].map((s) => r.records.some((x) => x.source === s)), [false, false, false]);
  assert.ok(r.records.some((x) => x.source === 'proxy') && r.records.some((x) => x.source === 'hosts'));
});

test('firewall, named pipe and proxy rules flag the infected host\'s backdoor rule, Cobalt Strike pipes and local proxy; nothing at high on the healthy server', () => {
  const index = new RuleIndex(loadRules());
  const label = (e: any, r: any) => `${e.rule.def.id} (${e.rule.def.level}): ${r.displayName ?? r.name ?? r.proxyServer ?? r.line}`;
  const ours = /firewall|pipe|proxy/;
  assert.equal(ruleHits(index, 'text', run('infected').records, label).filter((h) => ours.test(h)), [
    'magpie-proxy-local-or-unusual (medium): 127.0.0.1:8080',
    'magpie-firewall-user-writable-program (high): Windows Update Service',
    'magpie-firewall-open-inbound (medium): Microsoft Network Discovery',
    'magpie-named-pipe-offensive (high): MSSE-1234-server',
    'magpie-named-pipe-offensive (high): postex_ssh_1a2b',
  ]);
  const healthy = ruleHits(index, 'text', run('healthy').records, (e, r) => `${e.rule.def.level}|${e.rule.def.id}: ${JSON.stringify(r)}`);
  assert.equal(healthy.filter((h) => levelRank(h.split('|')[0] as any) >= levelRank('high')), []);
  assert.equal(healthy, [], 'nothing at all on the healthy server');
});

test('the proxy rule: unusual ports and a local PAC script, not a corporate proxy on a usual port', () => {
  const index = new RuleIndex(loadRules());
  const rec = (o: Record<string, unknown>) => ({ source: 'proxy', scope: 'user', proxyEnable: true, proxyServer: '', autoConfigURL: '', localProxy: false, ...o });
  const hit = (o: Record<string, unknown>) => ruleHits(index, 'text', [rec(o)], (e) => e.rule.def.id).includes('magpie-proxy-local-or-unusual');
  assert.equal([
    hit({ proxyServer: 'http=proxy.corp.example:3128;https=proxy.corp.example:3128' }),
    hit({ proxyServer: '203.0.113.9:31337' }),
    hit({ proxyServer: 'http=proxy.corp.example:8080;socks=203.0.113.9:1080' }),
    hit({ proxyEnable: false, proxyServer: '203.0.113.9:31337' }),
    hit({ proxyEnable: false, autoConfigURL: 'http://127.0.0.1:9000/proxy.pac' }),
  ], [false, true, true, false, true]);
});

test.run();
