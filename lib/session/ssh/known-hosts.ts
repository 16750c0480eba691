// known_hosts as OpenSSH reads it: plain and hashed (`|1|salt|hash`) names, `[host]:port`,
// wildcards and negation, @revoked. A host is trusted only by a key recorded for it.
import { createHash, createHmac } from 'node:crypto';
import { appendFileSync, mkdirSync, readFileSync } from 'node:fs';
import { homedir } from 'node:os';
import { dirname, join } from 'node:path';
import type { ServerHostKeyAlgorithm } from 'ssh2';

export function defaultKnownHostsFile(): string {
  return join(homedir(), '.ssh', 'known_hosts');
}

/** `SHA256:<base64 without padding>`: what `ssh-keygen -l` prints, so a responder can compare by eye. */
export function fingerprint(blob: Buffer): string {
  return 'SHA256:' + createHash('sha256').update(blob).digest('base64').replace(/=+$/, '');
}

/** The key type an SSH public-key blob names in its first field (e.g. ssh-ed25519). */
export function keyTypeOf(blob: Buffer): string {
  if (blob.length < 4) return 'unknown';
  const len = blob.readUInt32BE(0);
  return len > 0 && len < 64 && 4 + len <= blob.length ? blob.subarray(4, 4 + len).toString('latin1') : 'unknown';
}

/** The name OpenSSH looks up and writes: the bare host for port 22, `[host]:port` otherwise. */
export function hostEntryName(host: string, port: number): string {
  const h = host.toLowerCase();
  return port === 22 ? h : `[${h}]:${port}`;
}

export interface KnownKey {
  type: string;
  blob: Buffer;
  revoked: boolean;
  line: number;
}

function wildcard(pattern: string, name: string): boolean {
  const re = pattern.replace(/[.+^${}()|[\]\\]/g, '\\$&').replace(/\*/g, '.*').replace(/\?/g, '.');
  return new RegExp(`^${re}$`, 'i').test(name);
}

function hashedMatches(entry: string, name: string): boolean {
  const [, , salt, hash] = entry.split('|');
  if (!salt || !hash) return false;
  return createHmac('sha1', Buffer.from(salt, 'base64')).update(name).digest('base64') === hash;
}

/** OpenSSH's rule: a negated pattern that matches wins over every positive one. */
function namesMatch(list: string, name: string): boolean {
  let matched = false;
  for (const raw of list.split(',')) {
    if (raw.startsWith('|1|')) {
      if (hashedMatches(raw, name)) matched = true;
      continue;
    }
    const negated = raw.startsWith('!');
    if (wildcard(negated ? raw.slice(1) : raw, name)) {
      if (negated) return false;
      matched = true;
    }
  }
  return matched;
}

/** The keys `file` holds for host:port; a missing file holds none. */
export function knownKeysFor(file: string, host: string, port: number): KnownKey[] {
  let text: string;
  try {
    text = readFileSync(file, 'utf8');
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === 'ENOENT') return [];
    throw e;
  }
  const name = hostEntryName(host, port);
  const keys: KnownKey[] = [];
  text.split('\n').forEach((rawLine, i) => {
    const fields = rawLine.trim().split(/\s+/);
    if (!fields[0] || fields[0].startsWith('#')) return;
    let revoked = false;
    if (fields[0].startsWith('@')) {
      // Certificate authorities would need certificate checking, which Magpie does not do: such a
      // line trusts nothing here, and the host is then unknown rather than wrongly trusted.
      if (fields[0] !== '@revoked') return;
      revoked = true;
      fields.shift();
    }
    const [names, type, b64] = fields;
    if (!names || !type || !b64 || !namesMatch(names, name)) return;
    const blob = Buffer.from(b64, 'base64');
    if (keyTypeOf(blob) !== type) return; // damaged line: it cannot vouch for anything
    keys.push({ type, blob, revoked, line: i + 1 });
  });
  return keys;
}

export type HostKeyVerdict = { ok: true } | { ok: false; problem: 'unknown' | 'changed' | 'revoked'; detail: string };

export function checkHostKey(known: KnownKey[], blob: Buffer, file: string): HostKeyVerdict {
  const type = keyTypeOf(blob);
  const revoked = known.find((k) => k.revoked && k.blob.equals(blob));
  if (revoked) return { ok: false, problem: 'revoked', detail: `the key is marked @revoked in ${file}:${revoked.line}` };
  const trusted = known.filter((k) => !k.revoked);
  if (trusted.some((k) => k.blob.equals(blob))) return { ok: true };
  const sameType = trusted.find((k) => k.type === type);
  if (sameType) return { ok: false, problem: 'changed', detail: `${file}:${sameType.line} holds a different ${type} key for it` };
  // The known key types were offered first (hostKeyAlgorithms), so the server no longer has them,
  // or someone in between offers only another type: a changed key either way, never "new".
  if (trusted.length) return { ok: false, problem: 'changed', detail: `${file}:${trusted[0].line} knows it by a ${trusted[0].type} key, but it presented ${type}` };
  return { ok: false, problem: 'unknown', detail: `${file} has no key for it` };
}

/** Appends a plain entry, as `ssh -o StrictHostKeyChecking=accept-new` would; one write, so parallel sessions do not interleave. */
export function recordHostKey(file: string, host: string, port: number, blob: Buffer): void {
  mkdirSync(dirname(file), { recursive: true, mode: 0o700 });
  appendFileSync(file, `${hostEntryName(host, port)} ${keyTypeOf(blob)} ${blob.toString('base64')}\n`, { mode: 0o600 });
}

const RSA_ALGOS: ServerHostKeyAlgorithm[] = ['rsa-sha2-512', 'rsa-sha2-256'];
// OpenSSH's own client order, without ssh-rsa (SHA-1 signatures; OpenSSH dropped it in 8.8).
const DEFAULT_ALGOS: ServerHostKeyAlgorithm[] = ['ssh-ed25519', 'ecdsa-sha2-nistp256', 'ecdsa-sha2-nistp384', 'ecdsa-sha2-nistp521', ...RSA_ALGOS];

/**
 * Host-key algorithms with the types already known for this host first, as OpenSSH orders them:
 * a server with several host keys then shows the one we can check, not merely its favourite.
 */
export function hostKeyAlgorithms(known: KnownKey[]): ServerHostKeyAlgorithm[] {
  const first: ServerHostKeyAlgorithm[] = [];
  for (const k of known) {
    if (k.revoked) continue;
    const algos = k.type === 'ssh-rsa' ? RSA_ALGOS : DEFAULT_ALGOS.filter((a) => a === k.type);
    for (const a of algos) if (!first.includes(a)) first.push(a);
  }
  return [...first, ...DEFAULT_ALGOS.filter((a) => !first.includes(a))];
}
