// WinRM over HTTPS (5986): the tls-server-end-point channel binding checked against requests-ntlm's
// own computation (python cryptography) for RSA/SHA-256 and EC/SHA-384 certificates; Debian's
// python3-winrm with NTLM (channel binding required, as Extended Protection "Strict") and Basic
// against the test endpoint; Magpie's client with the CA trusted, with the certificate pinned, a
// wrong pin and an untrusted certificate refused before any request, Basic never over HTTP.
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { spawn, spawnSync } from 'node:child_process';
import { writeFileSync } from 'node:fs';
import { WinrmAuthError, WinrmTlsError } from '../lib/session/winrm/errors.ts';
import { WinrmHttp, type WinrmHttpOptions } from '../lib/session/winrm/http.ts';
import { WinrmShell } from '../lib/session/winrm/shell.ts';
import { POWERSHELL_ARGS, POWERSHELL_COMMAND } from '../lib/session/winrm/soap.ts';
import { certificateSha256, normalizePin, signatureAlgorithmOid, tlsServerEndPoint } from '../lib/session/winrm/tls.ts';
import { scriptBlockLine } from '../lib/script.ts';
import { stripConsoleModes } from '../lib/text.ts';
import { pwshOrFail, tempDir } from './helpers.ts';
import { makeCertificate, PYTHON, pywinrmOrFail, startWinrmServer, type TestCertificate, type WinrmServer } from './winrm-server.ts';

const PASSWORD = 'Sh0rt&Sw33t';
let rsa: TestCertificate;
let ec: TestCertificate;
let server: WinrmServer;

/** See test/winrm-server.test.ts: ntlm-auth needs MD4 from OpenSSL 3's legacy provider on Debian 12. */
const OPENSSL_LEGACY = ['openssl_conf = openssl_init', '[openssl_init]', 'providers = provider_sect', '[provider_sect]', 'default = default_sect', 'legacy = legacy_sect', '[default_sect]', 'activate = 1', '[legacy_sect]', 'activate = 1', ''].join('\n');

/** Runs Python without blocking the event loop (the endpoint it talks to lives in this process). */
function python(code: string, args: string[] = []): Promise<string> {
  const conf = `${tempDir('magpie-winrm-')}/openssl.cnf`;
  writeFileSync(conf, OPENSSL_LEGACY);
  return new Promise((resolve, reject) => {
    const p = spawn(PYTHON, ['-c', code, ...args], { env: { ...process.env, OPENSSL_CONF: conf, NO_PROXY: '*', no_proxy: '*' } });
    let out = '';
    let err = '';
    p.stdout.on('data', (d) => (out += d));
    p.stderr.on('data', (d) => (err += d));
    const t = setTimeout(() => p.kill('SIGKILL'), 120000);
    p.on('error', reject);
    p.on('close', (status) => {
      clearTimeout(t);
      if (status !== 0) reject(new Error(`python failed (${status}):\n${err}\n${out}`));
      else resolve(out.trim());
    });
  });
}

test.before(async () => {
  pywinrmOrFail();
  const dir = tempDir('magpie-winrm-tls-');
  rsa = makeCertificate(dir, 'rsa');
  ec = makeCertificate(dir, 'ec384');
  server = await startWinrmServer({ users: { responder: PASSWORD }, pwsh: pwshOrFail(), tls: { key: rsa.key, cert: rsa.cert }, basic: true, requireChannelBinding: true, maxPollMs: 1000 });
});
test.after(async () => {
  await server?.close();
});

test('tls-server-end-point equals requests-ntlm\'s (python cryptography) for RSA/SHA-256 and EC/SHA-384', async () => {
  assert.is(signatureAlgorithmOid(rsa.der), '1.2.840.113549.1.1.11');
  assert.is(signatureAlgorithmOid(ec.der), '1.2.840.10045.4.3.3');
  const theirs = await python(
    'import sys, json, ssl\nfrom requests_ntlm.requests_ntlm import _get_certificate_hash\nprint(json.dumps([_get_certificate_hash(ssl.PEM_cert_to_DER_cert(open(f).read())) for f in sys.argv[1:]]))',
    [rsa.certFile, ec.certFile],
  );
  const [r, e] = JSON.parse(theirs) as string[];
  assert.is(tlsServerEndPoint(rsa.der).toString('hex').toUpperCase(), r.toUpperCase());
  assert.is(tlsServerEndPoint(ec.der).toString('hex').toUpperCase(), e.toUpperCase());
  assert.is(tlsServerEndPoint(ec.der).length, 48, 'SHA-384 for an SHA-384 signature');
});

