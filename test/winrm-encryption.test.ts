// WinRM HTTP message encryption framing (multipart/encrypted, HTTP-SPNEGO-session-encrypted):
// the vectors of pywinrm's winrm/tests/test_encryption.py (diyan/pywinrm 739df6f, MIT), whose stand-in
// session "seals" by base64 with the signature "1234", then a real NTLM-sealed round trip.
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { decryptMessage, encryptedContentType, encryptMessage, isEncrypted, type MessageSealer } from '../lib/session/winrm/encryption.ts';
import { WinrmMessageError } from '../lib/session/winrm/errors.ts';
import { acceptAuthenticate, AvId, challengeMessage, CLIENT_FLAGS, fileTimeNow, NtlmClient, NtlmError } from '../lib/session/winrm/ntlm.ts';

/** pywinrm's SessionSecurityTest: base64 "sealing" with the fixed signature b"1234". */
const fakeSealer: MessageSealer = {
  wrap: (m) => ({ sealed: Buffer.from(Buffer.from(m).toString('base64')), signature: Buffer.from('1234') }),
  unwrap: (s, sig) => {
    assert.is(Buffer.from(sig).toString(), '1234');
    return Buffer.from(Buffer.from(s).toString(), 'base64');
  },
};
const le32 = (n: number) => {
  const b = Buffer.alloc(4);
  b.writeInt32LE(n);
  return b;
};
const part = (length: number, payload: Buffer) =>
  Buffer.concat([
    Buffer.from(
      '--Encrypted Boundary\r\n' +
        '\tContent-Type: application/HTTP-SPNEGO-session-encrypted\r\n' +
        `\tOriginalContent: type=application/soap+xml;charset=UTF-8;Length=${length}\r\n` +
        '--Encrypted Boundary\r\n' +
        '\tContent-Type: application/octet-stream\r\n',
    ),
    payload,
  ]);

test('pywinrm test_encrypt_message: exact body, Content-Length 272 and Content-Type', () => {
  const body = encryptMessage(Buffer.from('unencrypted message'), fakeSealer);
  const expected = Buffer.concat([part(19, Buffer.concat([le32(4), Buffer.from('1234'), Buffer.from('dW5lbmNyeXB0ZWQgbWVzc2FnZQ==')])), Buffer.from('--Encrypted Boundary--\r\n')]);
  assert.is(body.toString('latin1'), expected.toString('latin1'));
  assert.is(body.length, 272);
  assert.is(encryptedContentType(), 'multipart/encrypted;protocol="application/HTTP-SPNEGO-session-encrypted";boundary="Encrypted Boundary"');
});

test('pywinrm test_decrypt_message and _boundary_with_end_hyphens', () => {
  const payload = Buffer.concat([le32(4), Buffer.from('1234'), Buffer.from('dW5lbmNyeXB0ZWQgbWVzc2FnZQ==')]);
  for (const end of ['--Encrypted Boundary\r\n', '--Encrypted Boundary--\r\n']) {
    const body = Buffer.concat([part(19, payload), Buffer.from(end)]);
    assert.is(decryptMessage(body, fakeSealer).toString(), 'unencrypted message', end.trim());
  }
});

test('pywinrm test_decrypt_message_length_mismatch: tampering is refused', () => {
  const body = Buffer.concat([part(20, Buffer.concat([le32(4), Buffer.from('1234'), Buffer.from('dW5lbmNyeXB0ZWQgbWVzc2FnZQ==')])), Buffer.from('--Encrypted Boundary--\r\n')]);
  assert.throws(() => decryptMessage(body, fakeSealer), (e: unknown) => e instanceof WinrmMessageError && /tampered/.test(e.message));
});

test('pywinrm test_decrypt_large_credssp_message, in SPNEGO framing: several parts in order', () => {
  const message = Buffer.from('unencrypted message '.repeat(2048));
  const chunks = [message.subarray(0, 16384), message.subarray(16384, 32768), message.subarray(32768)];
  const body = Buffer.concat([
    ...chunks.map((c) => part(c.length, Buffer.concat([le32(4), Buffer.from('1234'), Buffer.from(c.toString('base64'))]))),
    Buffer.from('--Encrypted Boundary--\r\n'),
  ]);
  assert.ok(decryptMessage(body, fakeSealer).equals(message));
});

test('pywinrm test_decrypt_message_decryption_not_needed: plain SOAP is told apart by Content-Type', () => {
  assert.not.ok(isEncrypted('application/soap+xml;charset=UTF-8'));
  assert.ok(isEncrypted(encryptedContentType()));
  assert.ok(isEncrypted('multipart/x-multi-encrypted;protocol="application/HTTP-SPNEGO-session-encrypted";boundary="Encrypted Boundary"'));
  assert.not.ok(isEncrypted('multipart/encrypted;protocol="application/HTTP-CredSSP-session-encrypted";boundary="Encrypted Boundary"'));
});

test('the boundary text inside a message does not cut it short (the announced length wins)', () => {
  const identity: MessageSealer = { wrap: (m) => ({ sealed: Buffer.from(m), signature: Buffer.alloc(16) }), unwrap: (s) => Buffer.from(s) };
  const message = Buffer.from('<s:Body>--Encrypted Boundary\r\n\tContent-Type: application/octet-stream\r\n</s:Body>');
  assert.ok(decryptMessage(encryptMessage(message, identity), identity).equals(message));
});

test('real NTLM sealing: client request → server, server response → client, several in a row; a flipped byte fails', () => {
  const client = new NtlmClient({ user: 'MAGPIE\\analyst', password: 'pa55-Word' });
  const neg = client.negotiate();
  const ch = challengeMessage({
    flags: CLIENT_FLAGS,
    serverChallenge: Buffer.from('0102030405060708', 'hex'),
    targetName: 'MAGPIE',
    avPairs: [
      { id: AvId.NB_DOMAIN_NAME, value: Buffer.from('MAGPIE', 'utf16le') },
      { id: AvId.TIMESTAMP, value: fileTimeNow() },
    ],
  });
  const server = acceptAuthenticate(neg, ch, client.authenticate(ch), () => 'pa55-Word')!;
  assert.ok(server);
  for (let i = 0; i < 3; i++) {
    const soap = Buffer.from(`<s:Envelope>request ${i} ${'é'.repeat(i * 100)}</s:Envelope>`);
    const body = encryptMessage(soap, client.security);
    assert.not.ok(body.includes(Buffer.from('request')), 'the SOAP text does not travel in clear');
    assert.ok(decryptMessage(body, server.security).equals(soap));
    const reply = Buffer.from(`<s:Envelope>response ${i}</s:Envelope>`);
    assert.ok(decryptMessage(encryptMessage(reply, server.security), client.security).equals(reply));
  }
  const body = encryptMessage(Buffer.from('<s:Envelope>x</s:Envelope>'), client.security);
  body[body.length - 30] ^= 0x01;
  assert.throws(() => decryptMessage(body, server.security), (e: unknown) => e instanceof NtlmError && e.problem === 'signature');
});

test('garbage and truncated bodies are WinrmMessageError', () => {
  assert.throws(() => decryptMessage(Buffer.from('<html>proxy error</html>'), fakeSealer), (e: unknown) => e instanceof WinrmMessageError);
  const good = encryptMessage(Buffer.from('unencrypted message'), fakeSealer);
  assert.throws(() => decryptMessage(good.subarray(0, 150), fakeSealer), (e: unknown) => e instanceof WinrmMessageError);
});

test.run();
