// One long-lived PowerShell in the Windows Remote Shell, fed one line at a time over one
// connection while its output is received on a second one, against the test endpoint: state kept
// between calls, stdout and stderr apart, Magpie's one-line invocations, stop() ending the
// process, and what a call after the end says. Prints the per-call time (not asserted).
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { scriptBlockLine } from '../lib/script.ts';
import { WinrmHttp } from '../lib/session/winrm/http.ts';
import { PowerShellEndedError, WinrmPowerShell } from '../lib/session/winrm/remote-powershell.ts';
import { WinrmShell } from '../lib/session/winrm/shell.ts';
import { probeTarget } from '../lib/session/probe.ts';
import { hostname } from 'node:os';
import { pwshOrFail } from './helpers.ts';
import { startWinrmServer, type WinrmServer } from './winrm-server.ts';

let server: WinrmServer;
const conns: WinrmHttp[] = [];
const http = () => {
  const h = new WinrmHttp({ host: '127.0.0.1', port: server.port, credentials: { user: 'MAGPIE-TEST\\responder', password: 'p@ss W0rd' } });
  conns.push(h);
  return h;
};

test.before(async () => {
  server = await startWinrmServer({ users: { responder: 'p@ss W0rd' }, pwsh: pwshOrFail(), maxPollMs: 5000 });
});
test.after(async () => {
  for (const c of conns) c.close();
  await server?.close();
});

test('one PowerShell for many lines: state kept, stdout/stderr apart, invocations, then stop()', async () => {
  const shell = await WinrmShell.open(http(), { operationTimeoutSec: 5 });
  const ps = await WinrmPowerShell.start(shell, shell.via(http()));
  const first = await ps.call('$magpie = 41; "pid=$PID"');
  const pid = Number(/pid=(\d+)/.exec(first.stdout)![1]);
  assert.ok(pid > 0);
  assert.is((await ps.call('$magpie + 1')).stdout.trim(), '42', 'state survives between lines');
  const mixed = await ps.call('"out ✓"; [Console]::Error.WriteLine("err ✓")');
  assert.is(mixed.stdout.trim(), 'out ✓');
  assert.is(mixed.stderr.trim(), 'err ✓');
  assert.not.match(mixed.stdout + mixed.stderr, /MAGPIE-END/);
  const viaLine = await ps.call(scriptBlockLine('param($n) "n=$n"; "twice=$($n * 2)"') + ' -n 21');
  assert.match(viaLine.stdout, /n=21\r?\ntwice=42/);

  const t0 = performance.now();
  const n = 10;
  for (let i = 0; i < n; i++) assert.is((await ps.call(`${i} * 2`)).stdout.trim(), String(i * 2));
  console.log(`      per call over WinRM (loopback, NTLM + encryption): ${((performance.now() - t0) / n).toFixed(1)} ms`);

  await ps.stop();
  const t1 = Date.now();
  const alive = () => {
    try {
      process.kill(pid, 0);
      return true;
    } catch {
      return false;
    }
  };
  while (alive() && Date.now() - t1 < 5000) await new Promise((r) => setTimeout(r, 50));
  assert.not.ok(alive(), 'the PowerShell process is gone');
  await ps.done;
  try {
    await ps.call('1');
    assert.unreachable();
  } catch (e) {
    assert.instance(e, PowerShellEndedError);
  }
  await shell.close();
  assert.is(server.openShells(), 0);
});

test('a PowerShell that exits on its own ends a waiting call with its exit code', async () => {
  const shell = await WinrmShell.open(http(), { operationTimeoutSec: 5 });
  const ps = await WinrmPowerShell.start(shell, shell.via(http()));
  try {
    await ps.call('exit 5');
    assert.unreachable();
  } catch (e) {
    assert.instance(e, PowerShellEndedError);
    assert.is((e as PowerShellEndedError).exitCode, 5);
  }
  assert.not.ok(ps.alive);
  const multi = await ps.call('a\nb').then(
    () => undefined,
    (e: Error) => e,
  );
  assert.match(multi?.message ?? '', /single line/);
  await shell.close();
});

test('the identification probe (probe.ps1, as the SSH transport runs it) and the clock skew over WinRM', async () => {
  const shell = await WinrmShell.open(http(), { operationTimeoutSec: 5 });
  const ps = await WinrmPowerShell.start(shell, shell.via(http()));
  const probed = await probeTarget((line) => ps.call(line));
  assert.not.ok('error' in probed, JSON.stringify(probed));
  if ('error' in probed) return;
  assert.is(probed.hostname, hostname());
  assert.is(probed.os, 'linux', 'the endpoint runs the local pwsh');
  assert.is(probed.psEdition, 'Core');
  assert.ok(probed.user.length > 0);
  assert.ok(Math.abs(probed.clockSkewMs) < 2000, `skew ${probed.clockSkewMs} ms on one machine`);
  await ps.stop();
  await shell.close();
});

test.run();
