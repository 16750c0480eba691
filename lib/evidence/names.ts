// Names that come from a host become file names only through here.
import { createHash } from 'node:crypto';

const RESERVED = /^(con|prn|aux|nul|com[0-9¹²³]|lpt[0-9¹²³])(\..*)?$/i;
const MAX = 80;

/**
 * A single path segment that is safe on Linux, macOS and Windows, and that sha256sum prints
 * without escapes: [A-Za-z0-9._-] only, no leading dot, no reserved device name. When anything
 * had to change, a short hash of the original keeps two different originals apart.
 */
export function safeSegment(original: string): string {
  let s = original.normalize('NFC').replace(/[^A-Za-z0-9._-]+/g, '_');
  s = s.replace(/^[.\s]+/, '_').replace(/[.\s]+$/, '');
  if (RESERVED.test(s)) s = `_${s}`;
  if (s.length > MAX) s = s.slice(0, MAX);
  if (s === '' || s === '_') s = '_';
  if (s !== original) s = `${s}~${createHash('sha256').update(original).digest('hex').slice(0, 8)}`;
  return s;
}

/** A relative path from a host (either separator), each segment made safe; `..` can never survive. */
export function safeRelativePath(original: string): string {
  const parts = original.split(/[\\/]+/).filter((p) => p !== '' && p !== '.');
  if (parts.length === 0) return safeSegment(original);
  return parts.map(safeSegment).join('/');
}

/** The UTC timestamp folder name: YYYYMMDDTHHMMSSZ. */
export function timestampName(d: Date): string {
  return d.toISOString().replace(/[-:]/g, '').replace(/\.\d{3}Z$/, 'Z');
}
