// Kerberos over WinRM against a real MIT KDC started here (test/kdc.ts) and the test endpoint
// accepting Negotiate/Kerberos with the HTTP/localhost key: a shell with the responder's ticket
// (kinit) and with a password alone; the sealing checked byte for byte against RFC 4121's token
// layout as WinRM carries it (60-byte header, RRC 28) and against tampering and replay; a wrong
// password, no ticket, an IP address, an account the target refuses, each a clear error; Debian's
// pywinrm (requests-kerberos) as the independent client; and `magpie run` with --winrm-auth kerberos.
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { spawn } from 'node:child_process';
import { readdirSync } from 'node:fs';
import { join } from 'node:path';
import { WinrmAuthError } from '../lib/session/winrm/errors.ts';
import { decryptMessage, encryptMessage } from '../lib/session/winrm/encryption.ts';
import { GssContext, GssError } from '../lib/session/winrm/gssapi.ts';
import { kerberosPrincipal, WinrmHttp } from '../lib/session/winrm/http.ts';
import { WinrmShell } from '../lib/session/winrm/shell.ts';
import { POWERSHELL_ARGS, POWERSHELL_COMMAND } from '../lib/session/winrm/soap.ts';
import { verifyEvidence } from '../lib/evidence/verify.ts';
import { cliSpawn, hostOf, pwshOrFail, readJson, tempDir } from './helpers.ts';
import { REALM, startKdc, type Kdc } from './kdc.ts';
import { PYTHON, pywinrmOrFail, startWinrmServer, type WinrmServer } from './winrm-server.ts';

let kdc: Kdc;
let server: WinrmServer;
const dir = tempDir('magpie-kerberos-');
const PASSWORD = 'Kerb3ros-pw';

test.before(async () => {
  kdc = await startKdc(join(dir, 'realm'));
  kdc.addUser('responder', PASSWORD);
  kdc.addUser('stranger', PASSWORD);
  server = await startWinrmServer({ users: { responder: 'unused-for-kerberos' }, pwsh: pwshOrFail(), maxPollMs: 5000, kerberos: true });
});
test.after(async () => {
  await server?.close();
  await kdc?.stop();
});

const endpoint = (o: { host?: string; user?: string; password?: string } = {}) =>
  new WinrmHttp({ host: o.host ?? 'localhost', port: server.port, auth: 'kerberos', credentials: { user: o.user ?? '', password: o.password ?? '' } });

async function echo(http: WinrmHttp): Promise<string> {
  const shell = await WinrmShell.open(http);
  try {
    const r = await shell.run(POWERSHELL_COMMAND, POWERSHELL_ARGS, Buffer.from("'kerberos ' + (6 * 7)\r\n"));
    return r.stdout.toString('utf8');
  } finally {
    await shell.close();
    http.close();
  }
}

test("with the responder's ticket (kinit): a shell runs PowerShell, every message sealed by the Kerberos context", async () => {
  kdc.kinit('responder', PASSWORD);
  const before = server.stats.encryptedRequests;
  assert.match(await echo(endpoint()), /kerberos 42/);
  assert.equal(server.stats.kerberosAccepted.at(-1), `responder@${REALM}`);
  assert.ok(server.stats.encryptedRequests - before >= 4, 'create, command, send, receive… all encrypted');
  assert.is(server.stats.plainRefused, 0);
});

test('with a password and no ticket cache: the ticket is asked for in memory; DOMAIN\\user names the realm', async () => {
  kdc.kdestroy();
  assert.match(await echo(endpoint({ user: 'MAGPIE.TEST\\responder', password: PASSWORD })), /kerberos 42/);
  assert.is(kerberosPrincipal('corp\\alice'), 'alice@CORP');
  assert.is(kerberosPrincipal('alice@corp.example'), 'alice@corp.example');
  assert.equal(readdirSync(kdc.dir).filter((f) => f === 'ccache'), [], 'no credential cache was written');
});

const refusal = async (http: WinrmHttp) => {
  try {
    await WinrmShell.open(http);
    return undefined;
  } catch (e) {
    return e as Error;
  } finally {
    http.close();
  }
};

test('a wrong password, no ticket, an IP address and an account the target refuses: each one clear error, no retry storm', async () => {
  kdc.kdestroy();
  const handshakes = server.stats.handshakes;
  const wrong = await refusal(endpoint({ user: 'responder', password: 'not-it' }));
  assert.instance(wrong, WinrmAuthError, String(wrong));
  assert.match(wrong!.message, /Kerberos: a Kerberos ticket for responder: .*: the password for responder is wrong$/, wrong!.message);
  assert.not.match(wrong!.message, /not-it/, 'the password is not in the message');

  const none = await refusal(endpoint());
  assert.instance(none, WinrmAuthError);
  assert.match(none!.message, /no valid ticket: run kinit, or give a password/, none!.message);

  kdc.kinit('responder', PASSWORD);
  const ip = await refusal(endpoint({ host: '127.0.0.1' }));
  assert.instance(ip, WinrmAuthError);
  assert.match(ip!.message, /DNS name .*not an IP address/);
  assert.is(server.stats.handshakes, handshakes, 'none of these reached the target');

  const stranger = await refusal(endpoint({ user: 'stranger', password: PASSWORD }));
  assert.instance(stranger, WinrmAuthError);
  assert.match(stranger!.message, /refused the Kerberos ticket for stranger/);
  assert.is(server.stats.handshakes, handshakes + 1, 'one attempt, not a loop');
});

