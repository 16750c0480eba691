// NTLM (MS-NLMP) as WinRM needs it: the NEGOTIATE / CHALLENGE / AUTHENTICATE messages, the NTLMv2
// response, the session key, and the signing and sealing of every message afterwards (WinRM over
// HTTP encrypts each SOAP body with it). Only NTLMv2 with extended session security is offered:
// that is what every Windows since Vista requires by default, and NTLMv1 is refused.
// node:crypto gives HMAC-MD5 and MD5; MD4 and RC4 (gone from OpenSSL 3's default provider) are
// the small modules beside this one. Reproduces MS-NLMP 4.2.4 byte for byte (test/winrm-ntlm.test.ts).
import { createHash, createHmac, randomBytes, timingSafeEqual } from 'node:crypto';
import { md4 } from './md4.ts';
import { Rc4, rc4 } from './rc4.ts';

export const NegotiateFlags = {
  UNICODE: 0x00000001,
  OEM: 0x00000002,
  REQUEST_TARGET: 0x00000004,
  SIGN: 0x00000010,
  SEAL: 0x00000020,
  DATAGRAM: 0x00000040,
  LM_KEY: 0x00000080,
  NTLM: 0x00000200,
  ANONYMOUS: 0x00000800,
  OEM_DOMAIN_SUPPLIED: 0x00001000,
  OEM_WORKSTATION_SUPPLIED: 0x00002000,
  ALWAYS_SIGN: 0x00008000,
  TARGET_TYPE_DOMAIN: 0x00010000,
  TARGET_TYPE_SERVER: 0x00020000,
  EXTENDED_SESSIONSECURITY: 0x00080000,
  IDENTIFY: 0x00100000,
  REQUEST_NON_NT_SESSION_KEY: 0x00400000,
  TARGET_INFO: 0x00800000,
  VERSION: 0x02000000,
  KEY_128: 0x20000000,
  KEY_EXCH: 0x40000000,
  KEY_56: 0x80000000,
} as const;

const F = NegotiateFlags;

/** What Magpie asks for: NTLMv2 with extended session security, 128-bit keys, key exchange, signing and sealing. */
export const CLIENT_FLAGS =
  (F.KEY_56 | F.KEY_EXCH | F.KEY_128 | F.VERSION | F.TARGET_INFO | F.EXTENDED_SESSIONSECURITY | F.ALWAYS_SIGN | F.NTLM | F.SEAL | F.SIGN | F.REQUEST_TARGET | F.UNICODE) >>> 0;

export const AvId = {
  EOL: 0,
  NB_COMPUTER_NAME: 1,
  NB_DOMAIN_NAME: 2,
  DNS_COMPUTER_NAME: 3,
  DNS_DOMAIN_NAME: 4,
  DNS_TREE_NAME: 5,
  FLAGS: 6,
  TIMESTAMP: 7,
  SINGLE_HOST: 8,
  TARGET_NAME: 9,
  CHANNEL_BINDINGS: 10,
} as const;

/** MsvAvFlags bit: the AUTHENTICATE message carries a MIC. */
const AV_FLAG_MIC = 0x2;

const SIGNATURE = Buffer.from('NTLMSSP\0', 'latin1');
/** The VERSION field Magpie sends: Windows 10.0 build 19041, NTLMSSP revision 15 (informational only). */
export const DEFAULT_VERSION = Buffer.from([10, 0, 0x61, 0x4a, 0, 0, 0, 15]);

export type NtlmProblem = 'malformed' | 'unsupported' | 'signature';

/** A message that is not NTLM, a server that will not do NTLMv2 with sealing, or a signature that does not verify. */
export class NtlmError extends Error {
  constructor(
    readonly problem: NtlmProblem,
    message: string,
  ) {
    super(message);
    this.name = 'NtlmError';
  }
}

// ---------------------------------------------------------------------------------------------
// Keys and responses (MS-NLMP 3.3.2, 3.4.4, 3.4.5)

