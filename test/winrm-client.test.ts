// Magpie's own WinRM client pieces (NTLM handshake + message encryption over HTTP, the Remote
// Shell operations) against the test endpoint that python3-winrm also accepts
// (test/winrm-server.test.ts): PowerShell with the invocation on stdin, stdin in chunks within
// MaxEnvelopeSize, terminate stopping the process, faults, wrong password, unreachable, re-auth.
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { scriptBlockLine } from '../lib/script.ts';
import { WinrmAuthError, WinrmFaultError, WinrmUnreachableError } from '../lib/session/winrm/errors.ts';
import { WinrmHttp } from '../lib/session/winrm/http.ts';
import { WinrmShell } from '../lib/session/winrm/shell.ts';
import { POWERSHELL_ARGS, POWERSHELL_COMMAND, WSMAN_CODE } from '../lib/session/winrm/soap.ts';
import { pwshOrFail } from './helpers.ts';
import { startWinrmServer, type WinrmServer } from './winrm-server.ts';

const PASSWORD = 'Tr0ub4dor&3';
const SMALL_ENVELOPE = 16384;
let server: WinrmServer;
let pwsh: string;

const endpoint = (over: Partial<ConstructorParameters<typeof WinrmHttp>[0]> = {}) =>
  new WinrmHttp({ host: '127.0.0.1', port: server.port, credentials: { user: 'MAGPIE-TEST\\responder', password: PASSWORD }, ...over });
const line = (script: string) => Buffer.from(scriptBlockLine(script) + '\r\n');
const alive = (pid: number) => {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
};

test.before(async () => {
  pwsh = pwshOrFail();
  server = await startWinrmServer({ users: { responder: PASSWORD }, pwsh, maxEnvelopeSize: SMALL_ENVELOPE, maxPollMs: 1000 });
});
test.after(async () => {
  await server?.close();
});

test('PowerShell with the one-line invocation on stdin: output, stderr, exit code, shell deleted', async () => {
  const http = endpoint();
  const shell = await WinrmShell.open(http, { maxEnvelopeSize: SMALL_ENVELOPE, operationTimeoutSec: 1 });
  const r = await shell.run(POWERSHELL_COMMAND, POWERSHELL_ARGS, line('Start-Sleep -Milliseconds 1200; "edition=$($PSVersionTable.PSEdition)"; "Grüße ✓"; [Console]::Error.WriteLine("careful"); exit 7'));
  assert.is(r.exitCode, 7);
  assert.match(r.stdout.toString('utf8'), /edition=Core\r?\nGrüße ✓/);
  assert.match(r.stderr.toString('utf8'), /careful/);
  await shell.close();
  assert.is(server.openShells(), 0);
  assert.is(http.handshakes, 1, 'one NTLM handshake for the whole conversation');
  http.close();
});

test('stdin larger than one envelope goes in chunks that each fit MaxEnvelopeSize; too large an envelope is a one-line fault', async () => {
  const http = endpoint();
  const shell = await WinrmShell.open(http, { maxEnvelopeSize: SMALL_ENVELOPE, operationTimeoutSec: 1 });
  const payload = 'x'.repeat(60000);
  const before = server.stats.actions.filter((a) => a === 'Send').length;
  const r = await shell.run(POWERSHELL_COMMAND, POWERSHELL_ARGS, line(`$s = '${payload}'; "length=$($s.Length)"`));
  assert.match(r.stdout.toString(), /length=60000/);
  const sends = server.stats.actions.filter((a) => a === 'Send').length - before;
  assert.ok(sends >= 6, `${sends} Send requests for ~80 KB of stdin`);

  const greedy = await WinrmShell.open(http, { maxEnvelopeSize: 512000, operationTimeoutSec: 1 });
  const id = await greedy.start(POWERSHELL_COMMAND, POWERSHELL_ARGS);
  try {
    await greedy.sendStdin(id, line(`'${payload}'`));
    assert.unreachable('the endpoint accepts at most 16 KiB');
  } catch (e) {
    assert.instance(e, WinrmFaultError);
    const f = e as WinrmFaultError;
    assert.is(f.wsmanCode, WSMAN_CODE.MAX_ENVELOPE_SIZE_EXCEEDED);
    assert.match(f.message, /envelope too large .*MaxEnvelopeSizekb/);
    assert.not.match(f.message, /\n/);
  }
  await greedy.close();
  await shell.close();
  http.close();
});

