// The runner on a real pwsh: timeouts that really stop, throws, preconditions, hostile output.
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { existsSync, readdirSync, readFileSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { loadCatalog } from '../lib/catalog.ts';
import { collect, type HostResult } from '../lib/collect.ts';
import { buildPlan, parseParamArgs } from '../lib/plan.ts';
import { verifyEvidence } from '../lib/evidence/verify.ts';
import { cli, pwshOrFail, readJson, readJsonl, teamPlaybook, tempDir, writeTree } from './helpers.ts';

pwshOrFail();

async function runBook(steps: unknown[], params: string[] = [], extra: Record<string, string> = {}): Promise<{ result: HostResult; manifest: any; dir: string }> {
  const book = teamPlaybook('t', steps, extra);
  const plan = buildPlan(loadCatalog([book]), 't', parseParamArgs(params));
  const out = tempDir();
  const [result] = await collect({ plan, targets: ['localhost'], transport: 'local', out, caseId: 'test', concurrency: 1 });
  assert.ok(result.dir, `no evidence folder: ${result.error}`);
  return { result, manifest: readJson(join(result.dir!, 'manifest.json')), dir: result.dir! };
}

const HOSTILE = `a'‘’‚‛"“”„$(whoami)\`whoami\`;exit 1;\nb\r\n\${env:PATH}@(1)|&<>%{}#<#`;

test('a parameter with every kind of quote, $(), backticks, ; and newlines arrives as the same literal string', async () => {
  const out = tempDir();
  const book2 = teamPlaybook('u', [{ step: 'echo' }], {
    'steps/echo/step.yaml': 'id: echo\ndescription: echo a value\nkind: text\nos: [linux]\ntimeout: 30\nparameters:\n  - name: Value\n    type: string\n    required: true\n',
    'steps/echo/linux.ps1': '[pscustomobject]@{ value = $Params.Value; length = $Params.Value.Length }\n',
  });
  const r2 = cli(['run', 'u', '--playbooks', book2, '--out', out, '--param', `echo.Value=${HOSTILE}`]);
  assert.is(r2.code, 0, r2.stderr);
  const dir = /evidence: (.+)/.exec(r2.stdout)![1].trim();
  const [rec] = readJsonl(join(dir, 'steps', '01-echo', 'records.jsonl'));
  assert.is(rec.value, HOSTILE);
  assert.is(rec.length, HOSTILE.length);
  // The script that ran holds no trace of the value: parameters travel only as data.
  assert.not.ok(readFileSync(join(dir, 'steps', '01-echo', 'script.ps1'), 'utf8').includes('whoami'));
  assert.is(readJson(join(dir, 'steps', '01-echo', 'params.json')).Value, HOSTILE);
});

test('a step past its timeout is stopped (with its children) within timeout + 5 s, keeps what it wrote, and the next step runs', async () => {
  const t0 = Date.now();
  // 4 s: a loaded CI machine can take 2 s to start the step's first statement.
  const { manifest, dir } = await runBook([
    { id: 'sleepy', timeout: 4, run: "[pscustomobject]@{ before = 'sleep' }\n& /bin/sleep 301\n[pscustomobject]@{ after = 'never' }" },
    { id: 'next', run: "[pscustomobject]@{ ran = $true }" },
  ]);
  const [sleepy, next] = manifest.steps;
  assert.is(sleepy.status, 'timeout');
  assert.is(sleepy.partial, true);
  assert.ok(sleepy.durationMs < 9000, `stopped after ${sleepy.durationMs} ms`);
  assert.equal(readJsonl(join(dir, sleepy.dir, 'records.jsonl')), [{ before: 'sleep' }]);
  assert.is(next.status, 'ok');
  assert.is(next.records, 1);
  assert.ok(Date.now() - t0 < 25000);
  const survivors = readdirSync('/proc').filter((p) => /^\d+$/.test(p)).filter((p) => {
    try {
      return readFileSync(`/proc/${p}/cmdline`, 'utf8').includes('sleep\u0000301');
    } catch {
      return false;
    }
  });
  assert.equal(survivors, [], 'the native child of the step was stopped too');
});

test('a step that throws is failed with its message; records before the throw are kept; the run goes on', async () => {
  const { manifest, dir } = await runBook([
    { id: 'thrower', run: "[pscustomobject]@{ n = 1 }\nthrow 'boom: disk on fire'" },
    { id: 'after', run: "[pscustomobject]@{ n = 2 }" },
  ]);
  assert.is(manifest.steps[0].status, 'failed');
  assert.match(manifest.steps[0].reason, /boom: disk on fire/);
  assert.is(manifest.steps[0].records, 1);
  assert.match(readFileSync(join(dir, manifest.steps[0].dir, 'stderr.log'), 'utf8'), /\[terminating\] boom: disk on fire/);
  assert.is(manifest.steps[1].status, 'ok');
  assert.is(manifest.state, 'complete');
});

test('continueOnError: false stops the playbook; the rest is skipped with the reason', async () => {
  const { manifest, result } = await runBook([
    { id: 'first', continueOnError: false, run: "throw 'no'" },
    { id: 'second', run: "1" },
  ]);
  assert.is(manifest.steps[1].status, 'skipped');
  assert.match(manifest.steps[1].reason, /step first failed and has continueOnError: false/);
  assert.is(result.failedSteps, 1);
});

test('OS precondition: a step with no script for the target OS is skipped with the reason', async () => {
  const { manifest } = await runBook([{ id: 'winonly', os: ['windows'], run: 'Get-CimInstance Win32_BIOS' }]);
  assert.is(manifest.steps[0].status, 'skipped');
  assert.match(manifest.steps[0].reason, /no script for linux; this step supports windows/);
  assert.is(manifest.steps[0].os, null);
});

test('a script that does not parse fails that step only', async () => {
  const { manifest } = await runBook([{ id: 'broken', run: 'if ( {' }, { id: 'fine', run: '[pscustomobject]@{ ok = 1 }' }]);
  assert.is(manifest.steps[0].status, 'failed');
  assert.match(manifest.steps[0].reason, /did not run|missing|parse|expression/i);
  assert.is(manifest.steps[1].status, 'ok');
});

test('hostile output: 50 MB line, lone surrogates, invalid UTF-8, ANSI escapes — valid evidence, clean terminal', async () => {
  const book = teamPlaybook('h', [
    {
      id: 'hostile',
      timeout: 120,
      run: [
        "[pscustomobject]@{ big = ('x' * 52428800) }",
        "[pscustomobject]@{ name = \"`e[31mred`e]0;owned`a\" + [string][char]0xD800 + 'tail' }",
        "Write-Host \"`e[2J`e[31mcleared\"",
        "& /usr/bin/printf 'bad \\377\\376 bytes\\n'",
        "Write-Error \"`e[5merror with escape\"",
        "throw \"`e[31mfailing`e[0m\"",
      ].join('\n'),
    },
  ]);
  const out = tempDir();
  const r = cli(['run', 'h', '--playbooks', book, '--out', out], { timeoutMs: 180_000 });
  assert.is(r.code, 1, 'the step throws at the end');
  assert.not.ok(/\u001b/.test(r.stdout + r.stderr), 'no raw escape reaches the terminal');
  assert.match(r.stderr, /\\x1b\[31mfailing/);
  const dir = /evidence: (.+)/.exec(r.stdout)![1].trim();
  const recordsFile = join(dir, 'steps', '01-hostile', 'records.jsonl');
  assert.ok(statSync(recordsFile).size > 50 * 1024 * 1024);
  const decoder = new TextDecoder('utf-8', { fatal: true });
  for (const f of ['records.jsonl', 'stdout.log', 'stderr.log']) decoder.decode(readFileSync(join(dir, 'steps', '01-hostile', f)));
  const records = readJsonl(recordsFile);
  assert.is(records[0].big.length, 52428800);
  assert.match(records[1].name, /^\u001b\[31mred/);
  assert.ok((await verifyEvidence(dir)).ok);
});

test('file names from a host cannot leave the evidence folder; links are not followed', async () => {
  const { manifest, dir } = await runBook([
    {
      id: 'files',
      run: [
        "[IO.File]::WriteAllText(\"$OutDir/..\\..\\x\", 'backslashes')",
        // One file on Linux; read as Windows separators it climbs out of files/, steps/ and the run folder.
        "[IO.File]::WriteAllText(\"$OutDir/..\\..\\..\\..\\escape.txt\", 'climb')",
        "New-Item -ItemType Directory -Path \"$OutDir/CON\" | Out-Null",
        "[IO.File]::WriteAllText(\"$OutDir/CON/nul.txt\", 'reserved')",
        "[IO.File]::WriteAllText(\"$OutDir/ok.txt\", 'fine')",
        "[IO.File]::WriteAllText(\"$OutDir/`e[31m.txt\", 'escape in name')",
        "& /bin/ln -s /etc/passwd \"$OutDir/passwd-link\"",
        // A FIFO nobody writes: hashing it on the target must not block the step.
        "& /usr/bin/mkfifo \"$OutDir/pipe\"",
      ].join('\n'),
    },
  ]);
  const files = manifest.files.filter((f: any) => f.path.startsWith(`${manifest.steps[0].dir}/files/`));
  const names = files.map((f: any) => f.path.slice(`${manifest.steps[0].dir}/files/`.length));
  assert.ok(names.includes('ok.txt'), names.join(', '));
  for (const n of names) {
    assert.not.ok(n.split('/').some((seg: string) => seg === '..' || seg === '.' || /^(con|nul)(\.|$)/i.test(seg)), n);
    assert.match(n, /^[A-Za-z0-9._~\/-]+$/);
  }
  const back = files.find((f: any) => f.originalName === '..\\..\\x');
  assert.ok(back, 'the original name is recorded');
  assert.is(readFileSync(join(dir, back.path), 'utf8'), 'backslashes');
  assert.not.ok(names.some((n: string) => n.includes('passwd')));
  assert.match(readFileSync(join(dir, 'custody.jsonl'), 'utf8'), /"action":"file-not-taken".*passwd-link.*symbolic link/);
  assert.match(readFileSync(join(dir, 'custody.jsonl'), 'utf8'), /"action":"file-not-taken","step":"files","name":"pipe","why":"not a regular file"/);
  assert.is(manifest.steps[0].status, 'ok');
  assert.not.ok(existsSync(join(dir, '..', 'escape.txt')));
  assert.not.ok(existsSync(join(dir, 'escape.txt')));
  const climbed = files.find((f: any) => f.originalName === '..\\..\\..\\..\\escape.txt');
  assert.ok(climbed, 'the climbing name was taken, under a safe name inside files/');
  assert.is(readFileSync(join(dir, climbed.path), 'utf8'), 'climb');
  // PowerShell on Linux reads `\` in a name as a separator, so it cannot hash that one file itself.
  for (const f of files) if (f.targetSha256) assert.is(f.targetSha256, f.sha256, `target hash of ${f.path}`);
  assert.ok(files.find((f: any) => f.path.endsWith('/ok.txt')).targetSha256);
});

test('helper tools: pinned by SHA-256, pushed and re-hashed, run from $Tools; a wrong or missing tool fails only its step', async () => {
  const { createHash } = await import('node:crypto');
  const tool = '#!/bin/sh\necho "tool says $1"\n';
  const sha = createHash('sha256').update(tool).digest('hex');
  const stepYaml = (hash: string) => `id: uses-tool\ndescription: runs a helper\nkind: text\nos: [linux]\ntimeout: 30\ntools:\n  - name: hello.sh\n    sha256: "${hash}"\n`;
  const script = "$out = & $Tools['hello.sh'] 'hi'\n[pscustomobject]@{ said = [string]$out; path = $Tools['hello.sh'] }\n";
  const tools = writeTree({ 'hello.sh': tool });
  const good = teamPlaybook('t', [{ step: 'uses-tool' }, { id: 'after', run: '[pscustomobject]@{ ok = 1 }' }], { 'steps/uses-tool/step.yaml': stepYaml(sha), 'steps/uses-tool/linux.ps1': script });
  const out = tempDir();
  const r = cli(['run', 't', '--playbooks', good, '--tools', tools, '--out', out]);
  assert.is(r.code, 0, r.stderr);
  const dir = /evidence: (.+)/.exec(r.stdout)![1].trim();
  const [rec] = readJsonl(join(dir, 'steps', '01-uses-tool', 'records.jsonl'));
  assert.is(rec.said, 'tool says hi');
  assert.match(rec.path, /\/tools\/hello\.sh$/);
  assert.not.ok(existsSync(rec.path), 'removed from the target after the step');
  assert.match(readFileSync(join(dir, 'custody.jsonl'), 'utf8'), new RegExp(`"tools":\\{"hello.sh":"${sha}"\\}`));
  const m = readJson(join(dir, 'manifest.json'));
  assert.not.ok(m.files.some((f: any) => f.path.includes('hello.sh')), 'a tool is not evidence');

  const wrong = teamPlaybook('t', [{ step: 'uses-tool' }, { id: 'after', run: '[pscustomobject]@{ ok = 1 }' }], { 'steps/uses-tool/step.yaml': stepYaml('0'.repeat(64)), 'steps/uses-tool/linux.ps1': script });
  const r2 = cli(['run', 't', '--playbooks', wrong, '--tools', tools, '--out', tempDir(), '--json']);
  assert.is(r2.code, 1);
  const ended = r2.stdout.split('\n').filter(Boolean).map((l) => JSON.parse(l)).filter((e) => e.type === 'step-ended');
  assert.is(ended[0].status, 'failed');
  assert.match(ended[0].reason, new RegExp(`has SHA-256 ${sha}, not the pinned 0{64}.*it was not run`));
  assert.is(ended[1].status, 'ok');
  const r3 = cli(['run', 't', '--playbooks', good, '--tools', tempDir(), '--out', tempDir(), '--json']);
  assert.match(r3.stdout, /needs the tool hello\.sh in .*\(SHA-256 [a-f0-9]{64}\); put the vendor's file there/);
});

test('fan-out: two sessions at once write two folders; a host that cannot be reached gets its own failed folder', async () => {
  const book = teamPlaybook('f', [{ id: 'one', run: '[pscustomobject]@{ n = 1 }' }]);
  const plan = buildPlan(loadCatalog([book]), 'f');
  const out = tempDir();
  const results = await collect({ plan, targets: ['localhost', 'localhost'], transport: 'local', out, caseId: 'fan', concurrency: 2 });
  assert.equal(results.map((r) => r.state), ['complete', 'complete']);
  assert.is.not(results[0].dir, results[1].dir, 'same host, same second: two folders, neither overwritten');
  for (const r of results) assert.ok((await verifyEvidence(r.dir!)).ok);
  const down = await collect({ plan, targets: ['ws-01', 'ws-02'], transport: 'ssh', out, caseId: 'fan', concurrency: 2 });
  assert.equal(down.map((r) => r.state), ['failed', 'failed']);
  for (const r of down) {
    const m = readJson(join(r.dir!, 'manifest.json'));
    assert.is(m.state, 'failed');
    assert.match(m.error, /could not open a ssh session to ws-0[12]/);
    assert.ok((await verifyEvidence(r.dir!)).ok, 'the failure itself is sealed evidence');
  }
});

test('the identification probe (remote transports, Windows) answers from a real host', async () => {
  const { PwshHost } = await import('../lib/session/pwsh-host.ts');
  const { probeHost } = await import('../lib/session/local.ts');
  const { hostname, userInfo } = await import('node:os');
  const host = new PwshHost();
  try {
    const info = await probeHost(host);
    assert.is(info.hostname, hostname());
    assert.is(info.os, 'linux');
    assert.match(info.psVersion, /^7\./);
    assert.is(info.user, userInfo().username);
    assert.is(info.admin, userInfo().uid === 0);
    assert.ok(Math.abs(info.clockSkewMs) < 1000, `same clock: ${info.clockSkewMs} ms`);
  } finally {
    await host.close();
  }
});

test.run();
