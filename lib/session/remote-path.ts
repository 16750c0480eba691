// Paths on the target in two spellings: native (what PowerShell is given) and SFTP's
// (Windows OpenSSH wants /C:/… with forward slashes).
import type { OsName } from '../definitions.ts';

export function remoteJoin(os: OsName, base: string, ...parts: string[]): string {
  const sep = os === 'windows' ? '\\' : '/';
  return [base.replace(/[\\/]+$/, ''), ...parts].join(sep);
}

export function sftpPath(os: OsName, native: string): string {
  if (os !== 'windows') return native;
  const p = native.replace(/\\/g, '/');
  return p.startsWith('/') ? p : '/' + p;
}

/** SFTP's realpath of a Windows home looks like /C:/Users/x: the one OS hint that needs no shell. */
export function looksWindows(sftpRealpath: string): boolean {
  return /^\/?[A-Za-z]:/.test(sftpRealpath);
}
