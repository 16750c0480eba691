// The WinRM transport end to end against the test endpoint (test/winrm-server.ts, which Debian's
// python3-winrm also accepts): `magpie run triage` on two targets at once with no password
// anywhere, HTTPS with a trusted and a wrongly pinned certificate, a wrong password without a
// retry storm; and the session itself — a timeout that stops the step's processes on the target,
// tools and their pins, links left in the stage, a 100 MB fetch in bounded memory, the shell
// deleted at the end, Constrained Language Mode named.
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { spawn, spawnSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { chmodSync, existsSync, mkdirSync, readdirSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { sha256File } from '../lib/evidence/hash.ts';
import { verifyEvidence } from '../lib/evidence/verify.ts';
import { preludeSource } from '../lib/script.ts';
import { WinrmSession, WinrmShellError, type WinrmSessionOptions } from '../lib/session/winrm/index.ts';
import { certificateSha256 } from '../lib/session/winrm/tls.ts';
import { cliSpawn, pwshOrFail, readJson, readJsonl, ROOT, teamPlaybook, tempDir } from './helpers.ts';
import { makeCertificate, startWinrmServer, type WinrmServer } from './winrm-server.ts';

const PASSWORD = 'Corr3ct-H0rse!winrm';
let a: WinrmServer;
let b: WinrmServer;

test.before(async () => {
  a = await startWinrmServer({ users: { responder: PASSWORD }, pwsh: pwshOrFail(), maxPollMs: 5000 });
  b = await startWinrmServer({ users: { responder: PASSWORD }, pwsh: pwshOrFail(), maxPollMs: 5000 });
});
test.after(async () => {
  await a?.close();
  await b?.close();
});

function options(extra: Partial<WinrmSessionOptions> = {}): WinrmSessionOptions {
  return { host: '127.0.0.1', port: a.port, credentials: { user: 'responder', password: PASSWORD }, operationTimeoutSec: 5, ...extra };
}

/** What composeScript makes of a step body (the prelude, then the body inside Invoke-MagpieStep). */
function step(body: string): string {
  return `${preludeSource()}\nInvoke-MagpieStep {\n${body}\n}\n`;
}

function files(root: string): string[] {
  const out: string[] = [];
  const walk = (d: string) => {
    for (const n of readdirSync(d)) {
      const f = join(d, n);
      if (statSync(f).isDirectory()) walk(f);
      else out.push(f);
    }
  };
  walk(root);
  return out;
}

function evidenceFolders(root: string): string[] {
  return files(root)
    .filter((f) => f.endsWith('/manifest.json'))
    .map((f) => f.slice(0, -'/manifest.json'.length));
}

/** The staging folders a session left in the target's temp dir (the target is this machine), by the session's own prefix. */
async function stagesLeft(s: WinrmSession): Promise<string[]> {
  const stageDir = tempDir();
  await s.run(step('[pscustomobject]@{ stage = $MagpieCtx.stage }'), {}, { timeoutMs: 30_000, stageDir });
  const stage: string = readJsonl(join(stageDir, 'records.jsonl'))[0].stage;
  assert.match(stage, /^\/tmp\/magpie-[0-9a-f]{8}-\d+$/);
  const prefix = stage.slice('/tmp/'.length).replace(/\d+$/, '');
  return readdirSync('/tmp').filter((n) => n.startsWith(prefix));
}

function processGone(pid: number): boolean {
  try {
    return /^\S+ \S+ Z/.test(readFileSync(`/proc/${pid}/stat`, 'utf8').replace(/\(.*\)/, 'x'));
  } catch {
    return true;
  }
}

function processesRunning(cmdline: string): string[] {
  return readdirSync('/proc').filter((p) => {
    if (!/^\d+$/.test(p) || processGone(Number(p))) return false;
    try {
      return readFileSync(`/proc/${p}/cmdline`, 'utf8') === cmdline;
    } catch {
      return false;
    }
  });
}

async function until(fn: () => boolean, ms: number, what: string): Promise<void> {
  const end = Date.now() + ms;
  while (!fn()) {
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

test('triage over WinRM on two targets at once: folders that verify, the connection recorded, and the password nowhere', async () => {
  const out = tempDir();
  const targets = [a, b].map((s) => `winrm://responder@127.0.0.1:${s.port}`);
  const p = cliSpawn(['run', 'triage', ...targets.flatMap((t) => ['--target', t]), '--password-env', 'MAGPIE_TEST_WINRM_PW', '--out', out, '--json', '--concurrency', '2'], {
    env: { MAGPIE_TEST_WINRM_PW: PASSWORD },
  });
  const seen = new Set<string>();
  const poll = setInterval(() => {
    for (const pid of readdirSync('/proc').filter((x) => /^\d+$/.test(x))) {
      if (Number(pid) === process.pid) continue; // the test itself holds the secret to pass it on
      for (const f of ['cmdline', 'environ']) {
        try {
          if (readFileSync(`/proc/${pid}/${f}`).includes(PASSWORD)) seen.add(`${pid}/${f}`);
        } catch {
          // gone, or not ours to read
        }
      }
    }
  }, 100);
  const r = await p.done;
  clearInterval(poll);
  assert.is(r.code, 0, r.stderr + r.stdout);
  const summary = JSON.parse(r.stdout.trim().split('\n').at(-1)!);
  assert.equal(
    summary.hosts.map((h: { state: string; steps: { status: string }[] }) => [h.state, h.steps.map((s) => s.status).join(',')]),
    [
      ['complete', 'ok,ok,ok,ok,skipped'],
      ['complete', 'ok,ok,ok,ok,skipped'],
    ],
  );
  const dirs = evidenceFolders(join(out, 'adhoc'));
  assert.is(dirs.length, 2);
  for (const dir of dirs) {
    const v = await verifyEvidence(dir);
    assert.ok(v.ok, JSON.stringify(v.problems));
    assert.is(spawnSync('sha256sum', ['-c', '--quiet', 'SHA256SUMS'], { cwd: dir }).status, 0);
    const m = readJson(join(dir, 'manifest.json'));
    assert.is(m.target.transport, 'winrm');
    assert.is(m.target.connection.security, 'http-message-encryption');
    assert.is(m.target.connection.authMethod, 'ntlm');
    assert.is(m.target.connection.user, 'responder');
    assert.match(m.target.connection.endpoint, /^http:\/\/127\.0\.0\.1:\d+\/wsman$/);
    assert.ok(readJsonl(join(dir, 'steps', '03-processes', 'records.jsonl')).length > 5);
  }
  assert.is(a.openShells() + b.openShells(), 0, 'every shell deleted');
  assert.ok(a.stats.encryptedRequests > 20 && a.stats.plainRefused === 0);
  // The CLI child got it through its environment from this test; it removes it at once, before any child starts.
  assert.equal([...seen].filter((s) => !s.startsWith(`${p.child.pid}/environ`)), []);
  assert.not.ok(r.stdout.includes(PASSWORD) || r.stderr.includes(PASSWORD));
  for (const f of files(out)) assert.not.ok(readFileSync(f).includes(PASSWORD), `${f} holds the password`);
});

test('responder steps over WinRM: fetch-files and yara-scan end to end, and a team module whose dependent ps calls and push go through the same shell', async () => {
  const planted = join(tempDir(), 'drop');
  mkdirSync(planted);
  writeFileSync(join(planted, 'x ‘1’.bin'), 'zz MAGPIE-WINRM-MARKER zz\n');
  const rules = join(tempDir(), 'r.yar');
  writeFileSync(rules, 'rule winrm_marker { strings: $a = "MAGPIE-WINRM-MARKER" condition: $a }\n');
  const pushMe = join(tempDir(), 'push.txt');
  writeFileSync(pushMe, 'pushed over winrm\n');
  const book = teamPlaybook('w', [{ step: 'fetch-files', params: { Paths: [planted] } }, { step: 'yara-scan', params: { Rules: rules } }, { step: 'chain' }], {
    'steps/chain/step.yaml': 'id: chain\ndescription: x\nkind: text\nos: [linux, windows]\ntimeout: 120\nresponder: responder.mjs\n',
    'steps/chain/responder.mjs': `export default async ({ ps, push, emit }) => {
  const [a] = await ps\`[pscustomobject]@{ pid = $PID }\`;
  const [b] = await ps\`[pscustomobject]@{ same = ($PID -eq \${a.pid}) }\`;
  const remote = await push(${JSON.stringify(pushMe)});
  const [c] = await ps\`[pscustomobject]@{ text = [IO.File]::ReadAllText(\${remote}) }\`;
  emit({ text: b.same + ' ' + c.text });
};
`,
  });
  const out = tempDir();
  const p = cliSpawn(['run', 'w', '--playbooks', book, '--target', `winrm://responder@127.0.0.1:${a.port}`, '--password-env', 'MAGPIE_TEST_WINRM_PW', '--out', out, '--json'], { env: { MAGPIE_TEST_WINRM_PW: PASSWORD } });
  const r = await p.done;
  assert.is(r.code, 0, r.stderr + r.stdout);
  const [dir] = evidenceFolders(join(out, 'adhoc'));
  const m = readJson(join(dir, 'manifest.json'));
  assert.equal(m.steps.map((s: any) => s.status), ['ok', 'ok', 'ok']);
  assert.equal(readJsonl(join(dir, m.steps[1].dir, 'records.jsonl')).map((d) => [d.threatName, d.resources[0]]), [['winrm_marker', join(planted, 'x ‘1’.bin')]]);
  assert.equal(readJsonl(join(dir, m.steps[2].dir, 'records.jsonl')), [{ text: 'true pushed over winrm\n' }]);
  const fetched = m.files.find((f: any) => f.path.startsWith(`${m.steps[0].dir}/invocations/002/files/`));
  assert.is(fetched.targetSha256, fetched.sha256);
  assert.ok((await verifyEvidence(dir)).ok);
  assert.is(a.openShells(), 0);
});

test('a wrong password is auth-failed with one clear line, and --connect-retries does not turn it into a storm', async () => {
  const before = a.stats.authFailures;
  const p = cliSpawn(['run', 'triage', '--target', `winrm://responder@127.0.0.1:${a.port}`, '--password-env', 'MAGPIE_TEST_WINRM_PW', '--out', tempDir(), '--json', '--connect-retries', '3'], {
    env: { MAGPIE_TEST_WINRM_PW: 'not-the-password' },
  });
  const r = await p.done;
  assert.is(r.code, 1, r.stderr);
  const host = JSON.parse(r.stdout.trim().split('\n').at(-1)!).hosts[0];
  assert.is(host.failure, 'auth-failed');
  assert.match(host.error, /the credentials for responder were rejected/);
  assert.not.match(host.error, /\n/);
  assert.is(a.stats.authFailures - before, 1, 'one attempt, not one per retry');
});

test('HTTPS: a certificate trusted through --winrm-ca is recorded by its SHA-256; a wrong pin is refused before any request', async () => {
  const cert = makeCertificate(tempDir());
  const s = await startWinrmServer({ users: { responder: PASSWORD }, pwsh: pwshOrFail(), maxPollMs: 5000, tls: { key: cert.key, cert: cert.cert } });
  try {
    const book = teamPlaybook('winrm-https', [{ step: 'host-info' }]);
    const run = (extra: string[]) =>
      cliSpawn(['run', 'winrm-https', '--playbooks', book, '--target', `winrms://responder@127.0.0.1:${s.port}`, '--password-env', 'MAGPIE_TEST_WINRM_PW', '--out', tempDir(), '--json', ...extra], {
        env: { MAGPIE_TEST_WINRM_PW: PASSWORD },
      }).done;
    const ok = await run(['--winrm-ca', cert.certFile]);
    assert.is(ok.code, 0, ok.stderr + ok.stdout);
    const host = JSON.parse(ok.stdout.trim().split('\n').at(-1)!).hosts[0];
    const m = readJson(join(host.dir, 'manifest.json'));
    assert.is(m.target.connection.security, 'https');
    assert.is(m.target.connection.certificateSha256, certificateSha256(cert.der));
    assert.is(s.stats.cbtMatched > 0, true, 'NTLM bound to the TLS channel');

    const requestsBefore = s.stats.actions.length;
    const bad = await run(['--winrm-cert-sha256', 'ab'.repeat(32)]);
    assert.is(bad.code, 1);
    const refused = JSON.parse(bad.stdout.trim().split('\n').at(-1)!).hosts[0];
    assert.is(refused.failure, 'host-key');
    assert.match(refused.error, /is not the pinned one/);
    assert.is(s.stats.actions.length, requestsBefore, 'no request went to an unverified server');
  } finally {
    await s.close();
  }
});

test('a step past its timeout gets the terminate signal: its processes end on the target, what it wrote is kept, the next step runs', async () => {
  const s = await WinrmSession.open(options());
  const seconds = `309.${Date.now() % 1_000_000}`;
  try {
    const stageDir = tempDir();
    const t0 = Date.now();
    const r = await s.run(
      step(`[IO.File]::WriteAllText([IO.Path]::Combine($OutDir, 'pid.txt'), [string]$PID)\n[pscustomobject]@{ before = 'sleep' }\n& /bin/sleep ${seconds}\n[pscustomobject]@{ after = 'never' }`),
      {},
      { timeoutMs: 3000, stageDir },
    );
    assert.is(r.outcome, 'timeout');
    assert.ok(Date.now() - t0 < 15_000, `stopped after ${Date.now() - t0} ms`);
    assert.is(r.fetchError, undefined);
    assert.equal(readJsonl(join(stageDir, 'records.jsonl')), [{ before: 'sleep' }]);
    const pid = Number(readFileSync(join(stageDir, 'files', 'pid.txt'), 'utf8'));
    await until(() => processGone(pid), 5000, `pwsh ${pid} to go`);
    assert.equal(processesRunning(`/bin/sleep\u0000${seconds}\u0000`), [], "the step's child process survived");

    const next = tempDir();
    const r2 = await s.run(step('[pscustomobject]@{ pid = $PID }'), {}, { timeoutMs: 30_000, stageDir: next });
    assert.is(r2.summary?.status, 'ok', r2.hostOutput);
    assert.is.not(readJsonl(join(next, 'records.jsonl'))[0].pid, pid);
    assert.equal(await stagesLeft(s), []);
  } finally {
    await s.close();
  }
});

test('a tool is pushed into the stage and checked there: the right pin runs, a wrong pin fails the step and leaves nothing', async () => {
  const dir = tempDir();
  const tool = join(dir, 'hello.sh');
  writeFileSync(tool, '#!/bin/sh\necho "tool-says-$1"\n');
  const sha256 = createHash('sha256').update(readFileSync(tool)).digest('hex');
  const s = await WinrmSession.open(options());
  try {
    // Files pushed through PowerShell carry no mode bits: the step runs the tool through sh.
    const body = "$out = & /bin/sh $Tools['hello.sh'] 'x'\n[pscustomobject]@{ out = [string]$out; path = $Tools['hello.sh'] }";
    const stageDir = tempDir();
    const r = await s.run(step(body), {}, { timeoutMs: 30_000, stageDir, tools: { 'hello.sh': { file: tool, sha256 } } });
    assert.is(r.summary?.status, 'ok', r.hostOutput);
    const [rec] = readJsonl(join(stageDir, 'records.jsonl'));
    assert.is(rec.out, 'tool-says-x');
    assert.match(rec.path, /^\/tmp\/magpie-[0-9a-f]{8}-\d+\/tools\/hello\.sh$/);
    assert.not.ok(existsSync(join(stageDir, 'tools')), 'tools are not evidence');

    const bad = 'ab'.repeat(32);
    const r2 = await s.run(step(body), {}, { timeoutMs: 30_000, stageDir: tempDir(), tools: { 'hello.sh': { file: tool, sha256: bad } } });
    assert.is(r2.summary, undefined);
    assert.match(r2.hostOutput, new RegExp(`the tool hello\\.sh on http://127\\.0\\.0\\.1:\\d+/wsman has SHA-256 ${sha256}, but the step pins ${bad}`));
    assert.equal(await stagesLeft(s), []);
  } finally {
    await s.close();
  }
});

test('links a step leaves in its folder are neither followed nor fetched, and removing the folder leaves their targets alone', async () => {
  const outside = join(tempDir(), 'outside.txt');
  writeFileSync(outside, 'not evidence');
  const s = await WinrmSession.open(options());
  try {
    const stageDir = tempDir();
    const body = `New-Item -ItemType SymbolicLink -Path ([IO.Path]::Combine($OutDir, 'link')) -Target '${outside}' | Out-Null\n[IO.File]::WriteAllText([IO.Path]::Combine($OutDir, 'real.txt'), 'evidence')\n[pscustomobject]@{ ok = $true }`;
    const r = await s.run(step(body), {}, { timeoutMs: 30_000, stageDir });
    assert.is(r.summary?.status, 'ok', r.hostOutput);
    assert.is(r.fetchError, undefined);
    assert.match(r.hostOutput, /not fetched: files\/link is a link or special file on the target/);
    assert.equal(readdirSync(join(stageDir, 'files')), ['real.txt']);
    assert.is(readFileSync(outside, 'utf8'), 'not evidence');
    assert.equal(await stagesLeft(s), []);
  } finally {
    await s.close();
  }
});

test('a 100 MB file written by a step is fetched in verified chunks with bounded memory, its progress reported', async () => {
  const body =
    "$f = [IO.File]::Create([IO.Path]::Combine($OutDir, 'big.bin')); $rnd = [Random]::new(7); $buf = [byte[]]::new(1MB)\n" +
    'try { for ($i = 0; $i -lt 100; $i++) { $rnd.NextBytes($buf); $f.Write($buf, 0, $buf.Length) } } finally { $f.Dispose() }\n' +
    '[pscustomobject]@{ wrote = 100 }';
  const stageDir = tempDir();
  const t0 = Date.now();
  // Magpie's side in a process of its own: the endpoint (and every suite before this one) shares
  // this process, and its memory is not Magpie's.
  const child = spawn(process.execPath, ['--import', 'tsx', join(ROOT, 'test', 'winrm-fetch-child.ts'), String(a.port), stageDir, body], {
    env: { ...process.env, MAGPIE_TEST_WINRM_PW: PASSWORD },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let out = '';
  let err = '';
  child.stdout.on('data', (d) => (out += d));
  child.stderr.on('data', (d) => (err += d));
  const code = await new Promise((r) => child.on('close', r));
  assert.is(code, 0, err);
  const r = JSON.parse(out.trim().split('\n').at(-1)!);
  assert.is(r.status, 'ok', r.hostOutput);
  assert.is(r.fetchError, undefined);
  // Progress for the large file only, rising to its size.
  const progress: { file: string; done: number; total: number }[] = r.progress;
  assert.ok(progress.length > 10, `${progress.length} progress reports`);
  assert.ok(progress.every((p) => p.file === 'files/big.bin' && p.total === 100 * 1024 * 1024));
  assert.ok(progress.every((p, i) => i === 0 || p.done >= progress[i - 1].done));
  assert.is(progress.at(-1)!.done, 100 * 1024 * 1024);
  const big = join(stageDir, 'files', 'big.bin');
  assert.is(statSync(big).size, 100 * 1024 * 1024);
  const target = r.files.find((f: { path: string }) => f.path === 'big.bin');
  assert.is((await sha256File(big)).sha256, target.sha256);
  const growth = (r.peakKb - r.startKb) / 1024;
  assert.ok(growth < 150, `Magpie's resident memory grew ${growth.toFixed(0)} MB`);
  console.log(`    100 MB step + fetch over WinRM: ${Date.now() - t0} ms, Magpie's peak RSS ${(r.peakKb / 1024).toFixed(0)} MB (+${growth.toFixed(0)} MB)`);
  assert.is(a.openShells(), 0, 'the child closed its shell');
});

test('a fetch whose PowerShell dies halfway resumes from a fresh one after the verified prefix', async () => {
  const s = await WinrmSession.open(options());
  try {
    const body =
      "[pscustomobject]@{ pid = $PID }\n" +
      "$f = [IO.File]::Create([IO.Path]::Combine($OutDir, 'dump.bin')); $rnd = [Random]::new(11); $buf = [byte[]]::new(1MB)\n" +
      'try { for ($i = 0; $i -lt 40; $i++) { $rnd.NextBytes($buf); $f.Write($buf, 0, $buf.Length) } } finally { $f.Dispose() }';
    const stageDir = tempDir();
    const part = join(stageDir, 'files', 'dump.bin.part');
    let killed = 0;
    // The step's own PowerShell fetches its files (records.jsonl first): kill it once a quarter of the dump has arrived.
    const watch = setInterval(() => {
      if (killed || !existsSync(part) || statSync(part).size < 10 * 1024 * 1024) return;
      killed = readJsonl(join(stageDir, 'records.jsonl'))[0].pid;
      process.kill(killed, 'SIGKILL');
    }, 20);
    const r = await s.run(step(body), {}, { timeoutMs: 120_000, stageDir });
    clearInterval(watch);
    assert.ok(killed > 0, 'the PowerShell was killed mid-fetch');
    assert.is(r.summary?.status, 'ok', r.hostOutput);
    assert.is(r.fetchError, undefined);
    assert.match(r.hostOutput, /files\/dump\.bin: the transfer broke \(.*\) and was resumed; resumed after the first \d+ bytes, verified on both ends; 41\.9 MB at [\d.]+ MB\/s/);
    const target = r.summary!.files.find((f) => f.path === 'dump.bin')!;
    assert.is((await sha256File(join(stageDir, 'files', 'dump.bin'))).sha256, target.sha256);
    assert.equal(await stagesLeft(s), []);
  } finally {
    await s.close();
  }
});

test('close ends the PowerShell and deletes the shell; Constrained Language Mode is named, not a hang', async () => {
  const s = await WinrmSession.open(options());
  const stageDir = tempDir();
  await s.run(step('[pscustomobject]@{ pid = $PID }'), {}, { timeoutMs: 30_000, stageDir });
  const pid = readJsonl(join(stageDir, 'records.jsonl'))[0].pid;
  assert.is(a.openShells(), 1);
  await s.close();
  assert.is(a.openShells(), 0);
  await until(() => processGone(pid), 5000, `pwsh ${pid} to go`);

  const wrapper = join(tempDir(), 'clm-pwsh');
  writeFileSync(wrapper, `#!/bin/sh\nexec ${pwshOrFail()} -NoLogo -NoProfile -NonInteractive -NoExit -Command '$ExecutionContext.SessionState.LanguageMode = "ConstrainedLanguage"'\n`);
  chmodSync(wrapper, 0o755);
  const t0 = Date.now();
  let e: unknown;
  try {
    await WinrmSession.open(options({ remoteShell: wrapper, commandTimeoutMs: 20_000 }));
  } catch (err) {
    e = err;
  }
  assert.instance(e, WinrmShellError);
  assert.is((e as WinrmShellError).problem, 'constrained-language');
  assert.match((e as Error).message, /ConstrainedLanguage language mode/);
  assert.ok(Date.now() - t0 < 15_000, `took ${Date.now() - t0} ms`);
  assert.is(a.openShells(), 0, 'the shell is deleted on the error path too');
});

test.run();