test('python3-winrm over HTTPS: NTLM with channel binding (required by the endpoint), and Basic', async () => {
  const before = server.stats.cbtMatched;
  const out = JSON.parse(
    await python(
      [
        'import sys, json, winrm',
        'url, user, pw, ca = sys.argv[1:5]',
        'res = {}',
        "for t in ('ntlm', 'basic'):",
        "    u = ('MAGPIE-TEST\\\\' + user) if t == 'ntlm' else user",
        "    r = winrm.Session(url, auth=(u, pw), transport=t, server_cert_validation='validate', ca_trust_path=ca).run_ps('\"over tls with \" + \"' + t + '\"')",
        "    res[t] = [r.status_code, r.std_out.decode()]",
        'print(json.dumps(res))',
      ].join('\n'),
      [server.url, 'responder', PASSWORD, rsa.certFile],
    ),
  );
  assert.equal(out.ntlm, [0, 'over tls with ntlm\n']);
  assert.equal(out.basic, [0, 'over tls with basic\n']);
  assert.ok(server.stats.cbtMatched > before, 'requests-ntlm bound NTLM to the certificate exactly as the endpoint expects');
  assert.is(server.stats.cbtRejected, 0);
  assert.ok(server.stats.basicAccepted > 0);
  assert.is(server.openShells(), 0);
});

const client = (o: Partial<WinrmHttpOptions>) =>
  new WinrmHttp({ host: '127.0.0.1', port: server.port, scheme: 'https', credentials: { user: 'MAGPIE-TEST\\responder', password: PASSWORD }, ...o });
async function hello(http: WinrmHttp): Promise<string> {
  const shell = await WinrmShell.open(http, { operationTimeoutSec: 1 });
  const r = await shell.run(POWERSHELL_COMMAND, POWERSHELL_ARGS, Buffer.from(scriptBlockLine('"hello over $(\'https\')"') + '\r\n'));
  await shell.close();
  http.close();
  return stripConsoleModes(r.stdout.toString()).trim();
}

test('Magpie over HTTPS: NTLM with channel binding, CA given; then the certificate pinned instead', async () => {
  const before = server.stats.cbtMatched;
  const http = client({ ca: rsa.cert });
  assert.is(await hello(http), 'hello over https');
  assert.is(http.certificateSha256, certificateSha256(rsa.der));
  assert.ok(server.stats.cbtMatched > before, 'the endpoint found our channel binding right');
  assert.is(server.stats.cbtRejected, 0);
  assert.is(await hello(client({ pinSha256: certificateSha256(rsa.der).replace(/:/g, '').toLowerCase() })), 'hello over https');
});

test('untrusted certificate and wrong pin: WinrmTlsError before any request reaches the endpoint', async () => {
  const seen = server.stats.actions.length + server.stats.handshakes + server.stats.basicAccepted + server.stats.authFailures;
  try {
    await hello(client({}));
    assert.unreachable();
  } catch (e) {
    assert.instance(e, WinrmTlsError);
    assert.match((e as Error).message, /not trusted \(DEPTH_ZERO_SELF_SIGNED_CERT\).*SHA-256 [0-9A-F:]{95}.*--winrm-ca/);
    assert.ok((e as Error).message.includes(certificateSha256(rsa.der)));
  }
  try {
    await hello(client({ pinSha256: certificateSha256(ec.der), auth: 'basic' }));
    assert.unreachable();
  } catch (e) {
    assert.instance(e, WinrmTlsError);
    assert.match((e as Error).message, /is not the pinned one/);
  }
  assert.is(server.stats.actions.length + server.stats.handshakes + server.stats.basicAccepted + server.stats.authFailures, seen, 'nothing was sent, not even a Basic password');
  assert.throws(() => normalizePin('abc'), /64 hex digits/);
});

test('Basic over HTTPS works; a wrong Basic password is WinrmAuthError; Basic over plain HTTP is refused up front', async () => {
  assert.is(await hello(client({ auth: 'basic', credentials: { user: 'responder', password: PASSWORD }, ca: rsa.cert })), 'hello over https');
  try {
    await hello(client({ auth: 'basic', credentials: { user: 'responder', password: 'nope' }, ca: rsa.cert }));
    assert.unreachable();
  } catch (e) {
    assert.instance(e, WinrmAuthError);
    assert.not.match((e as Error).message, /nope/);
  }
  assert.throws(
    () => new WinrmHttp({ host: '127.0.0.1', port: server.port, scheme: 'http', auth: 'basic', credentials: { user: 'u', password: 'p' } }),
    (e: unknown) => e instanceof WinrmAuthError && /Basic authentication over plain HTTP/.test((e as Error).message),
  );
});

test.run();
