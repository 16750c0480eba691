// RC4, the stream cipher NTLM sealing uses. OpenSSL 3 moved it to the legacy provider, so
// node:crypto's createCipheriv('rc4') throws "unsupported" on current Node builds. NTLM keeps one
// RC4 state per direction for the whole session, so this is a stateful handle, not a one-shot.
// Hand-written because no maintained npm package fits: @noble/ciphers and node-forge have no RC4;
// crypto-es/crypto-js/jscrypto run RC4 in 32-bit words, so a stream split at a length that is not a
// multiple of 4 loses key-stream bytes; arc4 is GPL-3.0 and pins lodash 4.17.4; rc4 and rc4.js
// are unmaintained since 2015 (rc4.js even shares one key between all instances).

export class Rc4 {
  private readonly s = new Uint8Array(256);
  private i = 0;
  private j = 0;

  constructor(key: Uint8Array) {
    if (key.length === 0 || key.length > 256) throw new RangeError('RC4 key must be 1..256 bytes');
    const s = this.s;
    for (let k = 0; k < 256; k++) s[k] = k;
    let j = 0;
    for (let k = 0; k < 256; k++) {
      j = (j + s[k] + key[k % key.length]) & 0xff;
      const t = s[k];
      s[k] = s[j];
      s[j] = t;
    }
  }

  /** Encrypts or decrypts (the same operation), continuing the key stream. */
  update(data: Uint8Array): Buffer {
    const out = Buffer.allocUnsafe(data.length); // every byte is written below
    const s = this.s;
    let { i, j } = this;
    for (let n = 0; n < data.length; n++) {
      i = (i + 1) & 0xff;
      j = (j + s[i]) & 0xff;
      const t = s[i];
      s[i] = s[j];
      s[j] = t;
      out[n] = data[n] ^ s[(s[i] + s[j]) & 0xff];
    }
    this.i = i;
    this.j = j;
    return out;
  }
}

/** RC4K(key, data) of MS-NLMP: a fresh key stream for one message. */
export function rc4(key: Uint8Array, data: Uint8Array): Buffer {
  return new Rc4(key).update(data);
}
