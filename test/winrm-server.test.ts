// The WinRM test endpoint (test/winrm-server.ts) checked by an independent client: Debian's
// python3-winrm (pywinrm + requests-ntlm + ntlm-auth) runs PowerShell through it over NTLM with
// message encryption on plain HTTP — run_ps, a command fed through stdin, the long-poll timeout
// pywinrm retries, a wrong password, and shells cleaned up.
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { spawn, spawnSync } from 'node:child_process';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { scriptBlockLine } from '../lib/script.ts';
import { pwshOrFail, tempDir } from './helpers.ts';
import { PYTHON, pywinrmOrFail, startWinrmServer, type WinrmServer } from './winrm-server.ts';


const CLIENT = String.raw`
import sys, json, base64, time
import winrm, xmltodict
from winrm.protocol import Protocol
from winrm.exceptions import InvalidCredentialsError
url, user, password, stdin_line = sys.argv[1:5]
out = {}

s = winrm.Session(url, auth=(user, password), transport='ntlm', message_encryption='always')
# (No stderr here: pywinrm 0.3.0's run_ps fails on any stderr under Python 3, a bytes/str bug fixed upstream.)
r = s.run_ps('Write-Output "hello from $($PSVersionTable.PSEdition)"; exit 3')
out['ps'] = {'code': r.status_code, 'out': r.std_out.decode('utf-8'), 'err': r.std_err.decode('utf-8')}
r = s.run_cmd('powershell', ['-NoProfile', '-Command', '[Console]::Error.WriteLine(\'to stderr\')'])
out['cmd'] = {'code': r.status_code, 'out': r.std_out.decode('utf-8'), 'err': r.std_err.decode('utf-8')}

p = Protocol(url, transport='ntlm', username=user, password=password, message_encryption='always', operation_timeout_sec=1, read_timeout_sec=5)
shell = p.open_shell(codepage=65001)
cid = p.run_command(shell, 'powershell.exe', ['-NoLogo', '-NoProfile', '-NonInteractive', '-ExecutionPolicy', 'Bypass', '-Command', '-'])
# pywinrm 0.3.0 has no send_command_input: its own header with a Send body, as later versions build it.
req = {'env:Envelope': p._get_soap_header(resource_uri='http://schemas.microsoft.com/wbem/wsman/1/windows/shell/cmd',
                                         action='http://schemas.microsoft.com/wbem/wsman/1/windows/shell/Send', shell_id=shell)}
stream = req['env:Envelope'].setdefault('env:Body', {}).setdefault('rsp:Send', {}).setdefault('rsp:Stream', {})
stream['@Name'] = 'stdin'
stream['@CommandId'] = cid
stream['@End'] = 'true'
stream['#text'] = base64.b64encode((stdin_line + '\r\n').encode('utf-8')).decode('ascii')
p.send_message(xmltodict.unparse(req))
t0 = time.time()
stdout, stderr, code = p.get_command_output(shell, cid)
out['stdin'] = {'code': code, 'out': stdout.decode('utf-8'), 'err': stderr.decode('utf-8'), 'seconds': time.time() - t0}
p.cleanup_command(shell, cid)
p.close_shell(shell)

try:
    winrm.Session(url, auth=(user, 'not-the-password'), transport='ntlm', message_encryption='always').run_ps('1')
    out['wrong'] = 'accepted'
except InvalidCredentialsError as e:
    out['wrong'] = 'InvalidCredentialsError'
print(json.dumps(out))
`;

/**
 * ntlm-auth computes the NT hash with hashlib's MD4, which Debian 12's OpenSSL 3 only offers from
 * its legacy provider ("unsupported hash type md4" otherwise): an OpenSSL config for the client
 * process alone that loads it (the same fix Ansible users on Debian 12 apply).
 */