test('terminate stops a running command on the target (its process is gone)', async () => {
  const http = endpoint();
  const shell = await WinrmShell.open(http, { operationTimeoutSec: 1 });
  const id = await shell.start(POWERSHELL_COMMAND, POWERSHELL_ARGS);
  await shell.sendStdin(id, line('"pid=$PID"; Start-Sleep -Seconds 120; "not reached"'));
  const ac = new AbortController();
  let pid = 0;
  let text = '';
  const receiving = shell.receive(
    id,
    (c) => {
      text += c.data.toString();
      const m = /pid=(\d+)/.exec(text);
      if (m) {
        pid = Number(m[1]);
        ac.abort();
      }
    },
    ac.signal,
  );
  assert.is(await receiving, undefined, 'stopped by the abort, not by the command ending');
  assert.ok(pid > 0 && alive(pid), 'the command runs');
  await shell.signal(id);
  const t0 = Date.now();
  while (alive(pid) && Date.now() - t0 < 5000) await new Promise((r) => setTimeout(r, 50));
  assert.not.ok(alive(pid), 'terminate ended the process');
  assert.not.match(text, /not reached/);
  await shell.close();
  http.close();
});

test('a shell that is gone is a WinrmFaultError with the WSMan code and meaning', async () => {
  const http = endpoint();
  const shell = await WinrmShell.open(http);
  await shell.close();
  try {
    await shell.start(POWERSHELL_COMMAND, POWERSHELL_ARGS);
    assert.unreachable();
  } catch (e) {
    assert.instance(e, WinrmFaultError);
    assert.is((e as WinrmFaultError).wsmanCode, WSMAN_CODE.UNEXPECTED_SELECTORS);
    assert.is((e as WinrmFaultError).code, 'fault');
    assert.match((e as Error).message, /^http:\/\/127\.0\.0\.1:\d+\/wsman: WSMan fault 2150858843 \(0x8033805B\): the shell no longer exists/);
  }
  http.close();
});

test('wrong password: WinrmAuthError after exactly one handshake, the password nowhere in the message', async () => {
  const before = server.stats.authFailures;
  const http = endpoint({ credentials: { user: 'MAGPIE-TEST\\responder', password: 'hunter2-wrong' } });
  try {
    await WinrmShell.open(http);
    assert.unreachable();
  } catch (e) {
    assert.instance(e, WinrmAuthError);
    assert.is((e as WinrmAuthError).code, 'auth-failed');
    assert.match((e as Error).message, /credentials for MAGPIE-TEST\\responder were rejected/);
    assert.not.match((e as Error).message, /hunter2/);
  }
  assert.is(server.stats.authFailures - before, 1, 'no retry storm');
  http.close();
});

test('unreachable: nothing listening, and no WinRM at that path', async () => {
  const closed = await startWinrmServer({ users: {}, pwsh });
  const port = closed.port;
  await closed.close();
  try {
    await WinrmShell.open(new WinrmHttp({ host: '127.0.0.1', port, credentials: { user: 'u', password: 'p' } }));
    assert.unreachable();
  } catch (e) {
    assert.instance(e, WinrmUnreachableError);
    assert.match((e as Error).message, /cannot connect \(ECONNREFUSED\).*port \d+/);
  }
  try {
    await WinrmShell.open(endpoint({ path: '/not-wsman' }));
    assert.unreachable();
  } catch (e) {
    assert.instance(e, WinrmUnreachableError);
    assert.match((e as Error).message, /HTTP 404/);
  }
});

test('a dropped keep-alive connection (and its NTLM context) is re-authenticated once, transparently', async () => {
  const http = endpoint();
  const shell = await WinrmShell.open(http, { operationTimeoutSec: 1 });
  server.dropConnections(); // no pause: the client may reuse the socket while it closes
  const r = await shell.run(POWERSHELL_COMMAND, POWERSHELL_ARGS, line('"still here"'));
  assert.match(r.stdout.toString(), /still here/);
  assert.is(http.handshakes, 2);
  await shell.close();
  http.close();
});

test.run();