const utf16 = (s: string) => Buffer.from(s, 'utf16le');
const hmacMd5 = (key: Uint8Array, ...data: Uint8Array[]) => {
  const h = createHmac('md5', key);
  for (const d of data) h.update(d);
  return h.digest();
};
const md5 = (...data: Uint8Array[]) => {
  const h = createHash('md5');
  for (const d of data) h.update(d);
  return h.digest();
};

/** NTOWFv1: MD4 of the UTF-16LE password (the "NT hash"). */
export function ntowfv1(password: string): Buffer {
  return md4(utf16(password));
}

/** NTOWFv2 (= LMOWFv2): HMAC-MD5 keyed by the NT hash over UPPER(user) + domain. */
export function ntowfv2(user: string, ntHash: Uint8Array, domain: string): Buffer {
  return hmacMd5(ntHash, utf16(user.toUpperCase() + domain));
}

export interface NtlmV2Response {
  ntChallengeResponse: Buffer;
  lmChallengeResponse: Buffer;
  ntProofStr: Buffer;
  /** = KeyExchangeKey for NTLMv2. */
  sessionBaseKey: Buffer;
}

/** ComputeResponse for NTLMv2 (MS-NLMP 3.3.2): `targetInfo` is the AV pair list exactly as it goes into the response. */
export function computeResponseV2(
  responseKey: Uint8Array,
  serverChallenge: Uint8Array,
  clientChallenge: Uint8Array,
  time: Uint8Array,
  targetInfo: Uint8Array,
): NtlmV2Response {
  const temp = Buffer.concat([Buffer.from([1, 1, 0, 0, 0, 0, 0, 0]), time, clientChallenge, Buffer.alloc(4), targetInfo, Buffer.alloc(4)]);
  const ntProofStr = hmacMd5(responseKey, serverChallenge, temp);
  return {
    ntChallengeResponse: Buffer.concat([ntProofStr, temp]),
    lmChallengeResponse: Buffer.concat([hmacMd5(responseKey, serverChallenge, clientChallenge), clientChallenge]),
    ntProofStr,
    sessionBaseKey: hmacMd5(responseKey, ntProofStr),
  };
}

export type KeyUsage = 'client' | 'server';

const magic = (s: string) => Buffer.from(s + '\0', 'latin1');
const SIGN_MAGIC = {
  client: magic('session key to client-to-server signing key magic constant'),
  server: magic('session key to server-to-client signing key magic constant'),
};
const SEAL_MAGIC = {
  client: magic('session key to client-to-server sealing key magic constant'),
  server: magic('session key to server-to-client sealing key magic constant'),
};

/** SIGNKEY with extended session security: the key for messages sent by `usage`. */
export function signKey(exportedSessionKey: Uint8Array, usage: KeyUsage): Buffer {
  return md5(exportedSessionKey, SIGN_MAGIC[usage]);
}

/** SEALKEY with extended session security: 128, 56 or 40 bits of the session key, by the negotiated flags. */
export function sealKey(flags: number, exportedSessionKey: Uint8Array, usage: KeyUsage): Buffer {
  const len = flags & F.KEY_128 ? 16 : flags & F.KEY_56 ? 7 : 5;
  return md5(exportedSessionKey.subarray(0, len), SEAL_MAGIC[usage]);
}

// ---------------------------------------------------------------------------------------------
// AV pairs

export interface AvPair {
  id: number;
  value: Buffer;
}

export function decodeAvPairs(buf: Buffer): AvPair[] {
  const pairs: AvPair[] = [];
  let off = 0;
  while (off + 4 <= buf.length) {
    const id = buf.readUInt16LE(off);
    const len = buf.readUInt16LE(off + 2);
    if (off + 4 + len > buf.length) throw new NtlmError('malformed', 'NTLM target info: an AV pair runs past the end');
    if (id === AvId.EOL) return pairs;
    pairs.push({ id, value: buf.subarray(off + 4, off + 4 + len) });
    off += 4 + len;
  }
  throw new NtlmError('malformed', 'NTLM target info: no MsvAvEOL');
}

