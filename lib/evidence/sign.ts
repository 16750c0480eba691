// Signing the custody head: a responder's SSH key (ed25519, ecdsa or rsa; OpenSSH or PEM files)
// signs the head of the sealed chain, and the signature is appended to the chain itself, so no
// file is added beside the evidence. `verify --key PUB` checks it with the public key alone.
import { createHash } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import ssh2 from 'ssh2';
import { InputError } from '../errors.ts';
import { appendToCustody, readCustody } from './custody.ts';

const { utils } = ssh2;
/** What is signed: a fixed context, so a signature over a head cannot be replayed as anything else. */
const message = (head: string) => Buffer.from(`magpie-custody-head-v1:${head}`);

type ParsedKey = ReturnType<typeof utils.parseKey> & { type: string; sign?: (d: Buffer) => Buffer; verify(d: Buffer, s: Buffer): boolean; getPublicSSH(): Buffer };

function loadKey(file: string, passphrase?: string): ParsedKey {
  let text: Buffer;
  try {
    text = readFileSync(file);
  } catch (e) {
    throw new InputError(`cannot read the key: ${(e as Error).message}`, { file });
  }
  const k = utils.parseKey(text, passphrase) as unknown;
  if (k instanceof Error) throw new InputError(`not a key Magpie can use (${k.message}); use an OpenSSH or PEM ed25519, ecdsa or rsa key`, { file });
  return (Array.isArray(k) ? k[0] : k) as ParsedKey;
}

/** `SHA256:<base64>` of a public key, as ssh-keygen -l prints it. */
function fingerprintOf(key: ParsedKey): string {
  return `SHA256:${createHash('sha256').update(key.getPublicSSH()).digest('base64').replace(/=+$/, '')}`;
}

/** Signs the seal head of a sealed folder and appends the signature to its custody log. */
export async function signHead(dir: string, keyFile: string, actor: string): Promise<{ head: string; fingerprint: string }> {
  const custody = join(dir, 'custody.jsonl');
  const chain = readCustody(custody);
  if (chain.problems.length) throw new InputError(`the custody chain is broken, so it is not signed: ${chain.problems[0]}`, { file: custody });
  if (!chain.sealHead) throw new InputError('the folder is not sealed yet: nothing to sign', { file: dir });
  const key = loadKey(keyFile);
  if (typeof key.sign !== 'function' || !/PRIVATE/i.test(readFileSync(keyFile, 'utf8'))) throw new InputError('a private key is needed to sign', { file: keyFile });
  const signature = key.sign(message(chain.sealHead));
  const fingerprint = fingerprintOf(key);
  await appendToCustody(custody, actor, 'head-signed', { head: chain.sealHead, keyType: key.type, keyFingerprint: fingerprint, publicKey: key.getPublicSSH().toString('base64'), signature: signature.toString('base64') });
  return { head: chain.sealHead, fingerprint };
}

export interface SignatureCheck {
  /** Signatures by the given key over the seal head that verify. */
  valid: number;
  problems: string[];
  fingerprint: string;
}

/** Checks the log's head-signed entries against a public key the responder trusts. */
export function checkSignatures(dir: string, publicKeyFile: string): SignatureCheck {
  const key = loadKey(publicKeyFile);
  const fingerprint = fingerprintOf(key);
  const chain = readCustody(join(dir, 'custody.jsonl'));
  const problems: string[] = [];
  let valid = 0;
  for (const e of chain.entries.filter((x) => x.action === 'head-signed')) {
    if (e.keyFingerprint !== fingerprint) continue; // someone else's signature: not this key's to judge
    if (e.head !== chain.sealHead) problems.push(`custody.jsonl:${e.seq}: signed head ${String(e.head).slice(0, 16)}… is not the seal head ${String(chain.sealHead).slice(0, 16)}…`);
    else if (!key.verify(message(String(e.head)), Buffer.from(String(e.signature), 'base64'))) problems.push(`custody.jsonl:${e.seq}: the signature does not verify with ${fingerprint}`);
    else valid++;
  }
  if (!valid && !problems.length) problems.push(`no signature by ${fingerprint} in the custody log`);
  return { valid, problems, fingerprint };
}
