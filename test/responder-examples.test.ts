// The built-in responder-step examples end to end on this machine: yara-fetched (Debian's yara
// over files fetched from the target) and suspicious-modules (Linux for real; Windows under pwsh
// with Get-Process and friends answered by fakes).
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { spawn } from 'node:child_process';
import { createHash } from 'node:crypto';
import { copyFileSync, existsSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { loadCatalog } from '../lib/catalog.ts';
import { collect } from '../lib/collect.ts';
import { verifyEvidence } from '../lib/evidence/verify.ts';
import { buildPlan } from '../lib/plan.ts';
import { loadRuleSet } from '../lib/triage/rules.ts';
import { RuleIndex } from '../lib/triage/rule-index.ts';
import { cli, pwshOrFail, readJson, readJsonl, ruleHits, teamPlaybook, tempDir, writeTree } from './helpers.ts';

pwshOrFail();
const YARA = '/usr/bin/yara';

test('yara-fetched: a planted file is fetched from the target, hash-checked, and matched on the responder by a rule the test writes', async () => {
  if (!existsSync(YARA)) throw new Error("yara-fetched needs Debian's yara: apt-get install yara");
  const planted = writeTree({ 'drop/sub/invoice ‘final’.txt': 'hello MAGPIE-PLANTED-MARKER-7 world\n', 'drop/clean.txt': 'nothing here\n' });
  const rules = join(tempDir(), 'test.yar');
  writeFileSync(rules, 'rule planted_marker {\n  strings:\n    $a = "MAGPIE-PLANTED-MARKER"\n  condition:\n    $a\n}\n');
  const out = tempDir();
  const r = cli(['run', 'yara-fetched', '--out', out, '--param', `Paths=${join(planted, 'drop')}`, '--param', `Rules=${rules}`]);
  assert.is(r.code, 0, r.stderr + r.stdout);
  const dir = /evidence: (.+)/.exec(r.stdout)![1].trim();
  const m = readJson(join(dir, 'manifest.json'));
  assert.equal(m.steps.map((s: any) => [s.id, s.status, s.responder]), [['fetch-files', 'ok', 'responder.mjs'], ['yara-scan', 'ok', 'responder.mjs']]);
  const fetched = readJsonl(join(dir, m.steps[0].dir, 'records.jsonl'));
  assert.is(fetched.length, 2);
  const bad = fetched.find((f) => f.path.endsWith('invoice ‘final’.txt'));
  const copy = join(dir, m.steps[0].dir, bad.copy);
  assert.is(readFileSync(copy, 'utf8'), 'hello MAGPIE-PLANTED-MARKER-7 world\n');
  const [det, ...more] = readJsonl(join(dir, m.steps[1].dir, 'records.jsonl'));
  assert.equal(more, []);
  assert.is(det.type, 'threat');
  assert.is(det.source, 'yara');
  assert.is(det.threatName, 'planted_marker');
  assert.equal(det.resources, [join(planted, 'drop', 'sub', 'invoice ‘final’.txt')]);
  assert.is(det.file, `${m.steps[0].dir}/${bad.copy}`);
  assert.is(det.sha256, createHash('sha256').update('hello MAGPIE-PLANTED-MARKER-7 world\n').digest('hex'));
  // The rules used are evidence too, and the yara command line is in the step's log.
  assert.is(readFileSync(join(dir, m.steps[1].dir, 'files', 'rules.yar'), 'utf8'), readFileSync(rules, 'utf8'));
  assert.match(readFileSync(join(dir, m.steps[1].dir, 'stdout.log'), 'utf8'), /\[responder \$\] yara --no-warnings .*--scan-list/);
  assert.ok((await verifyEvidence(dir)).ok);
  // Triage names the match as YARA's, not Defender's.
  const t = cli(['triage', dir, '--json']);
  assert.is(t.code, 0, t.stderr);
  const [stamp] = readdirSync(join(dir, 'triage'));
  const ids = readJson(join(dir, 'triage', stamp, 'findings.json')).findings.map((f: any) => f.rule.id);
  assert.ok(ids.includes('magpie-yara-match'), ids.join(', '));
  assert.not.ok(ids.includes('magpie-defender-detection'), ids.join(', '));

  const noRules = cli(['run', 'yara-fetched', '--out', tempDir(), '--param', `Paths=${join(planted, 'drop')}`, '--param', 'Rules=/nonexistent/x.yar', '--json']);
  const ended = noRules.stdout.split('\n').filter(Boolean).map((l) => JSON.parse(l)).filter((e) => e.type === 'step-ended');
  assert.is(ended[1].status, 'failed');
  assert.match(ended[1].reason, /responder\.mjs: no YARA rules file at \/nonexistent\/x\.yar: pass --param yara-scan\.Rules=FILE/);
});

test('suspicious-modules on Linux: a process run from /tmp is flagged, its mapped files listed, the ones outside the system folders hashed', async () => {
  const bin = join(tempDir(), 'kworker-upd');
  copyFileSync('/bin/sleep', bin);
  const child = spawn(bin, ['120'], { stdio: 'ignore' });
  try {
    await new Promise((r) => setTimeout(r, 300));
    const plan = buildPlan(loadCatalog(), 'suspicious-modules');
    const [res] = await collect({ plan, targets: ['localhost'], transport: 'local', out: tempDir(), caseId: 'mods', concurrency: 1 });
    assert.ok(res.dir, res.error ?? '');
    const m = readJson(join(res.dir!, 'manifest.json'));
    const step = m.steps.find((s: any) => s.id === 'suspicious-modules');
    assert.is(step.status, 'ok', step.reason);
    const mine = readJsonl(join(res.dir!, step.dir, 'records.jsonl')).filter((r) => r.pid === child.pid);
    const image = mine.find((r) => r.path === bin);
    assert.ok(image, `the image is listed: ${JSON.stringify(mine.slice(0, 3))}`);
    assert.is(image.systemFolder, false);
    assert.is(image.sha256, createHash('sha256').update(readFileSync('/bin/sleep')).digest('hex'));
    assert.ok(image.flaggedBy.includes('magpie-linux-deleted-or-tmp-binary'));
    const libc = mine.find((r) => /\/libc[.-]/.test(r.path));
    assert.ok(libc, 'libc is listed');
    assert.is(libc.systemFolder, true);
    assert.is(libc.sha256, undefined, 'system libraries are not hashed');
    assert.ok((await verifyEvidence(res.dir!)).ok);
  } finally {
    child.kill();
  }
});

test('suspicious-modules on Windows (pwsh, Get-Process answered by fakes): a flagged svchost outside System32 gets its modules listed, those outside System32 hashed and signature-checked', async () => {
  const startup = join(tempDir(), 'fakes.ps1');
  // ‘ and ’ are single quotes to PowerShell: doubled inside the fakes' single-quoted strings.
  writeFileSync(
    startup,
    `$env:SystemRoot = 'C:\\Windows'
function global:Get-Process { param([long]$Id, $ErrorAction)
  if ($Id -ne 4242) { throw "Cannot find a process with the process identifier $Id." }
  $mods = @(
    [pscustomobject]@{ FileName = 'C:\\Users\\Public\\svchost.exe'; ModuleName = 'svchost.exe'; BaseAddress = [IntPtr]0x400000; ModuleMemorySize = 90112 },
    [pscustomobject]@{ FileName = 'C:\\WINDOWS\\System32\\ntdll.dll'; ModuleName = 'ntdll.dll'; BaseAddress = [IntPtr]0x7ffb0000; ModuleMemorySize = 2031616 },
    [pscustomobject]@{ FileName = 'C:\\Users\\Public\\AppData\\inject ‘‘x’’.dll'; ModuleName = 'inject ‘‘x’’.dll'; BaseAddress = [IntPtr]0x10000000; ModuleMemorySize = 65536 }
  )
  [pscustomobject]@{ Id = 4242; ProcessName = 'svchost'; Modules = $mods }
}
function global:Get-Item { param([string]$LiteralPath, [switch]$Force, $ErrorAction) [pscustomobject]@{ FullName = $LiteralPath; Length = [long]($LiteralPath.Length * 1000) } }
function global:Get-FileHash { param([string]$LiteralPath, [string]$Algorithm, $ErrorAction)
  $sha = [Security.Cryptography.SHA256]::Create()
  [pscustomobject]@{ Path = $LiteralPath; Hash = ([BitConverter]::ToString($sha.ComputeHash([Text.Encoding]::UTF8.GetBytes($LiteralPath))) -replace '-', '') }
}
function global:Get-AuthenticodeSignature { param([string]$LiteralPath) [pscustomobject]@{ Status = 'NotSigned'; SignerCertificate = $null } }
`,
  );
  const book = teamPlaybook('w', [
    { id: 'procs', kind: 'process', os: ['windows'], run: "[pscustomobject]@{ pid = 4242; ppid = 700; name = 'svchost.exe'; path = 'C:\\Users\\Public\\svchost.exe'; commandLine = 'svchost.exe -k netsvcs' }" },
    { step: 'suspicious-modules' },
  ]);
  const plan = buildPlan(loadCatalog([book]), 'w');
  const [res] = await collect({ plan, targets: ['localhost'], transport: 'local', out: tempDir(), caseId: 'win', concurrency: 1, local: { startupScript: startup, osOverride: 'windows' } });
  assert.ok(res.dir, res.error ?? '');
  const m = readJson(join(res.dir!, 'manifest.json'));
  const step = m.steps[1];
  assert.is(step.status, 'ok', step.reason);
  assert.is(step.invocations, 2, 'one call lists, one call hashes');
  const recs = readJsonl(join(res.dir!, step.dir, 'records.jsonl'));
  assert.equal(recs.map((r) => [r.module, r.systemFolder]), [['svchost.exe', false], ['ntdll.dll', true], ['inject ‘x’.dll', false]]);
  const sha = (s: string) => createHash('sha256').update(s).digest('hex');
  assert.is(recs[0].sha256, sha('C:\\Users\\Public\\svchost.exe'));
  assert.is(recs[2].sha256, sha('C:\\Users\\Public\\AppData\\inject ‘x’.dll'));
  assert.is(recs[2].signatureStatus, 'NotSigned');
  assert.is(recs[2].signed, false);
  assert.is(recs[1].sha256, undefined);
  assert.ok(recs.every((r) => r.pid === 4242 && r.flaggedBy.includes('magpie-system-process-wrong-path')));
  assert.is(recs[0].baseAddress, '0x400000');
  // The unsigned files outside System32 in svchost are flagged (the fake image and the DLL); System32's ntdll is not.
  const { rules } = loadRuleSet([], true);
  const hits = ruleHits(new RuleIndex(rules), 'file', recs, (e: any, r) => `${e.rule.def.id} ${r.module}`).filter((h) => h.startsWith('magpie-module-'));
  assert.equal(hits, ['magpie-module-unsigned-in-system-process svchost.exe', 'magpie-module-unsigned-in-system-process inject ‘x’.dll']);
  // The hashing call got the paths as data: its params hold them, its script does not.
  const params = readJson(join(res.dir!, step.dir, 'invocations', '002', 'params.json'));
  assert.equal(params.a0, ['C:\\Users\\Public\\svchost.exe', 'C:\\Users\\Public\\AppData\\inject ‘x’.dll']);
  assert.not.ok(readFileSync(join(res.dir!, step.dir, 'invocations', '002', 'script.ps1'), 'utf8').includes('inject'));
});

test.run();