/** The AV pair list, terminated by MsvAvEOL. */
export function encodeAvPairs(pairs: AvPair[]): Buffer {
  const parts: Buffer[] = [];
  for (const p of pairs) {
    const head = Buffer.alloc(4);
    head.writeUInt16LE(p.id, 0);
    head.writeUInt16LE(p.value.length, 2);
    parts.push(head, p.value);
  }
  parts.push(Buffer.alloc(4));
  return Buffer.concat(parts);
}

/**
 * The 16-byte MsvAvChannelBindings value for TLS (RFC 5929 `tls-server-end-point`): MD5 of a
 * gss_channel_bindings_struct with no addresses and the application data
 * `tls-server-end-point:` + the hash of the server certificate (SHA-256 unless its signature uses a stronger hash).
 */
export function channelBindingsHash(certificateHash: Uint8Array): Buffer {
  const appData = Buffer.concat([Buffer.from('tls-server-end-point:', 'latin1'), certificateHash]);
  const head = Buffer.alloc(20);
  head.writeUInt32LE(appData.length, 16);
  return md5(head, appData);
}

// ---------------------------------------------------------------------------------------------
// Messages (MS-NLMP 2.2.1)

function field(buf: Buffer, off: number, what: string): Buffer {
  const len = buf.readUInt16LE(off);
  const at = buf.readUInt32LE(off + 4);
  if (at + len > buf.length) throw new NtlmError('malformed', `NTLM message: ${what} runs past the end`);
  return buf.subarray(at, at + len);
}

function checkHeader(buf: Buffer, type: number, min: number): void {
  if (buf.length < min || !buf.subarray(0, 8).equals(SIGNATURE)) throw new NtlmError('malformed', 'not an NTLMSSP message');
  const got = buf.readUInt32LE(8);
  if (got !== type) throw new NtlmError('malformed', `expected NTLM message type ${type}, got ${got}`);
}

/** Lays out fixed fields then the payload: `fields` are written as (len, maxlen, offset) at `fieldAt`. */
function layout(head: Buffer, fieldAt: number, payloads: Buffer[]): Buffer {
  let off = head.length;
  payloads.forEach((p, i) => {
    head.writeUInt16LE(p.length, fieldAt + i * 8);
    head.writeUInt16LE(p.length, fieldAt + i * 8 + 2);
    head.writeUInt32LE(off, fieldAt + i * 8 + 4);
    off += p.length;
  });
  return Buffer.concat([head, ...payloads]);
}

export function negotiateMessage(flags = CLIENT_FLAGS, version: Buffer = DEFAULT_VERSION): Buffer {
  const head = Buffer.alloc(40);
  SIGNATURE.copy(head);
  head.writeUInt32LE(1, 8);
  head.writeUInt32LE(flags >>> 0, 12);
  // DomainNameFields and WorkstationFields stay empty (offsets point at the end of the fixed part).
  head.writeUInt32LE(40, 20);
  head.writeUInt32LE(40, 28);
  if (flags & F.VERSION) version.copy(head, 32);
  return head;
}

export interface NegotiateMessage {
  flags: number;
}

export function parseNegotiate(buf: Buffer): NegotiateMessage {
  checkHeader(buf, 1, 16);
  return { flags: buf.readUInt32LE(12) };
}

export interface ChallengeMessage {
  flags: number;
  serverChallenge: Buffer;
  targetName: string;
  /** The raw AV pair list, as it must be echoed into the NTLMv2 response. */
  targetInfo: Buffer;
  avPairs: AvPair[];
  version?: Buffer;
}

export function parseChallenge(buf: Buffer): ChallengeMessage {
  checkHeader(buf, 2, 48);
  const flags = buf.readUInt32LE(20);
  const name = field(buf, 12, 'TargetName');
  const targetInfo = Buffer.from(field(buf, 40, 'TargetInfo'));
  const payloadStart = Math.min(buf.readUInt32LE(16), buf.readUInt32LE(44) || Infinity);
  return {
    flags,
    serverChallenge: Buffer.from(buf.subarray(24, 32)),
    targetName: flags & F.UNICODE ? name.toString('utf16le') : name.toString('latin1'),
    targetInfo,
    avPairs: targetInfo.length ? decodeAvPairs(targetInfo) : [],
    version: flags & F.VERSION && payloadStart >= 56 ? Buffer.from(buf.subarray(48, 56)) : undefined,
  };
}

