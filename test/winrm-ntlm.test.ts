// NTLM for the WinRM transport against the standard: MS-NLMP 4.2.4 (NTLMv2 authentication) worked
// example byte for byte — keys, the CHALLENGE and AUTHENTICATE messages, sealing and signing —
// plus MD4 (RFC 1320) and RC4 vectors, and a client ↔ acceptor round trip with MIC and sealing.
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { md4 } from '../lib/session/winrm/md4.ts';
import { Rc4, rc4 } from '../lib/session/winrm/rc4.ts';
import {
  acceptAuthenticate,
  AvId,
  channelBindingsHash,
  CLIENT_FLAGS,
  challengeMessage,
  computeResponseV2,
  decodeAvPairs,
  NtlmClient,
  NtlmError,
  NtlmSecurity,
  ntowfv1,
  ntowfv2,
  parseAuthenticate,
  parseChallenge,
  parseNegotiate,
  sealKey,
  signKey,
  splitUser,
  fileTimeNow,
} from '../lib/session/winrm/ntlm.ts';

const hex = (s: string) => Buffer.from(s.replace(/\s+/g, ''), 'hex');
const eqHex = (actual: Buffer, expected: string, what: string) => assert.is(actual.toString('hex'), expected.replace(/\s+/g, ''), what);

// MS-NLMP 4.2.1 Common Values and 4.2.4 NTLMv2 Authentication.
const USER = 'User';
const DOMAIN = 'Domain';
const PASSWORD = 'Password';
const RANDOM_SESSION_KEY = Buffer.alloc(16, 0x55);
const TIME = Buffer.alloc(8);
const CLIENT_CHALLENGE = Buffer.alloc(8, 0xaa);
const SERVER_CHALLENGE = hex('0123456789abcdef');
// 4.2.4.1.1 AV pairs: MsvAvNbDomainName "Domain", MsvAvNbComputerName "Server".
const AV_PAIRS = hex('02000c0044006f006d00610069006e00 01000c005300650072007600650072000000 0000');
// 4.2.4.3 CHALLENGE_MESSAGE (flags 0xe28a8233, version 6.0.6000 rev 15).
const CHALLENGE = hex(`
  4e544c4d53535000 02000000 0c000c0038000000 33828ae2 0123456789abcdef 0000000000000000
  2400240044000000 0600701700000 00f
  530065007200760065007200
  02000c0044006f006d00610069006e00 01000c00530065007200760065007200 00000000`);
// 4.2.4.3 AUTHENTICATE_MESSAGE (flags 0xe2888235, version 5.1.2600 rev 15, no MIC).
const AUTHENTICATE = hex(`
  4e544c4d53535000 03000000
  180018006c000000 5400540084000000 0c000c0048000000 0800080054000000 100010005c000000 10001000d8000000
  358288e2 0501280a0000000f
  44006f006d00610069006e00 5500730065007200 43004f004d0050005500540045005200
  86c35097ac9cec102554764a57cccc19aaaaaaaaaaaaaaaa
  68cd0ab851e51c96aabc927bebef6a1c 0101000000000000 0000000000000000 aaaaaaaaaaaaaaaa 00000000
  02000c0044006f006d00610069006e00 01000c00530065007200760065007200 00000000 00000000
  c5dad2544fc9799094ce1ce90bc9d03e`);

test('MD4: RFC 1320 test suite', () => {
  const cases: [string, string][] = [
    ['', '31d6cfe0d16ae931b73c59d7e0c089c0'],
    ['a', 'bde52cb31de33e46245e05fbdbd6fb24'],
    ['abc', 'a448017aaf21d8525fc10ae87aa6729d'],
    ['message digest', 'd9130a8164549fe818874806e1c7014b'],
    ['abcdefghijklmnopqrstuvwxyz', 'd79e1c308aa5bbcdeea8ed63df412da9'],
    ['ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789', '043f8582f241db351ce627e153e7f0e4'],
    ['12345678901234567890123456789012345678901234567890123456789012345678901234567890', 'e33b4ddc9c38f2199c3e7b164fcc0536'],
  ];
  for (const [input, digest] of cases) eqHex(md4(Buffer.from(input, 'latin1')), digest, `MD4("${input}")`);
});

test('RC4: the classic vectors, and a stream that continues across updates', () => {
  eqHex(rc4(Buffer.from('Key'), Buffer.from('Plaintext')), 'bbf316e8d940af0ad3', 'Key/Plaintext');
  eqHex(rc4(Buffer.from('Wiki'), Buffer.from('pedia')), '1021bf0420', 'Wiki/pedia');
  eqHex(rc4(Buffer.from('Secret'), Buffer.from('Attack at dawn')), '45a01f645fc35b383552544b9bf5', 'Secret/Attack at dawn');
  const h = new Rc4(Buffer.from('Secret'));
  eqHex(Buffer.concat([h.update(Buffer.from('Attack')), h.update(Buffer.from(' at dawn'))]), '45a01f645fc35b383552544b9bf5', 'split stream');
});

