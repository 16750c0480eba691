// `magpie run` over SSH against a real sshd on loopback: a whole triage, many hosts at once with
// their own failures, a targets file, --resume, the run summary, and no secret anywhere.
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { spawnSync } from 'node:child_process';
import { existsSync, readdirSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { verifyEvidence } from '../lib/evidence/verify.ts';
import { cli, cliSpawn, readJson, readJsonl, teamPlaybook, tempDir, waitFor } from './helpers.ts';
import { freePort, keygenFingerprint, startSshd, strangerKey, type Sshd } from './sshd.ts';

let sshd: Sshd;
let known = '';

test.before(async () => {
  sshd = await startSshd({ addresses: ['127.0.0.1', '127.0.0.2', '127.0.0.3'], passwordUser: true });
  known = join(tempDir(), 'known_hosts');
  writeFileSync(known, ['127.0.0.1', '127.0.0.3'].map((a) => sshd.knownHostsLine('ed25519', a)).join('\n') + '\n');
});

test.after(async () => {
  await sshd?.stop();
});

const ssh = (extra: string[]) => ['--transport', 'ssh', '--known-hosts', known, '-i', sshd.userKey, ...extra];
const folders = (root: string) => {
  const out: string[] = [];
  const walk = (d: string, depth: number) => {
    if (existsSync(join(d, 'manifest.json'))) return void out.push(d);
    if (depth > 0) for (const n of readdirSync(d)) if (statSync(join(d, n)).isDirectory()) walk(join(d, n), depth - 1);
  };
  walk(root, 3);
  return out;
};

test('triage over SSH: a folder that sha256sum and verify accept, with the same record shapes as a local run', async () => {
  const out = tempDir();
  const r = cli(['run', 'triage', ...ssh(['--target', `root@127.0.0.1:${sshd.port}`, '--out', out])], { timeoutMs: 300_000 });
  assert.is(r.code, 0, r.stderr + r.stdout);
  assert.match(r.stdout, /127\.0\.0\.1:\d+ +complete +ok +ok +ok +ok +skipped/);
  const [dir] = folders(join(out, 'adhoc'));
  assert.ok((await verifyEvidence(dir)).ok);
  assert.is(spawnSync('sha256sum', ['-c', '--quiet', 'SHA256SUMS'], { cwd: dir }).status, 0);
  const m = readJson(join(dir, 'manifest.json'));
  assert.is(m.target.transport, 'ssh');
  assert.is(m.target.connection.hostKeySha256, keygenFingerprint(sshd.hostKeys.ed25519));
  assert.is(m.target.connection.user, 'root');
  assert.is(m.target.connection.authMethod, 'publickey');
  assert.is(m.target.connection.hostKeyTrust, 'known_hosts');
  // The same machine, collected locally: the same steps give records with the same fields.
  const local = cli(['run', 'triage', '--out', tempDir()]);
  assert.is(local.code, 0, local.stderr);
  const localDir = /evidence: (\S+)/.exec(local.stdout)![1];
  for (const step of ['01-host-info', '02-network', '03-processes', '04-autoruns']) {
    const remote = readJsonl(join(dir, 'steps', step, 'records.jsonl'));
    const here = readJsonl(join(localDir, 'steps', step, 'records.jsonl'));
    assert.ok(remote.length > 0, `${step} has records over SSH`);
    assert.equal(Object.keys(remote[0]).sort(), Object.keys(here[0]).sort(), `${step}: same fields`);
  }
  const runs = readdirSync(join(out, 'adhoc', 'runs'));
  assert.is(runs.length, 1);
  const summary = readJson(join(out, 'adhoc', 'runs', runs[0]));
  assert.is(summary.hosts[0].state, 'complete');
  assert.is(summary.hosts[0].dir, dir);
});

test('many hosts at once: a wrong host key, refused authentication, a closed port and a dropped connection each get their own state while the others complete', async () => {
  const second = await startSshd();
  try {
    const out = tempDir();
    const closed = await freePort();
    const book = teamPlaybook('slow', [
      { id: 'first', run: '[pscustomobject]@{ n = 1 }' },
      { id: 'wait', timeout: 60, run: 'Start-Sleep -Seconds 6\n[pscustomobject]@{ n = 2 }' },
      { id: 'last', run: '[pscustomobject]@{ n = 3 }' },
    ]);
    const kh = join(tempDir(), 'known_hosts');
    // 127.0.0.2 is listed with a key that is not the server's.
    const strangerPub = readFileSync(strangerKey() + '.pub', 'utf8').trim().split(/\s+/).slice(0, 2).join(' ');
    writeFileSync(kh, [readFileSync(known, 'utf8').trim(), `[127.0.0.2]:${sshd.port} ${strangerPub}`, second.knownHostsLine('ed25519')].join('\n') + '\n');
    const targets = join(tempDir(), 'targets.csv');
    writeFileSync(
      targets,
      [
        'target,transport,port,user,credential',
        `127.0.0.1,ssh,${sshd.port},root,`,
        `127.0.0.2,ssh,${sshd.port},root,`,
        `127.0.0.3,ssh,${sshd.port},root,key:${strangerKey()}`,
        `127.0.0.1,ssh,${closed},root,`,
        `127.0.0.1,ssh,${second.port},root,key:${second.userKey}`,
        '# a comment line',
        `127.0.0.1,ssh,${sshd.port},root,`,
      ].join('\n') + '\n',
    );
    const p = cliSpawn(['run', 'slow', '--playbooks', book, '--transport', 'ssh', '--known-hosts', kh, '-i', sshd.userKey, '--targets', targets, '--out', out, '--concurrency', '5', '--json']);
    // Drop the second server's connection while its host is in the slow step.
    await waitFor(() => p.output().stdout.split('\n').some((l) => l.includes(`"host":"127.0.0.1:${second.port}"`) && l.includes('"step":"wait"') && l.includes('"type":"step-started"')), 60_000, 'the slow step on the second server');
    await new Promise((r) => setTimeout(r, 1000));
    for (const pid of second.connectionPids()) process.kill(pid, 'SIGKILL');
    const r = await p.done;
    assert.is(r.code, 1, r.stderr);
    const summary = JSON.parse(r.stdout.trim().split('\n').at(-1)!);
    assert.is(summary.type, 'summary');
    const by = new Map(summary.hosts.map((h: any) => [h.target, h]));
    assert.is(by.size, 5, 'the duplicate line is collected once');
    const good: any = by.get(`127.0.0.1:${sshd.port}`);
    assert.is(good.state, 'complete');
    assert.equal(good.steps.map((s: any) => s.status), ['ok', 'ok', 'ok']);
    const key: any = by.get(`127.0.0.2:${sshd.port}`);
    assert.is(key.failure, 'host-key');
    assert.match(key.error, /SHA256:/);
    assert.is((by.get(`127.0.0.3:${sshd.port}`) as any).failure, 'auth-failed');
    assert.is((by.get(`127.0.0.1:${closed}`) as any).failure, 'unreachable');
    const dropped: any = by.get(`127.0.0.1:${second.port}`);
    assert.is(dropped.failure, 'dropped', JSON.stringify(dropped));
    assert.equal(dropped.steps.map((s: any) => s.status), ['ok', 'failed', 'skipped']);
    for (const h of summary.hosts) assert.ok((await verifyEvidence(h.dir)).ok, `${h.target}: its folder verifies`);
    assert.ok(existsSync(summary.file));
    assert.is(readJson(summary.file).hosts.length, 5);
  } finally {
    await second.stop();
  }
});

test('a targets file with bad lines: exit 2 naming each file:line, nothing run', () => {
  const out = tempDir();
  const targets = join(tempDir(), 'hosts.txt');
  writeFileSync(targets, ['# hosts of the incident', 'ws-01', 'ws 02', 'ws-03:99999', "evil';rm -rf /", 'ftp://x'].join('\n') + '\n');
  const r = cli(['run', 'triage', '--transport', 'ssh', '--targets', targets, '--out', out]);
  assert.is(r.code, 2, r.stderr);
  assert.match(r.stderr, /hosts\.txt:3: "ws 02" is not a host name/);
  assert.match(r.stderr, /hosts\.txt:4: port 99999 is out of range/);
  assert.match(r.stderr, /hosts\.txt:5: .*is not a host name/);
  assert.match(r.stderr, /hosts\.txt:6: unknown scheme "ftp:\/\/"/);
  assert.not.ok(existsSync(join(out, 'adhoc')), 'nothing ran');
});

test('--resume skips a host whose latest folder is complete and verifies, and collects one that is not', async () => {
  const out = tempDir();
  const book = teamPlaybook('quick', [{ id: 'one', run: '[pscustomobject]@{ n = 1 }' }]);
  const args = ['run', 'quick', '--playbooks', book, ...ssh(['--target', `root@127.0.0.1:${sshd.port}`, '--target', `root@127.0.0.3:${sshd.port}`, '--out', out, '--resume'])];
  const first = cli(args);
  assert.is(first.code, 0, first.stderr + first.stdout);
  const [a, b] = folders(join(out, 'adhoc')).sort();
  // Tamper with one: it no longer verifies, so --resume collects it again.
  writeFileSync(join(b, 'steps', '01-one', 'records.jsonl'), '{"n":9}\n');
  const second = cli(args);
  assert.is(second.code, 0, second.stderr + second.stdout);
  assert.match(second.stdout, new RegExp(`127\\.0\\.0\\.1:${sshd.port} +resumed +kept`));
  assert.match(second.stdout, new RegExp(`127\\.0\\.0\\.3:${sshd.port} +complete +ok`));
  const after = folders(join(out, 'adhoc')).sort();
  assert.is(after.length, 3, 'one new folder, for the host that did not verify');
  assert.ok(after.includes(a) && after.includes(b), 'nothing was removed');
});

test('a password never reaches argv, an environment, the evidence, the logs or the JSON events', async () => {
  const secret = sshd.passwordUser!.password;
  const out = tempDir();
  const p = cliSpawn(['run', 'triage', '--transport', 'ssh', '--known-hosts', known, '--target', `${sshd.passwordUser!.user}@127.0.0.1:${sshd.port}`, '--password-env', 'MAGPIE_TEST_PW', '--out', out, '--json'], {
    env: { MAGPIE_TEST_PW: secret },
  });
  const seen = new Set<string>();
  const scan = () => {
    for (const pid of readdirSync('/proc').filter((x) => /^\d+$/.test(x))) {
      if (Number(pid) === process.pid) continue; // the test itself holds the secret to pass it on
      for (const f of ['cmdline', 'environ']) {
        try {
          if (readFileSync(`/proc/${pid}/${f}`).includes(secret)) seen.add(`${pid}/${f}`);
        } catch {
          // gone, or not ours to read
        }
      }
    }
  };
  const poll = setInterval(scan, 100);
  const r = await p.done;
  clearInterval(poll);
  // The password user logs in, but PowerShell lives under /root, out of its reach: a shell failure.
  const summary = JSON.parse(r.stdout.trim().split('\n').at(-1)!);
  assert.is(summary.hosts[0].failure, 'shell', JSON.stringify(summary.hosts[0]));
  assert.match(summary.hosts[0].error, /PowerShell/);
  // The CLI child got it through its environment from this test; it removes it at once, before any child starts.
  assert.equal([...seen].filter((s) => !s.startsWith(`${p.child.pid}/environ`)), []);
  assert.not.ok(r.stdout.includes(secret) || r.stderr.includes(secret));
  const files: string[] = [];
  const walk = (d: string) => {
    for (const n of readdirSync(d)) {
      const f = join(d, n);
      if (statSync(f).isDirectory()) walk(f);
      else files.push(f);
    }
  };
  walk(out);
  assert.ok(files.length > 3);
  for (const f of files) assert.not.ok(readFileSync(f).includes(secret), `${f} holds the secret`);
});

test('a credential file readable by others is refused with the chmod that fixes it', () => {
  const file = join(tempDir(), 'pw');
  writeFileSync(file, 'hunter2\n', { mode: 0o644 });
  const r = cli(['run', 'triage', '--transport', 'ssh', '--target', '127.0.0.1', '--credential-file', file, '--out', tempDir()]);
  assert.is(r.code, 2);
  assert.match(r.stderr, /readable by group or others .*chmod 600/);
  assert.not.ok(r.stderr.includes('hunter2'));
});

test.run();
