// The ps-history step (Windows) under real pwsh: every profile's PSReadLine history read through
// the recorded host's files (test/fixtures/windows/ps-history: a profile folder per user under
// files/C/Users, the history files as PSReadLine writes them, UTF-8 with CRLF); then the rules
// on it: Magpie's own and SigmaHQ's ps_script rules reading the commands as script blocks.
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { join } from 'node:path';
import { loadRules, loadRuleSet } from '../lib/triage/rules.ts';
import { RuleIndex } from '../lib/triage/rule-index.ts';
import { FIXTURES, pwshOrFail, ruleHits, runWindowsStep } from './helpers.ts';
import { z } from 'zod';

pwshOrFail();
const HERE = join(FIXTURES, 'windows', 'ps-history');
const run = (host: string, params: Record<string, string> = {}) => runWindowsStep('ps-history', { fixtureDir: join(HERE, host), fakes: [join(FIXTURES, 'windows', 'fakes.ps1')], params, schema: z.looseObject({ source: z.literal('psreadline'), user: z.string(), file: z.string(), line: z.number(), command: z.string() }) });

test('one record per command of every user\'s history, with the user, file and line; a command continued with a backtick is one', () => {
  const r = run('infected');
  assert.is(r.summary.status, 'ok', r.stderrLog);
  assert.equal([...new Set(r.records.map((x) => x.user))].sort(), ['jdoe', 'svc_sql']);
  const jdoe = r.records.filter((x) => x.user === 'jdoe');
  assert.is(jdoe.length, 8);
  assert.equal(jdoe[3].line, 4);
  assert.match(jdoe[3].command, /^IEX \(New-Object Net\.WebClient\)\.DownloadString/);
  assert.equal([jdoe[7].line, jdoe[7].command], [8, 'Get-ChildItem C:\\Users\\Public `\n  | Remove-Item -Force']);
  assert.is(jdoe[0].file, 'C:\\Users\\jdoe\\AppData\\Roaming\\Microsoft\\Windows\\PowerShell\\PSReadLine\\ConsoleHost_history.txt');
  const last = run('infected', { MaxLines: '2' });
  assert.equal(last.records.filter((x) => x.user === 'jdoe').map((x) => x.line), [7, 8]);
  assert.match(last.stderrLog, /8 commands, the oldest 6 left out \(MaxLines 2\)/);
});

test('rules: the download cradle, mimikatz, the lsass dump and Defender turned off are flagged, the admin\'s ordinary commands are not; SigmaHQ\'s ps_script rules read the history too', () => {
  const [infected, healthy] = [run('infected').records, run('healthy').records];
  const index = new RuleIndex(loadRules());
  const fired = (recs: any[]) => ruleHits(index, 'text', recs, (e, r) => `${e.rule.def.id}: ${r.line}`);
  const inf = fired(infected);
  for (const line of [4, 5, 6, 7]) assert.ok(inf.includes(`magpie-ps-history-attack-commands: ${line}`), `line ${line}: ${inf.join('; ')}`);
  assert.not.ok(inf.some((f) => /: (1|2|3|8)$/.test(f) && f.startsWith('magpie-ps-history')), inf.join('; '));
  assert.equal(fired(healthy), []);
  // All of SigmaHQ's Windows rules (test/fixtures/sigmahq): its ps_script rules read each command
  // as a script block and name mimikatz; nothing on the admin's history.
  const sigma = new RuleIndex(loadRuleSet([join(FIXTURES, 'sigmahq', 'rules', 'windows')], false).rules);
  const sig = ruleHits(sigma, 'text', infected, (e, r) => `${e.rule.def.title}: ${r.line}`);
  assert.ok(sig.some((h) => h.endsWith(': 5')), `a SigmaHQ rule on Invoke-Mimikatz: ${sig.join('; ')}`);
  const healthyHigh = ruleHits(sigma, 'text', healthy, (e, r) => (['high', 'critical'].includes(e.rule.def.level) ? `${e.rule.def.title}: ${r.line}` : '')).filter(Boolean);
  assert.equal(healthyHigh, []);
});

test.run();