export interface ChallengeSpec {
  flags: number;
  serverChallenge: Buffer;
  targetName: string;
  avPairs: AvPair[];
  version?: Buffer;
}

/** The server side's CHALLENGE (for Magpie's WinRM test endpoint; MS-NLMP 4.2.4.3 is its vector). */
export function challengeMessage(spec: ChallengeSpec): Buffer {
  const head = Buffer.alloc(56);
  SIGNATURE.copy(head);
  head.writeUInt32LE(2, 8);
  head.writeUInt32LE(spec.flags >>> 0, 20);
  spec.serverChallenge.copy(head, 24);
  (spec.version ?? DEFAULT_VERSION).copy(head, 48);
  const name = utf16(spec.targetName);
  const info = encodeAvPairs(spec.avPairs);
  const out = layout(head, 12, [name]);
  // TargetInfoFields sit at 40, after the reserved 8 bytes: lay them out by hand.
  out.writeUInt16LE(info.length, 40);
  out.writeUInt16LE(info.length, 42);
  out.writeUInt32LE(out.length, 44);
  return Buffer.concat([out, info]);
}

export interface AuthenticateMessage {
  flags: number;
  lmChallengeResponse: Buffer;
  ntChallengeResponse: Buffer;
  domain: string;
  user: string;
  workstation: string;
  encryptedRandomSessionKey: Buffer;
  version?: Buffer;
  /** Present when the payload starts after offset 88 (VERSION + MIC). */
  mic?: Buffer;
}

export function parseAuthenticate(buf: Buffer): AuthenticateMessage {
  checkHeader(buf, 3, 64);
  const flags = buf.readUInt32LE(60);
  const text = (b: Buffer) => (flags & F.UNICODE ? b.toString('utf16le') : b.toString('latin1'));
  const offsets = [12, 20, 28, 36, 44, 52].map((o) => (buf.readUInt16LE(o) ? buf.readUInt32LE(o + 4) : Infinity));
  const payloadStart = Math.min(...offsets, buf.length);
  return {
    flags,
    lmChallengeResponse: Buffer.from(field(buf, 12, 'LmChallengeResponse')),
    ntChallengeResponse: Buffer.from(field(buf, 20, 'NtChallengeResponse')),
    domain: text(field(buf, 28, 'DomainName')),
    user: text(field(buf, 36, 'UserName')),
    workstation: text(field(buf, 44, 'Workstation')),
    encryptedRandomSessionKey: Buffer.from(field(buf, 52, 'EncryptedRandomSessionKey')),
    version: payloadStart >= 72 ? Buffer.from(buf.subarray(64, 72)) : undefined,
    mic: payloadStart >= 88 ? Buffer.from(buf.subarray(72, 88)) : undefined,
  };
}

export interface AuthenticateSpec {
  flags: number;
  domain: string;
  user: string;
  workstation: string;
  lmChallengeResponse: Buffer;
  ntChallengeResponse: Buffer;
  encryptedRandomSessionKey: Buffer;
  version?: Buffer;
  /** Reserve the 16-byte MIC field (zeroed; fill it with setMic once the message is complete). */
  withMic: boolean;
}

