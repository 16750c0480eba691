// Decoding what Windows tools write: UTF-16LE (autorunsc, PowerShell 5.1's Out-File) or UTF-8,
// with or without a byte-order mark; and the time formats they use.
import { parseDate } from './dates.ts';

export function decodeText(buf: Buffer): string {
  if (buf[0] === 0xff && buf[1] === 0xfe) return new TextDecoder('utf-16le').decode(buf.subarray(2));
  if (buf[0] === 0xfe && buf[1] === 0xff) return new TextDecoder('utf-16be').decode(buf.subarray(2));
  if (buf[0] === 0xef && buf[1] === 0xbb && buf[2] === 0xbf) return new TextDecoder('utf-8').decode(buf.subarray(3));
  // No BOM: UTF-16LE text has a zero in every other byte for ASCII characters.
  const sample = buf.subarray(0, 512);
  let zeros = 0;
  for (let i = 1; i < sample.length; i += 2) if (sample[i] === 0) zeros++;
  if (sample.length > 3 && zeros > sample.length / 4) return new TextDecoder('utf-16le').decode(buf);
  return new TextDecoder('utf-8').decode(buf);
}

/** One value in any documented time shape → ISO UTC (MM/dd for ambiguous a/b/yyyy); use DateReader in importers, so that unreadable dates are counted. */
export function toIso(v: unknown): string | null {
  if (v === null || v === undefined || v === '') return null;
  return parseDate(v, 'mdy');
}

export function nonEmpty(v: unknown): string | null {
  if (v === null || v === undefined) return null;
  const s = String(v).trim();
  return s === '' || s.toUpperCase() === 'N/A' ? null : s;
}

export function toInt(v: unknown): number | null {
  const s = nonEmpty(v);
  if (s === null) return null;
  const n = Number(s.replace(/[,.\s]/g, ''));
  return Number.isInteger(n) ? n : null;
}

export function hashOrNull(v: unknown, len: number): string | null {
  const s = nonEmpty(v);
  return s && new RegExp(`^[A-Fa-f0-9]{${len}}$`).test(s) ? s.toLowerCase() : null;
}

/**
 * JSON as the tools write it: one document (an array is its items, an object is one item), or one
 * object a line (JSONL: Velociraptor, evtx_dump -o jsonl), or evtx_dump's "Record N" lines each
 * followed by one pretty-printed object. Throws the first parse error when it is none of these.
 */
export function jsonItems(text: string): unknown[] {
  let first: Error;
  try {
    const doc = JSON.parse(text);
    return Array.isArray(doc) ? doc : [doc];
  } catch (e) {
    first = e as Error;
  }
  const lines = text.split(/\r?\n/).filter((l) => l.trim());
  if (lines.length > 1 && lines.every((l) => /^\s*[{[]/.test(l))) {
    try {
      return lines.map((l) => JSON.parse(l));
    } catch {
      /* not JSONL either */
    }
  }
  if (/^\s*Record \d+\s*$/m.test(text)) {
    const parts = text.split(/^\s*Record \d+\s*$/m).filter((p) => p.trim());
    try {
      return parts.map((p) => JSON.parse(p));
    } catch {
      /* fall through */
    }
  }
  throw first;
}
