// What NTLM over HTTPS needs from the server certificate: the RFC 5929 `tls-server-end-point`
// hash for channel binding (hash of the DER certificate with the hash of its signature algorithm,
// SHA-256 for MD5/SHA-1 and unknown ones), and the SHA-256 fingerprint a responder can pin.
import { createHash } from 'node:crypto';
import { WinrmMessageError } from './errors.ts';

/** Reads one DER TLV at `off`: [tag, start of value, end of value]. */
function tlv(der: Buffer, off: number): [number, number, number] {
  if (off + 2 > der.length) throw new WinrmMessageError('certificate: truncated DER');
  const tag = der[off];
  let len = der[off + 1];
  let start = off + 2;
  if (len & 0x80) {
    const n = len & 0x7f;
    if (n < 1 || n > 4 || start + n > der.length) throw new WinrmMessageError('certificate: bad DER length');
    len = 0;
    for (let i = 0; i < n; i++) len = len * 256 + der[start + i];
    start += n;
  }
  if (start + len > der.length) throw new WinrmMessageError('certificate: DER runs past the end');
  return [tag, start, start + len];
}

function oidString(b: Buffer): string {
  const parts = [Math.floor(b[0] / 40), b[0] % 40];
  let v = 0;
  for (let i = 1; i < b.length; i++) {
    v = v * 128 + (b[i] & 0x7f);
    if (!(b[i] & 0x80)) {
      parts.push(v);
      v = 0;
    }
  }
  return parts.join('.');
}

/** The certificate's signatureAlgorithm OID (Certificate ::= SEQUENCE { tbs, signatureAlgorithm, signature }). */
export function signatureAlgorithmOid(der: Buffer): string {
  const [tag, start] = tlv(der, 0);
  if (tag !== 0x30) throw new WinrmMessageError('certificate: not a DER SEQUENCE');
  const [, , tbsEnd] = tlv(der, start);
  const [algTag, algStart] = tlv(der, tbsEnd);
  if (algTag !== 0x30) throw new WinrmMessageError('certificate: no signatureAlgorithm');
  const [oidTag, oidStart, oidEnd] = tlv(der, algStart);
  if (oidTag !== 0x06) throw new WinrmMessageError('certificate: signatureAlgorithm without an OID');
  return oidString(der.subarray(oidStart, oidEnd));
}

const STRONGER: Record<string, string> = {
  '1.2.840.113549.1.1.12': 'sha384', // sha384WithRSAEncryption
  '1.2.840.113549.1.1.13': 'sha512', // sha512WithRSAEncryption
  '1.2.840.10045.4.3.3': 'sha384', // ecdsa-with-SHA384
  '1.2.840.10045.4.3.4': 'sha512', // ecdsa-with-SHA512
};

/** RFC 5929 tls-server-end-point: the certificate hashed with its signature's hash (at least SHA-256). */
export function tlsServerEndPoint(der: Buffer): Buffer {
  return createHash(STRONGER[signatureAlgorithmOid(der)] ?? 'sha256').update(der).digest();
}

/** `AA:BB:…` SHA-256 of the DER certificate, the form --winrm-cert-sha256 takes (colons and case optional). */
export function certificateSha256(der: Buffer): string {
  return createHash('sha256').update(der).digest('hex').toUpperCase().match(/../g)!.join(':');
}

/** Normalises a pin as the user may write it (with or without colons, any case). */
export function normalizePin(pin: string): string {
  const hex = pin.replace(/[:\s]/g, '').toUpperCase();
  if (!/^[0-9A-F]{64}$/.test(hex)) throw new RangeError('a certificate pin is 64 hex digits (SHA-256), colons optional');
  return hex.match(/../g)!.join(':');
}
