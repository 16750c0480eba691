// WinRM message encryption over HTTP (MS-WSMV 2.2.9.1.1, as pywinrm/Ansible and Go's winrm send it):
// each SOAP body is sealed with the NTLM (or Kerberos) session and travels as
//   multipart/encrypted;protocol="application/HTTP-SPNEGO-session-encrypted";boundary="Encrypted Boundary"
// with one part describing the original content and its length, and one octet-stream part holding
// a 4-byte little-endian signature length, the signature, and the sealed bytes.
import { WinrmMessageError } from './errors.ts';

export const SPNEGO_ENCRYPTED = 'application/HTTP-SPNEGO-session-encrypted';
export const BOUNDARY = 'Encrypted Boundary';
const BOUNDARY_LINE = Buffer.from(`--${BOUNDARY}\r\n`, 'latin1');
const BOUNDARY_END = Buffer.from(`--${BOUNDARY}--\r\n`, 'latin1');
const OCTET_HEADER = Buffer.from('\tContent-Type: application/octet-stream\r\n', 'latin1');

/** Seals and unseals one message: NtlmSecurity fits. */
export interface MessageSealer {
  wrap(message: Uint8Array): { sealed: Buffer; signature: Buffer };
  unwrap(sealed: Uint8Array, signature: Uint8Array): Buffer;
}

/** The Content-Type header of an encrypted request or response. */
export function encryptedContentType(protocol = SPNEGO_ENCRYPTED): string {
  return `multipart/encrypted;protocol="${protocol}";boundary="${BOUNDARY}"`;
}

/** True when a response's Content-Type says its body is encrypted with `protocol`. */
export function isEncrypted(contentType: string | undefined, protocol = SPNEGO_ENCRYPTED): boolean {
  return !!contentType && /^multipart\/(x-multi-)?encrypted/i.test(contentType.trim()) && contentType.includes(`protocol="${protocol}"`);
}

/** The multipart body for `message` (the SOAP envelope, UTF-8), sealed by `sealer`. */
export function encryptMessage(message: Uint8Array, sealer: MessageSealer, protocol = SPNEGO_ENCRYPTED, originalType = 'application/soap+xml;charset=UTF-8'): Buffer {
  const { sealed, signature } = sealer.wrap(message);
  const sigLen = Buffer.alloc(4);
  sigLen.writeUInt32LE(signature.length);
  return Buffer.concat([
    BOUNDARY_LINE,
    Buffer.from(`\tContent-Type: ${protocol}\r\n\tOriginalContent: type=${originalType};Length=${message.length}\r\n`, 'latin1'),
    BOUNDARY_LINE,
    OCTET_HEADER,
    sigLen,
    signature,
    sealed,
    BOUNDARY_END,
  ]);
}

function startsWithAt(buf: Buffer, at: number, what: Buffer): boolean {
  return at + what.length <= buf.length && buf.subarray(at, at + what.length).equals(what);
}

/**
 * The plain message of an encrypted body: every part unsealed in order (a long message may come
 * in several parts) and checked against the length its header announces.
 */
export function decryptMessage(body: Buffer, sealer: MessageSealer, protocol = SPNEGO_ENCRYPTED): Buffer {
  const out: Buffer[] = [];
  let at = 0;
  const bad = (why: string) => new WinrmMessageError(`encrypted WinRM message: ${why}`);
  while (true) {
    if (startsWithAt(body, at, BOUNDARY_END)) break;
    // Some servers close with a plain boundary line instead of the `--` one.
    if (out.length && at + BOUNDARY_LINE.length === body.length && startsWithAt(body, at, BOUNDARY_LINE)) break;
    if (!startsWithAt(body, at, BOUNDARY_LINE)) throw bad(`expected "--${BOUNDARY}" at byte ${at}`);
    at += BOUNDARY_LINE.length;
    const headerEnd = body.indexOf(BOUNDARY_LINE, at);
    if (headerEnd < 0) throw bad('no octet-stream part');
    const header = body.subarray(at, headerEnd).toString('latin1');
    if (!header.includes(protocol)) throw bad(`part is not ${protocol}`);
    const length = /Length=(\d+)/.exec(header);
    if (!length) throw bad('no OriginalContent Length');
    const expected = Number(length[1]);
    at = headerEnd + BOUNDARY_LINE.length;
    if (!startsWithAt(body, at, OCTET_HEADER)) throw bad('no application/octet-stream header');
    at += OCTET_HEADER.length;
    if (at + 4 > body.length) throw bad('truncated');
    const sigLen = body.readUInt32LE(at);
    const sigStart = at + 4;
    const dataStart = sigStart + sigLen;
    if (dataStart > body.length) throw bad('signature runs past the end');
    // A stream cipher keeps the length, so the next boundary is expected right after `expected`
    // bytes; otherwise the sealed data ends at the next boundary (as other implementations read it).
    let dataEnd = dataStart + expected;
    if (!(startsWithAt(body, dataEnd, BOUNDARY_LINE) || startsWithAt(body, dataEnd, BOUNDARY_END))) {
      const next = body.indexOf(`--${BOUNDARY}`, dataStart, 'latin1');
      if (next < 0) throw bad('no closing boundary');
      dataEnd = next;
    }
    const plain = sealer.unwrap(body.subarray(dataStart, dataEnd), body.subarray(sigStart, dataStart));
    if (plain.length !== expected) throw bad(`length ${plain.length} is not the announced ${expected}: the message was tampered with`);
    out.push(plain);
    at = dataEnd;
    if (at >= body.length) break;
  }
  if (!out.length) throw bad('no encrypted part');
  return Buffer.concat(out);
}
