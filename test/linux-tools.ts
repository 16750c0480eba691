// Debian packages the Linux step tests run for real: ClamAV (clamscan, clamd, clamdscan) and gdb's
// gcore, installed when missing; a test fails with the command to run when that is not possible.
import { spawnSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { mkdirSync, existsSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';

const PACKAGES = ['clamav', 'clamav-daemon', 'gdb'];
const NEEDED = ['/usr/bin/clamscan', '/usr/bin/clamdscan', '/usr/sbin/clamd', '/usr/bin/gcore'];

export function ensureLinuxTools(): void {
  ensureDebianPackages(PACKAGES, NEEDED, "ClamAV (clamscan, clamd, clamdscan) and gdb's gcore");
}

/** Installs Debian `packages` with apt-get where a file of `needed` is missing; throws saying what to run when that fails. */
export function ensureDebianPackages(packages: string[], needed: string[], what: string): void {
  if (needed.every((f) => existsSync(f))) return;
  const env = { ...process.env, DEBIAN_FRONTEND: 'noninteractive' };
  const install = () => spawnSync('apt-get', ['install', '-y', ...packages], { encoding: 'utf8', env });
  let r = install();
  if (r.status !== 0) {
    spawnSync('apt-get', ['update'], { encoding: 'utf8', env });
    r = install();
  }
  const missing = needed.filter((f) => !existsSync(f));
  if (r.status !== 0 || missing.length) {
    throw new Error(
      `These tests need ${what}; installing them failed (${(r.stderr || r.error?.message || `still missing: ${missing.join(', ')}`).trim().split('\n').at(-1)}). Install them with: apt-get update && apt-get install -y ${packages.join(' ')}`,
    );
  }
}

/** The EICAR anti-virus test file: harmless by design. */
export const EICAR = 'X5O!P%@AP[4\\PZX54(P^)7CC)7}$EICAR-STANDARD-ANTIVIRUS-TEST-FILE!$H+H*';

/** A ClamAV database folder holding one hash signature, for EICAR (freshclam cannot reach the internet here). */
export function eicarDatabase(dir: string): string {
  mkdirSync(dir, { recursive: true });
  writeFileSync(join(dir, 'magpie.hdb'), `${createHash('md5').update(EICAR).digest('hex')}:${Buffer.byteLength(EICAR)}:Magpie.Test.EICAR\n`);
  return dir;
}