test('sealing: the WinRM layout of an RFC 4121 wrap token (60-byte header, RRC 28), both directions; tampering and replay fail', () => {
  kdc.kinit('responder', PASSWORD);
  const client = new GssContext('initiator', { service: 'HTTP@localhost' });
  const server = new GssContext('acceptor');
  try {
    const reply = server.step(client.step());
    assert.ok(server.complete);
    client.step(reply);
    assert.ok(client.complete, 'mutual authentication done');
    assert.is(server.peer, `responder@${REALM}`);

    const message = Buffer.from('<s:Envelope>' + 'x'.repeat(1000) + '</s:Envelope>');
    const { sealed, signature } = client.wrap(message);
    assert.is(signature.length, 60);
    assert.is(sealed.length, message.length, 'AES (CTS) adds no padding');
    assert.equal([...signature.subarray(0, 8)], [0x05, 0x04, 0x06, 0xff, 0x00, 0x00, 0x00, 28], 'token id 0504, flags sealed|acceptor-subkey, EC 0, RRC 28');
    assert.not.ok(sealed.includes(Buffer.from('xxxxxxxx')), 'the body is encrypted');
    assert.ok(server.unwrap(sealed, signature).equals(message));

    const body = encryptMessage(Buffer.from('answer'), server);
    assert.is(decryptMessage(body, client).toString(), 'answer', 'the acceptor seals, the initiator unseals (flags 07)');

    const again = client.wrap(message);
    assert.ok(server.unwrap(again.sealed, again.signature).equals(message));
    assert.throws(
      () => server.unwrap(again.sealed, again.signature),
      (e: Error) => e instanceof GssError && /replayed/i.test(e.message),
      'the same message twice is refused',
    );
    const next = client.wrap(message);
    const flipped = Buffer.from(next.sealed);
    flipped[10] ^= 1;
    assert.throws(() => server.unwrap(flipped, next.signature), (e: Error) => e instanceof GssError && /integrity|checksum|modified/i.test(e.message));
  } finally {
    client.dispose();
    server.dispose();
  }
});

test("Debian's pywinrm (requests-kerberos) runs a command over Kerberos with message encryption against the endpoint", async () => {
  pywinrmOrFail();
  kdc.kinit('responder', PASSWORD);
  // Debian's python3-kerberos (1.1.14) lacks the two WinRM helpers requests-kerberos looks for;
  // they are its own gss_wrap_iov/gss_unwrap_iov calls, whose token is WinRM's octet-stream part.
  const script = `
import base64, struct, sys, kerberos
def enc(ctx, message):
    kerberos.authGSSClientWrapIov(ctx, base64.b64encode(message).decode(), 1)
    out = base64.b64decode(kerberos.authGSSClientResponse(ctx))
    n = struct.unpack('<I', out[:4])[0]
    return out[4 + n:], out[4:4 + n]
def dec(ctx, message, header):
    kerberos.authGSSClientUnwrapIov(ctx, base64.b64encode(struct.pack('<I', len(header)) + header + message).decode())
    return base64.b64decode(kerberos.authGSSClientResponse(ctx))
if not hasattr(kerberos, 'authGSSWinRMEncryptMessage'):
    kerberos.authGSSWinRMEncryptMessage = enc
    kerberos.authGSSWinRMDecryptMessage = dec
import winrm
s = winrm.Session('http://localhost:%s/wsman' % sys.argv[1], auth=('responder@${REALM}', None), transport='kerberos', message_encryption='always')
r = s.run_ps("'from pywinrm ' + (6 * 7)")
print(r.status_code, r.std_out.decode().strip())
`;
  const before = server.stats.kerberosAccepted.length;
  // Not spawnSync: the endpoint answers from this very process.
  const child = spawn(PYTHON, ['-c', script, String(server.port)], { env: { ...process.env, ...kdc.env }, stdio: ['ignore', 'pipe', 'pipe'] });
  let stdout = '';
  let stderr = '';
  child.stdout.on('data', (d) => (stdout += d));
  child.stderr.on('data', (d) => (stderr += d));
  const status = await new Promise<number | null>((resolve) => child.on('close', resolve));
  const r = { status, stdout, stderr };
  assert.is(r.status, 0, r.stderr);
  assert.match(r.stdout, /^0 from pywinrm 42$/m);
  assert.ok(server.stats.kerberosAccepted.length > before);
});

test('magpie run over WinRM with --winrm-auth kerberos and the ticket: the evidence verifies and records Kerberos', async () => {
  kdc.kinit('responder', PASSWORD);
  const out = tempDir();
  const p = cliSpawn(['run', 'triage', '--target', `winrm://localhost:${server.port}`, '--winrm-auth', 'kerberos', '--out', out, '--json'], { env: kdc.env });
  const r = await p.done;
  assert.is(r.code, 0, r.stderr + r.stdout);
  const summary = JSON.parse(r.stdout.trim().split('\n').at(-1)!);
  assert.equal(summary.hosts.map((h: { state: string }) => h.state), ['complete']);
  const host = join(out, 'adhoc', hostOf(join(out, 'adhoc')));
  const hostDir = join(host, readdirSync(host)[0]);
  const v = await verifyEvidence(hostDir);
  assert.ok(v.ok, JSON.stringify(v.problems));
  const m = readJson(join(hostDir, 'manifest.json'));
  assert.is(m.target.connection.authMethod, 'kerberos');
  assert.is(m.target.connection.security, 'http-message-encryption');
});

test.run();