export function authenticateMessage(spec: AuthenticateSpec): Buffer {
  const head = Buffer.alloc(spec.withMic ? 88 : 72);
  SIGNATURE.copy(head);
  head.writeUInt32LE(3, 8);
  head.writeUInt32LE(spec.flags >>> 0, 60);
  (spec.version ?? DEFAULT_VERSION).copy(head, 64);
  // Field order in the header: LM, NT, Domain, User, Workstation, Key; payload order as Windows
  // writes it (and MS-NLMP 4.2.4.3 shows): Domain, User, Workstation, LM, NT, Key.
  const payload = [
    { at: 28, data: utf16(spec.domain) },
    { at: 36, data: utf16(spec.user) },
    { at: 44, data: utf16(spec.workstation) },
    { at: 12, data: spec.lmChallengeResponse },
    { at: 20, data: spec.ntChallengeResponse },
    { at: 52, data: spec.encryptedRandomSessionKey },
  ];
  let off = head.length;
  for (const p of payload) {
    head.writeUInt16LE(p.data.length, p.at);
    head.writeUInt16LE(p.data.length, p.at + 2);
    head.writeUInt32LE(off, p.at + 4);
    off += p.data.length;
  }
  return Buffer.concat([head, ...payload.map((p) => p.data)]);
}

/** MIC = HMAC-MD5(ExportedSessionKey, NEGOTIATE ‖ CHALLENGE ‖ AUTHENTICATE with a zero MIC). */
export function computeMic(exportedSessionKey: Uint8Array, negotiate: Buffer, challenge: Buffer, authenticate: Buffer): Buffer {
  const zeroed = Buffer.from(authenticate);
  zeroed.fill(0, 72, 88);
  return hmacMd5(exportedSessionKey, negotiate, challenge, zeroed);
}

// ---------------------------------------------------------------------------------------------
// Session security (MS-NLMP 3.4.3, 3.4.4.2 with extended session security)

/**
 * Signing and sealing for one side of an established NTLM context: one RC4 stream and one
 * sequence number per direction, in the order the messages travel.
 */
export class NtlmSecurity {
  private readonly sendSign: Buffer;
  private readonly recvSign: Buffer;
  private readonly sendSeal: Rc4;
  private readonly recvSeal: Rc4;
  private sendSeq = 0;
  private recvSeq = 0;

  constructor(
    readonly flags: number,
    exportedSessionKey: Uint8Array,
    readonly role: KeyUsage,
  ) {
    const peer: KeyUsage = role === 'client' ? 'server' : 'client';
    this.sendSign = signKey(exportedSessionKey, role);
    this.recvSign = signKey(exportedSessionKey, peer);
    this.sendSeal = new Rc4(sealKey(flags, exportedSessionKey, role));
    this.recvSeal = new Rc4(sealKey(flags, exportedSessionKey, peer));
  }

  private signature(key: Buffer, handle: Rc4, seq: number, message: Uint8Array): Buffer {
    const seqBuf = Buffer.alloc(4);
    seqBuf.writeUInt32LE(seq >>> 0);
    let checksum: Buffer = hmacMd5(key, seqBuf, message).subarray(0, 8);
    if (this.flags & F.KEY_EXCH) checksum = handle.update(checksum);
    return Buffer.concat([Buffer.from([1, 0, 0, 0]), checksum, seqBuf]);
  }

  /** GSS_WrapEx: the sealed message and its 16-byte signature. */
  wrap(message: Uint8Array): { sealed: Buffer; signature: Buffer } {
    const sealed = this.sendSeal.update(message);
    const signature = this.signature(this.sendSign, this.sendSeal, this.sendSeq++, message);
    return { sealed, signature };
  }

  /** GSS_UnwrapEx: the plain message; throws NtlmError('signature') when the signature does not verify. */
  unwrap(sealed: Uint8Array, signature: Uint8Array): Buffer {
    const message = this.recvSeal.update(sealed);
    const expected = this.signature(this.recvSign, this.recvSeal, this.recvSeq++, message);
    if (signature.length !== 16 || !timingSafeEqual(expected, signature)) {
      throw new NtlmError('signature', 'NTLM message signature does not verify (tampered, replayed or out of order)');
    }
    return message;
  }
}

// ---------------------------------------------------------------------------------------------
// The client (initiator)

export interface NtlmCredentials {
  /** `user`, `DOMAIN\user` or `user@domain`. */
  user: string;
  password: string;
  /** Overrides the domain found in `user`. */
  domain?: string;
  workstation?: string;
}