test('MS-NLMP 4.2.2.1.2 / 4.2.4.1.1: NTOWFv1 and NTOWFv2', () => {
  eqHex(ntowfv1(PASSWORD), 'a4f49c406510bdcab6824ee7c30fd852', 'NTOWFv1');
  eqHex(ntowfv2(USER, ntowfv1(PASSWORD), DOMAIN), '0c868a403bfd7a93a3001ef22ef02e3f', 'NTOWFv2');
});

test('MS-NLMP 4.2.4.1-2: NTLMv2 response, LMv2 response, session base key, encrypted session key', () => {
  const r = computeResponseV2(ntowfv2(USER, ntowfv1(PASSWORD), DOMAIN), SERVER_CHALLENGE, CLIENT_CHALLENGE, TIME, AV_PAIRS);
  eqHex(r.ntProofStr, '68cd0ab851e51c96aabc927bebef6a1c', 'NTProofStr');
  eqHex(r.lmChallengeResponse, '86c35097ac9cec102554764a57cccc19aaaaaaaaaaaaaaaa', 'LMv2');
  eqHex(r.sessionBaseKey, '8de40ccadbc14a82f15cb0ad0de95ca3', 'SessionBaseKey');
  eqHex(rc4(r.sessionBaseKey, RANDOM_SESSION_KEY), 'c5dad2544fc9799094ce1ce90bc9d03e', 'EncryptedRandomSessionKey');
  eqHex(
    r.ntChallengeResponse.subarray(16),
    '01010000000000000000000000000000aaaaaaaaaaaaaaaa0000000002000c0044006f006d00610069006e0001000c005300650072007600650072000000000000000000',
    'temp',
  );
});

test('MS-NLMP 4.2.4.1.3-4: signing and sealing keys', () => {
  const flags = CLIENT_FLAGS;
  eqHex(sealKey(flags, RANDOM_SESSION_KEY, 'client'), '59f600973cc4960a25480a7c196e4c58', 'client seal key');
  eqHex(sealKey(flags, RANDOM_SESSION_KEY, 'server'), '9355f3a957c1583d25c4c2f11e40390e', 'server seal key');
  eqHex(signKey(RANDOM_SESSION_KEY, 'client'), '4788dc861b4782f35d43fd98fe1a2d39', 'client sign key');
  eqHex(signKey(RANDOM_SESSION_KEY, 'server'), 'd04d6f10741041d1d246d64188d7a8ad', 'server sign key');
});

test('MS-NLMP 4.2.4.3: the CHALLENGE message, built and parsed', () => {
  const built = challengeMessage({
    flags: 0xe28a8233,
    serverChallenge: SERVER_CHALLENGE,
    targetName: 'Server',
    avPairs: decodeAvPairs(AV_PAIRS),
    version: hex('060070170000000f'),
  });
  eqHex(built, CHALLENGE.toString('hex'), 'CHALLENGE bytes');
  const c = parseChallenge(CHALLENGE);
  assert.is(c.flags, 0xe28a8233);
  assert.is(c.targetName, 'Server');
  eqHex(c.serverChallenge, '0123456789abcdef', 'server challenge');
  assert.equal(
    c.avPairs.map((p) => [p.id, p.value.toString('utf16le')]),
    [
      [AvId.NB_DOMAIN_NAME, 'Domain'],
      [AvId.NB_COMPUTER_NAME, 'Server'],
    ],
  );
  eqHex(c.version!, '060070170000000f', 'version');
});

test('MS-NLMP 4.2.4.3: the AUTHENTICATE message from NtlmClient, byte for byte', () => {
  const client = new NtlmClient(
    { user: `${DOMAIN}\\${USER}`, password: PASSWORD, workstation: 'COMPUTER' },
    { version: hex('0501280a0000000f'), fixed: { clientChallenge: CLIENT_CHALLENGE, time: TIME, exportedSessionKey: RANDOM_SESSION_KEY } },
  );
  const neg = client.negotiate();
  assert.is(parseNegotiate(neg).flags, 0xe2888235);
  const auth = client.authenticate(CHALLENGE);
  eqHex(auth, AUTHENTICATE.toString('hex'), 'AUTHENTICATE bytes');
  const parsed = parseAuthenticate(auth);
  assert.is(parsed.user, USER);
  assert.is(parsed.domain, DOMAIN);
  assert.is(parsed.workstation, 'COMPUTER');
  assert.is(parsed.mic, undefined);
});

test('MS-NLMP 4.2.4.4: GSS_WrapEx of "Plaintext" (sealed data and signature)', () => {
  const client = new NtlmClient(
    { user: USER, domain: DOMAIN, password: PASSWORD, workstation: 'COMPUTER' },
    { fixed: { clientChallenge: CLIENT_CHALLENGE, time: TIME, exportedSessionKey: RANDOM_SESSION_KEY } },
  );
  client.negotiate();
  client.authenticate(CHALLENGE);
  const { sealed, signature } = client.security.wrap(Buffer.from('Plaintext', 'utf16le'));
  eqHex(sealed, '54e50165bf1936dc996020c1811b0f06fb5f', 'sealed');
  eqHex(signature, '010000007fb38ec5c55d497600000000', 'signature');
  // The acceptor with the same key unseals it.
  const server = new NtlmSecurity(client.flags, RANDOM_SESSION_KEY, 'server');
  assert.is(server.unwrap(sealed, signature).toString('utf16le'), 'Plaintext');
});