function legacyOpensslConf(): string {
  const file = join(tempDir('magpie-winrm-'), 'openssl.cnf');
  writeFileSync(
    file,
    ['openssl_conf = openssl_init', '[openssl_init]', 'providers = provider_sect', '[provider_sect]', 'default = default_sect', 'legacy = legacy_sect', '[default_sect]', 'activate = 1', '[legacy_sect]', 'activate = 1', ''].join('\n'),
  );
  return file;
}

function runClient(args: string[]): Promise<{ status: number | null; stdout: string; stderr: string }> {
  return new Promise((resolve, reject) => {
    const env = { ...process.env, OPENSSL_CONF: legacyOpensslConf(), NO_PROXY: '*', no_proxy: '*', HTTP_PROXY: '', http_proxy: '' };
    const p = spawn(PYTHON, ['-c', CLIENT, ...args], { env });
    let stdout = '';
    let stderr = '';
    p.stdout.on('data', (d) => (stdout += d));
    p.stderr.on('data', (d) => (stderr += d));
    const t = setTimeout(() => p.kill('SIGKILL'), 120000);
    p.on('error', reject);
    p.on('close', (status) => (clearTimeout(t), resolve({ status, stdout, stderr })));
  });
}

let server: WinrmServer;
test.before(async () => {
  pywinrmOrFail();
  server = await startWinrmServer({ users: { analyst: 'Corr3ct-Horse!' }, pwsh: pwshOrFail() });
});
test.after(async () => {
  await server?.close();
});

test('python3-winrm runs PowerShell through the endpoint over NTLM with message encryption, with stdin; wrong password refused', async () => {
  // What Magpie sends: one base64 line the target's PowerShell decodes (lib/script.ts), here a
  // script that sleeps past pywinrm's 1 s OperationTimeout so the normal TimedOut fault is exercised.
  const line = scriptBlockLine('Start-Sleep -Milliseconds 1500; "sum=" + (1..10 | Measure-Object -Sum).Sum; "Grüße ✓"; [Console]::Error.WriteLine("warn")');
  const r = await runClient([server.url, 'MAGPIE-TEST\\analyst', 'Corr3ct-Horse!', line]);
  assert.is(r.status, 0, `python3-winrm failed:\n${r.stderr}\n${r.stdout}`);
  const out = JSON.parse(r.stdout);

  assert.is(out.ps.code, 3);
  assert.match(out.ps.out, /^hello from Core\r?\n$/);
  assert.is(out.ps.err, '');
  assert.is(out.cmd.code, 0);
  assert.match(out.cmd.err, /^to stderr\r?\n$/);

  assert.is(out.stdin.code, 0);
  assert.match(out.stdin.out, /sum=55/);
  assert.match(out.stdin.out, /Grüße ✓/);
  assert.match(out.stdin.err, /warn/);
  assert.ok(out.stdin.seconds >= 1, 'the output waited past one long poll');

  assert.is(out.wrong, 'InvalidCredentialsError');

  const st = server.stats;
  assert.ok(st.actions.includes('Receive') && st.actions.includes('Signal') && st.actions.includes('Delete') && st.actions.includes('Send'), st.actions.join());
  assert.is(st.plainRefused, 0, 'every SOAP message came encrypted');
  assert.ok(st.encryptedRequests >= 10, `${st.encryptedRequests} encrypted requests`);
  assert.is(st.authFailures, 1, 'one failed handshake for the wrong password, no retry storm');
  assert.ok(st.micSeen >= 1, 'ntlm-auth sent a MIC, which the endpoint verified');
  assert.is(server.openShells(), 0, 'pywinrm deleted its shells');
});

test('plain (unencrypted) SOAP after authentication, and unauthenticated requests, are refused', async () => {
  const res = await fetch(server.url, { method: 'POST', body: '<s:Envelope/>', headers: { 'Content-Type': 'application/soap+xml;charset=UTF-8' } });
  assert.is(res.status, 401);
  assert.is(res.headers.get('www-authenticate'), 'Negotiate');
  const wrongPath = await fetch(server.url.replace('/wsman', '/other'), { method: 'POST', body: 'x' });
  assert.is(wrongPath.status, 404);
});

test.run();
