// Every .ps1 we ship parses under the real PowerShell parser and keeps to Windows PowerShell 5.1.
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { readdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { loadCatalog } from '../lib/catalog.ts';
import { buildPlan } from '../lib/plan.ts';
import { composeScript } from '../lib/script.ts';
import { checkScripts } from '../lib/script-check.ts';
import { OS_NAMES } from '../lib/definitions.ts';
import { pwshOrFail, ROOT, tempDir } from './helpers.ts';

pwshOrFail();

function ps1Files(dir: string): string[] {
  return (readdirSync(join(ROOT, dir), { recursive: true }) as string[]).filter((f) => f.endsWith('.ps1')).map((f) => join(ROOT, dir, f));
}

test('every shipped .ps1 (steps, prelude, probe, checker, test fakes) parses and is 5.1-compatible', async () => {
  const files = [...ps1Files('playbooks'), ...ps1Files('lib'), ...ps1Files('test')];
  assert.ok(files.length >= 10, `found ${files.length}`);
  assert.equal(await checkScripts(files), []);
});

test('every composed script (prelude + step, as it runs) parses and is 5.1-compatible', async () => {
  const catalog = loadCatalog();
  const dir = tempDir();
  const files: string[] = [];
  for (const book of catalog.playbooks.keys()) {
    for (const step of buildPlan(catalog, book).steps) {
      for (const os of OS_NAMES) {
        const script = composeScript(step, os);
        if (!script) continue;
        const file = join(dir, `${book}-${step.id}-${os}.ps1`);
        writeFileSync(file, script);
        files.push(file);
      }
    }
  }
  assert.ok(files.length >= 6);
  assert.equal(await checkScripts(files), []);
});

test('the checker flags PowerShell 7-only syntax and parameters, with file and line', async () => {
  const file = join(tempDir(), 'modern.ps1');
  writeFileSync(
    file,
    [
      "$a = $null ?? 'b'",
      '$b = $true ? 1 : 2',
      '1..3 | ForEach-Object -Parallel { $_ }',
      '$c = ${a}?.Length',
      "$d = '{}' | ConvertFrom-Json -AsHashtable",
      'Get-Date && Get-Date',
      'gc -AsByte x',
      "@('a') | Join-String",
      '$e ??= 1',
      "1..2 | % -Para { $_ }",
    ].join('\n'),
  );
  const problems = await checkScripts([file]);
  const lines = problems.map((p) => Number(/modern\.ps1:(\d+):/.exec(p)?.[1]));
  for (let n = 1; n <= 10; n++) assert.ok(lines.includes(n), `line ${n} not flagged: ${problems.join('\n')}`);
  assert.ok(problems.every((p) => /PowerShell 7 only/.test(p)));
});

test('in scripts for both, .NET members .NET Framework lacks and cmdlets PowerShell 7 removed are flagged; linux.ps1 may use them', async () => {
  const dir = tempDir();
  const body = [
    "$h = [Convert]::ToHexString([byte[]](1, 2))",
    "$r = [System.IO.Path]::GetRelativePath('/a', '/a/b')",
    '$e = [Array]::Empty[int]()',
    "$l = [IO.File]::ResolveLinkTarget('/x', $false)",
    '$p = [Environment]::ProcessId',
    'Get-WmiObject Win32_Process',
    'gwmi Win32_Service',
    'Get-EventLog -LogName System -Newest 1',
    "$fine = [Convert]::ToBase64String([byte[]](1)); $t = [IO.Path]::Combine('a', 'b'); Get-CimInstance Win32_Process",
  ].join('\n');
  const both = join(dir, 'windows.ps1');
  const linux = join(dir, 'linux.ps1');
  writeFileSync(both, body);
  writeFileSync(linux, body);
  const problems = await checkScripts([both, linux]);
  const lines = problems.map((p) => Number(/windows\.ps1:(\d+):/.exec(p)?.[1]));
  for (let n = 1; n <= 8; n++) assert.ok(lines.includes(n), `line ${n} not flagged: ${problems.join('\n')}`);
  assert.not.ok(lines.includes(9), `line 9 is fine: ${problems.join('\n')}`);
  assert.not.ok(problems.some((p) => p.includes('linux.ps1')), 'linux.ps1 runs on PowerShell 7 only');
  assert.match(problems.join('\n'), /Get-WmiObject was removed in PowerShell 7/);
});

test('a file that does not parse is reported with its line', async () => {
  const file = join(tempDir(), 'broken.ps1');
  writeFileSync(file, "Write-Host 'ok'\nif ($true) {\n");
  const [problem] = await checkScripts([file]);
  assert.match(problem, /broken\.ps1:\d+: does not parse: /);
});

test('magpie validate rejects a team step that Windows PowerShell 5.1 cannot run, naming file and line', async () => {
  const { cli, writeTree } = await import('./helpers.ts');
  const dir = writeTree({
    'steps/modern/step.yaml': 'id: modern\ndescription: uses 7-only syntax\nkind: text\nos: [windows]\ntimeout: 10\n',
    'steps/modern/windows.ps1': "$a = 1\n$b = $a ?? 2\n",
  });
  const r = cli(['validate', '--playbooks', dir]);
  assert.is(r.code, 2);
  assert.match(r.stderr, /steps\/modern\/windows\.ps1:2: the null-coalescing operator \?\? is PowerShell 7 only/);
  const ok = cli(['validate']);
  assert.is(ok.code, 0, ok.stderr);
  assert.match(ok.stdout, /every script parses and keeps to Windows PowerShell 5\.1/);
});

test.run();