/** Splits `DOMAIN\user` and `user@domain.tld` (the domain part is kept as written). */
export function splitUser(user: string): { user: string; domain: string } {
  const bs = user.indexOf('\\');
  if (bs >= 0) return { domain: user.slice(0, bs), user: user.slice(bs + 1) };
  const at = user.lastIndexOf('@');
  if (at > 0) return { user: user.slice(0, at), domain: user.slice(at + 1) };
  return { user, domain: '' };
}

export interface NtlmClientOptions {
  /** MsvAvChannelBindings: channelBindingsHash() of the TLS server certificate, for NTLM over HTTPS. */
  channelBindings?: Buffer;
  /** MsvAvTargetName, e.g. `HTTP/host.example`. */
  targetName?: string;
  flags?: number;
  version?: Buffer;
  /** For reproducible tests only: the client challenge, time and random session key. */
  fixed?: { clientChallenge: Buffer; time?: Buffer; exportedSessionKey: Buffer };
}

/** Windows FILETIME (100 ns since 1601-01-01) of now, 8 bytes little-endian. */
export function fileTimeNow(): Buffer {
  const t = (BigInt(Date.now()) + 11644473600000n) * 10000n;
  const b = Buffer.alloc(8);
  b.writeBigUInt64LE(t);
  return b;
}

/**
 * One NTLM handshake from the client side: negotiate() → the server's CHALLENGE into
 * authenticate() → `security` for sealing the messages that follow.
 */
export class NtlmClient {
  private negotiateMsg?: Buffer;
  private sec?: NtlmSecurity;
  readonly flags: number;

  constructor(
    private readonly creds: NtlmCredentials,
    private readonly opts: NtlmClientOptions = {},
  ) {
    this.flags = (opts.flags ?? CLIENT_FLAGS) >>> 0;
  }

  negotiate(): Buffer {
    this.negotiateMsg = negotiateMessage(this.flags, this.opts.version);
    return this.negotiateMsg;
  }

  /** `channelBindings` (channelBindingsHash of the server certificate) overrides the option, for HTTPS once the certificate is known. */
  authenticate(challengeBuf: Buffer, channelBindings: Buffer | undefined = this.opts.channelBindings): Buffer {
    const challenge = parseChallenge(challengeBuf);
    const need = F.EXTENDED_SESSIONSECURITY | F.SIGN | F.SEAL | F.NTLM;
    if ((challenge.flags & need) !== need) {
      throw new NtlmError('unsupported', 'the server does not offer NTLMv2 with signing and sealing (extended session security)');
    }
    if (!challenge.targetInfo.length) throw new NtlmError('unsupported', 'the server sent no target info: NTLMv1 only, which Magpie refuses');
    const flags = (this.flags & (challenge.flags | F.REQUEST_TARGET)) >>> 0;

    const { user, domain: fromUser } = splitUser(this.creds.user);
    const domain = this.creds.domain ?? fromUser;
    const workstation = this.creds.workstation ?? '';
    const fixed = this.opts.fixed;
    const clientChallenge = fixed?.clientChallenge ?? randomBytes(8);

    // With MsvAvTimestamp the client must use the server's time, send a MIC and an empty LMv2.
    const serverTime = challenge.avPairs.find((p) => p.id === AvId.TIMESTAMP)?.value;
    const withMic = serverTime !== undefined;
    let targetInfo = challenge.targetInfo;
    if (withMic || channelBindings || this.opts.targetName) {
      const pairs = challenge.avPairs.filter((p) => p.id !== AvId.FLAGS && p.id !== AvId.CHANNEL_BINDINGS && p.id !== AvId.TARGET_NAME);
      const oldFlags = challenge.avPairs.find((p) => p.id === AvId.FLAGS)?.value.readUInt32LE(0) ?? 0;
      if (withMic) {
        const v = Buffer.alloc(4);
        v.writeUInt32LE((oldFlags | AV_FLAG_MIC) >>> 0);
        pairs.push({ id: AvId.FLAGS, value: v });
      }
      pairs.push({ id: AvId.CHANNEL_BINDINGS, value: channelBindings ?? Buffer.alloc(16) });
      if (this.opts.targetName) pairs.push({ id: AvId.TARGET_NAME, value: utf16(this.opts.targetName) });
      targetInfo = encodeAvPairs(pairs);
    }
    const time = fixed?.time ?? serverTime ?? fileTimeNow();

    const responseKey = ntowfv2(user, ntowfv1(this.creds.password), domain);
    const resp = computeResponseV2(responseKey, challenge.serverChallenge, clientChallenge, time, targetInfo);
    const keyExchangeKey = resp.sessionBaseKey;
    let exportedSessionKey: Buffer = keyExchangeKey;
    let encryptedRandomSessionKey: Buffer = Buffer.alloc(0);
    if (flags & F.KEY_EXCH) {
      exportedSessionKey = fixed?.exportedSessionKey ?? randomBytes(16);
      encryptedRandomSessionKey = rc4(keyExchangeKey, exportedSessionKey);
    }

    const msg = authenticateMessage({
      flags,
      domain,
      user,
      workstation,
      lmChallengeResponse: withMic ? Buffer.alloc(24) : resp.lmChallengeResponse,
      ntChallengeResponse: resp.ntChallengeResponse,
      encryptedRandomSessionKey,
      version: this.opts.version,
      withMic,
    });
    if (withMic) computeMic(exportedSessionKey, this.negotiateMsg ?? negotiateMessage(this.flags, this.opts.version), challengeBuf, msg).copy(msg, 72);
    this.sec = new NtlmSecurity(flags, exportedSessionKey, 'client');
    return msg;
  }

