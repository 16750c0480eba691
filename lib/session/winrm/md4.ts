// MD4 (RFC 1320) for NTOWFv1, from hash-wasm: OpenSSL 3 no longer offers MD4 by default
// (node:crypto's createHash('md4') throws "unsupported" there). hash-wasm only builds its hashers
// asynchronously (compiling the WASM), so this module makes one at load and reuses it: each call
// runs init → update → digest synchronously, which nothing can interleave.
import { createMD4 } from 'hash-wasm';

const hasher = await createMD4();

export function md4(input: Uint8Array): Buffer {
  return Buffer.from(hasher.init().update(input).digest('binary'));
}