function modernChallenge(): Buffer {
  const ts = fileTimeNow();
  return challengeMessage({
    flags: (CLIENT_FLAGS | 0x00020000) >>> 0,
    serverChallenge: Buffer.from('1122334455667788', 'hex'),
    targetName: 'MAGPIE',
    avPairs: [
      { id: AvId.NB_DOMAIN_NAME, value: Buffer.from('MAGPIE', 'utf16le') },
      { id: AvId.NB_COMPUTER_NAME, value: Buffer.from('WIN-TARGET', 'utf16le') },
      { id: AvId.DNS_COMPUTER_NAME, value: Buffer.from('win-target', 'utf16le') },
      { id: AvId.TIMESTAMP, value: ts },
    ],
  });
}

test('client ↔ acceptor with MsvAvTimestamp: MIC, channel bindings, sealing in both directions, sequence numbers', () => {
  const cbt = channelBindingsHash(Buffer.alloc(32, 7));
  const client = new NtlmClient({ user: 'magpie@MAGPIE', password: 'S3cret!' }, { channelBindings: cbt, targetName: 'HTTP/win-target' });
  const neg = client.negotiate();
  const ch = modernChallenge();
  const auth = client.authenticate(ch);
  const parsed = parseAuthenticate(auth);
  assert.ok(parsed.mic && !parsed.mic.equals(Buffer.alloc(16)), 'MIC present');
  eqHex(parsed.lmChallengeResponse, '00'.repeat(24), 'LMv2 is zero when the server sends a timestamp');
  const info = decodeAvPairs(parsed.ntChallengeResponse.subarray(44, parsed.ntChallengeResponse.length - 4));
  assert.is(info.find((p) => p.id === AvId.FLAGS)!.value.readUInt32LE(0) & 2, 2, 'MsvAvFlags says MIC');
  assert.ok(info.find((p) => p.id === AvId.CHANNEL_BINDINGS)!.value.equals(cbt), 'channel bindings travel');
  assert.is(info.find((p) => p.id === AvId.TARGET_NAME)!.value.toString('utf16le'), 'HTTP/win-target');

  const ok = acceptAuthenticate(neg, ch, auth, (u, d) => (u === 'magpie' && d === 'MAGPIE' ? 'S3cret!' : undefined));
  assert.ok(ok, 'the acceptor accepts the right password');
  for (let i = 0; i < 3; i++) {
    const req = client.security.wrap(Buffer.from(`request ${i}`));
    assert.is(ok!.security.unwrap(req.sealed, req.signature).toString(), `request ${i}`);
    const res = ok!.security.wrap(Buffer.from(`response ${i}`));
    assert.is(client.security.unwrap(res.sealed, res.signature).toString(), `response ${i}`);
  }
  // A tampered or replayed message does not verify.
  const m = client.security.wrap(Buffer.from('tamper me'));
  m.sealed[0] ^= 1;
  assert.throws(() => ok!.security.unwrap(m.sealed, m.signature), (e: unknown) => e instanceof NtlmError && e.problem === 'signature');

  // A wrong password, and a tampered MIC, are refused.
  const bad = new NtlmClient({ user: 'MAGPIE\\magpie', password: 'wrong' });
  const neg2 = bad.negotiate();
  assert.is(acceptAuthenticate(neg2, ch, bad.authenticate(ch), () => 'S3cret!'), undefined);
  const good = new NtlmClient({ user: 'MAGPIE\\magpie', password: 'S3cret!' });
  const neg3 = good.negotiate();
  const auth3 = good.authenticate(ch);
  auth3[80] ^= 0xff;
  assert.is(acceptAuthenticate(neg3, ch, auth3, () => 'S3cret!'), undefined, 'MIC covers the handshake');
});

test('refuses a server without NTLMv2 session security, and messages that are not NTLM', () => {
  const weak = challengeMessage({ flags: 0x00000201, serverChallenge: SERVER_CHALLENGE, targetName: 'X', avPairs: [] });
  const c = new NtlmClient({ user: 'u', password: 'p' });
  c.negotiate();
  assert.throws(() => c.authenticate(weak), (e: unknown) => e instanceof NtlmError && e.problem === 'unsupported');
  assert.throws(() => parseChallenge(Buffer.from('HTTP/1.1 401 Unauthorized')), (e: unknown) => e instanceof NtlmError && e.problem === 'malformed');
  const truncated = Buffer.from(CHALLENGE.subarray(0, 60));
  assert.throws(() => parseChallenge(truncated), (e: unknown) => e instanceof NtlmError);
  assert.throws(() => c.security, /not complete/);
});

test('splitUser: DOMAIN\\user, user@domain, user', () => {
  assert.equal(splitUser('CORP\\alice'), { user: 'alice', domain: 'CORP' });
  assert.equal(splitUser('alice@corp.example'), { user: 'alice', domain: 'corp.example' });
  assert.equal(splitUser('alice'), { user: 'alice', domain: '' });
});

test.run();
