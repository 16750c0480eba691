// The net-context step (Windows) under real pwsh: the hosts file through the recorded host's
// files, the DNS cache, neighbours and SMB from recorded CIM shapes (test/fixtures/windows/
// net-context, SOURCE.md there); a denied source is a counted error; the hosts-file rule.
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { join } from 'node:path';
import { z } from 'zod';
import { loadRules } from '../lib/triage/rules.ts';
import { RuleIndex } from '../lib/triage/rule-index.ts';
import { FIXTURES, pwshOrFail, ruleHits, runWindowsStep } from './helpers.ts';

pwshOrFail();
const HERE = join(FIXTURES, 'windows', 'net-context');
const run = (host: string, globals: Record<string, string> = {}) =>
  runWindowsStep('net-context', { fixtureDir: join(HERE, host), fakes: [join(FIXTURES, 'windows', 'fakes.ps1'), join(HERE, 'fakes.ps1')], globals, schema: z.looseObject({ source: z.enum(['hosts', 'dns-cache', 'neighbor', 'smb-share', 'smb-session']) }) });

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
  const hits = (recs: any[]) => ruleHits(index, 'text', recs, (e, r) => `${e.rule.def.id}: ${r.line}`);
  assert.equal(hits(run('infected').records), ['magpie-hosts-file-redirect: 11', 'magpie-hosts-file-redirect: 12', 'magpie-hosts-file-redirect: 13']);
  assert.equal(hits(run('healthy').records), []);
});

test.run();
