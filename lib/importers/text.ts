// Decoding what Windows tools write: UTF-16LE (autorunsc, PowerShell 5.1's Out-File) or UTF-8,
// with or without a byte-order mark; and the time formats they use.

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

/** "/Date(1764140000000)/" (ConvertTo-Json on 5.1), ISO 8601, autorunsc's 20251126-091503, or en-US "11/26/2025 9:15:03 AM". */
export function toIso(v: unknown): string | null {
  if (v === null || v === undefined || v === '') return null;
  const s = String(v).trim();
  let m = /^\/Date\((-?\d+)(?:[+-]\d{4})?\)\/$/.exec(s);
  if (m) return new Date(Number(m[1])).toISOString();
  m = /^(\d{4})(\d{2})(\d{2})-(\d{2})(\d{2})(\d{2})$/.exec(s);
  if (m) return new Date(Date.UTC(+m[1], +m[2] - 1, +m[3], +m[4], +m[5], +m[6])).toISOString();
  m = /^(\d{1,2})\/(\d{1,2})\/(\d{4}) (\d{1,2}):(\d{2}):(\d{2})(?: ?([AP]M))?$/i.exec(s);
  if (m) {
    const h = m[7] ? (+m[4] % 12) + (m[7].toUpperCase() === 'PM' ? 12 : 0) : +m[4];
    // Export-Csv writes the target's local time without a zone: read as UTC, and said so in the record.
    return new Date(Date.UTC(+m[3], +m[1] - 1, +m[2], h, +m[5], +m[6])).toISOString();
  }
  if (/^\d{4}-\d{2}-\d{2}[T ]\d{2}:\d{2}/.test(s)) {
    const d = new Date(/[zZ]|[+-]\d{2}:?\d{2}$/.test(s) ? s : `${s.replace(' ', 'T')}Z`);
    if (!Number.isNaN(d.getTime())) return d.toISOString();
  }
  return null;
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