  /** Sealing for the messages after the handshake; throws before authenticate(). */
  get security(): NtlmSecurity {
    if (!this.sec) throw new Error('NTLM handshake not complete');
    return this.sec;
  }
}

// ---------------------------------------------------------------------------------------------
// The server (acceptor), for Magpie's own WinRM test endpoint

export interface AcceptResult {
  user: string;
  domain: string;
  security: NtlmSecurity;
  /** The client's MsvAvChannelBindings (all zero or absent when it sent none), for Extended Protection checks. */
  channelBindings?: Buffer;
}

/**
 * Checks an AUTHENTICATE against the password the acceptor knows: the NTProofStr, then the MIC
 * when the message has one. Returns undefined on a wrong password (as a server answers 401).
 */
export function acceptAuthenticate(
  negotiate: Buffer,
  challenge: Buffer,
  authenticate: Buffer,
  passwordFor: (user: string, domain: string) => string | undefined,
): AcceptResult | undefined {
  const ch = parseChallenge(challenge);
  const auth = parseAuthenticate(authenticate);
  const password = passwordFor(auth.user, auth.domain);
  if (password === undefined || auth.ntChallengeResponse.length < 48) return undefined;
  const responseKey = ntowfv2(auth.user, ntowfv1(password), auth.domain);
  const ntProofStr = auth.ntChallengeResponse.subarray(0, 16);
  const expected = hmacMd5(responseKey, ch.serverChallenge, auth.ntChallengeResponse.subarray(16));
  if (!timingSafeEqual(expected, ntProofStr)) return undefined;
  const keyExchangeKey = hmacMd5(responseKey, ntProofStr);
  const exportedSessionKey = auth.flags & F.KEY_EXCH && auth.encryptedRandomSessionKey.length === 16 ? rc4(keyExchangeKey, auth.encryptedRandomSessionKey) : keyExchangeKey;
  if (auth.mic && !auth.mic.equals(Buffer.alloc(16))) {
    if (!timingSafeEqual(computeMic(exportedSessionKey, negotiate, challenge, authenticate), auth.mic)) return undefined;
  }
  let channelBindings: Buffer | undefined;
  try {
    channelBindings = decodeAvPairs(auth.ntChallengeResponse.subarray(44)).find((p) => p.id === AvId.CHANNEL_BINDINGS)?.value;
  } catch {
    channelBindings = undefined;
  }
  return { user: auth.user, domain: auth.domain, security: new NtlmSecurity(auth.flags, exportedSessionKey, 'server'), channelBindings };
}
