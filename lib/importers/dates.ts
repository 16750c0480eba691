// Every time shape the imported tools write, read to ISO 8601 UTC; a date that cannot be read is
// counted and said, never a silent null.
//
// Shapes: "/Date(1764140000000)/" (ConvertTo-Json on 5.1), ISO 8601 (with or without zone,
// seconds, fractions of any length: Velociraptor writes nanoseconds), autorunsc -t's
// "20251126-091503", WMI's DMTF "20251126091503.123456+060", wevtutil's "2025-11-26T04:00:12.1234567Z", and the locale forms of
// Export-Csv / autorunsc / tasklist: "7/12/2012 12:29 AM" (no seconds), "26/11/2025 16:05:03",
// "26.11.2025 16:05", "2025/11/26 16:05:03" (year first), two-digit years, a date alone.
//
// Day/month order of "a/b/yyyy" is a property of the exporting machine's locale, so it is decided
// once per file from the file's own values: a first field above 12 means dd/MM, a second field
// above 12 means MM/dd, dots (de-DE, ru-RU…) mean dd.MM. When nothing decides it, MM/dd is assumed
// and said in a warning; --date-order dmy|mdy settles it.
//
// Times without a zone are the exporting machine's local time; they are read as UTC, as before
// (the records that carry such times say so with a *TimeZone: "unknown" field where they did).

export type DateOrder = 'dmy' | 'mdy';
export const DATE_ORDERS: readonly DateOrder[] = ['dmy', 'mdy'];

const LOCAL = /^(\d{1,2})([/.-])(\d{1,2})\2(\d{4}|\d{2})(?:[ T,]+(\d{1,2}):(\d{2})(?::(\d{2})(?:[.,](\d+))?)?(?:\s*([AaPp])\.?\s?[Mm]\.?)?)?$/;
const YEAR_FIRST = /^(\d{4})([/.])(\d{1,2})\2(\d{1,2})(?:[ T]+(\d{1,2}):(\d{2})(?::(\d{2}))?(?:\s*([AaPp])\.?\s?[Mm]\.?)?)?$/;

function utc(y: number, mo: number, d: number, h = 0, mi = 0, s = 0, ms = 0): string | null {
  if (mo < 1 || mo > 12 || d < 1 || d > 31 || h > 23 || mi > 59 || s > 60) return null;
  const t = new Date(Date.UTC(y, mo - 1, d, h, mi, s, ms));
  // 31/02 must not roll over into March.
  if (t.getUTCMonth() !== mo - 1 || t.getUTCDate() !== d) return null;
  return t.toISOString();
}

function hour12(h: string | undefined, ampm: string | undefined): number | null {
  const n = Number(h ?? 0);
  if (!ampm) return n;
  if (n < 1 || n > 12) return null;
  return (n % 12) + (/^p/i.test(ampm) ? 12 : 0);
}

const year = (y: string) => (y.length === 2 ? 2000 + Number(y) - (Number(y) >= 70 ? 100 : 0) : Number(y));
const millis = (f: string | undefined) => (f ? Number(f.slice(0, 3).padEnd(3, '0')) : 0);

/** The day/month evidence of one value: 'dmy' / 'mdy' when it decides, 'either' when both read, null when not a d/m/y value. */
export function orderEvidence(v: unknown): DateOrder | 'either' | null {
  if (typeof v !== 'string') return null;
  const m = LOCAL.exec(v.trim());
  if (!m) return null;
  if (m[2] === '.') return 'dmy';
  const a = Number(m[1]);
  const b = Number(m[3]);
  if (a > 12 && b <= 12) return 'dmy';
  if (b > 12 && a <= 12) return 'mdy';
  if (a === b || (a <= 12 && b <= 12)) return 'either';
  return null;
}

/** Whether a value says its zone: ISO with Z or an offset, /Date()/, DMTF, epoch numbers, autorunsc -t (documented as UTC). */
export function hasZone(v: unknown): boolean {
  if (typeof v === 'number') return true;
  if (typeof v !== 'string') return false;
  const s = v.trim();
  return /^\/Date\(/.test(s) || /^\d{8}-\d{6}$/.test(s) || /^\d{14}\.\d{6}[+-]\d{3}$/.test(s) || /^\d{4}-\d{2}-\d{2}[T ][\d:.,]+\s*(Z|[+-]\d{2}:?\d{2})$/i.test(s);
}

/** One value → ISO UTC, with day/month order `order` for "a/b/yyyy" values; null when it is no date. */
export function parseDate(v: unknown, order: DateOrder = 'mdy'): string | null {
  if (typeof v === 'number') {
    // Epoch numbers (Velociraptor, some JSON exports): seconds, or milliseconds when that large.
    if (!Number.isFinite(v) || v <= 0) return null;
    return new Date(v > 1e11 ? v : v * 1000).toISOString();
  }
  if (typeof v !== 'string') return null;
  const s = v.trim();
  let m = /^\/Date\((-?\d+)(?:[+-]\d{4})?\)\/$/.exec(s);
  if (m) return new Date(Number(m[1])).toISOString();
  m = /^(\d{4})(\d{2})(\d{2})-(\d{2})(\d{2})(\d{2})$/.exec(s);
  if (m) return utc(+m[1], +m[2], +m[3], +m[4], +m[5], +m[6]);
  // WMI's DMTF datetime (Get-WmiObject Win32_Process CreationDate): the offset is in minutes.
  m = /^(\d{4})(\d{2})(\d{2})(\d{2})(\d{2})(\d{2})\.(\d{6})([+-])(\d{3})$/.exec(s);
  if (m) {
    const local = utc(+m[1], +m[2], +m[3], +m[4], +m[5], +m[6], millis(m[7]));
    return local && new Date(Date.parse(local) - (m[8] === '-' ? -1 : 1) * Number(m[9]) * 60_000).toISOString();
  }
  m = /^(\d{4})-(\d{2})-(\d{2})(?:[T ](\d{2}):(\d{2})(?::(\d{2})(?:[.,](\d+))?)?)?\s*(Z|[+-]\d{2}:?\d{2})?$/i.exec(s);
  if (m) {
    const local = utc(+m[1], +m[2], +m[3], +(m[4] ?? 0), +(m[5] ?? 0), +(m[6] ?? 0), millis(m[7]));
    if (!local || !m[8] || /^z$/i.test(m[8])) return local;
    const z = /([+-])(\d{2}):?(\d{2})/.exec(m[8])!;
    const offset = (z[1] === '-' ? -1 : 1) * (Number(z[2]) * 60 + Number(z[3]));
    return new Date(Date.parse(local) - offset * 60_000).toISOString();
  }
  m = YEAR_FIRST.exec(s);
  if (m) {
    const h = hour12(m[5], m[8]);
    return h === null ? null : utc(+m[1], +m[3], +m[4], h, +(m[6] ?? 0), +(m[7] ?? 0));
  }
  m = LOCAL.exec(s);
  if (m) {
    const h = hour12(m[5], m[9]);
    if (h === null) return null;
    const dmy = m[2] === '.' || order === 'dmy';
    const [d, mo] = dmy ? [+m[1], +m[3]] : [+m[3], +m[1]];
    return utc(year(m[4]), mo, d, h, +(m[6] ?? 0), +(m[7] ?? 0), millis(m[8]));
  }
  return null;
}

/**
 * Reads one file's dates: decides the day/month order from all of them (or takes --date-order),
 * counts what it could not read, and says both in warnings().
 */
export class DateReader {
  order: DateOrder = 'mdy';
  private decidedBy: 'option' | 'values' | 'default' | 'none' = 'none';
  private example: string | null = null;
  private conflict: [string, string] | null = null;
  private bad: { value: string; where: string }[] = [];
  private read = 0;

  constructor(
    private readonly file: string,
    private readonly forced?: DateOrder,
  ) {}

  /** Looks at every date value of the file before any is read. */
  decide(values: Iterable<unknown>): this {
    let dmy: string | null = null;
    let mdy: string | null = null;
    let either: string | null = null;
    for (const v of values) {
      const e = orderEvidence(v);
      if (e === 'dmy') dmy ??= String(v).trim();
      else if (e === 'mdy') mdy ??= String(v).trim();
      else if (e === 'either') either ??= String(v).trim();
    }
    if (dmy && mdy) this.conflict = [dmy, mdy];
    if (this.forced) {
      this.order = this.forced;
      this.decidedBy = 'option';
    } else if (dmy && !mdy) {
      this.order = 'dmy';
      this.decidedBy = 'values';
      this.example = dmy;
    } else if (mdy) {
      this.order = 'mdy';
      this.decidedBy = 'values';
      this.example = mdy;
    } else if (either) {
      this.order = 'mdy';
      this.decidedBy = 'default';
      this.example = either;
    }
    return this;
  }

  /** One value → ISO UTC; an unreadable non-empty value is counted (where: row or field, for the warning). */
  iso(v: unknown, where = ''): string | null {
    if (v === null || v === undefined) return null;
    if (typeof v === 'string' && (v.trim() === '' || /^n\/a$/i.test(v.trim()))) return null;
    const r = parseDate(v, this.order);
    if (r === null) this.bad.push({ value: typeof v === 'string' ? v : JSON.stringify(v), where });
    else this.read++;
    return r;
  }

  warnings(): string[] {
    const out: string[] = [];
    if (this.decidedBy === 'default') {
      out.push(`${this.file}: day and month cannot be told apart in any date (e.g. "${this.example}"); read as month/day (MM/dd). If the export came from a dd/MM locale, import again with --date-order dmy`);
    }
    if (this.conflict) {
      out.push(`${this.file}: dates disagree on day/month order ("${this.conflict[0]}" is dd/MM, "${this.conflict[1]}" is MM/dd); read as ${this.order === 'dmy' ? 'dd/MM' : 'MM/dd'}${this.decidedBy === 'option' ? ' (--date-order)' : '; settle it with --date-order dmy|mdy'}`);
    }
    if (this.bad.length) {
      const eg = this.bad.slice(0, 3).map((b) => `"${b.value}"${b.where ? ` (${b.where})` : ''}`).join(', ');
      out.push(`${this.file}: ${this.bad.length} date${this.bad.length === 1 ? '' : 's'} could not be read and ${this.bad.length === 1 ? 'is' : 'are'} left empty: ${eg}${this.bad.length > 3 ? ', …' : ''}`);
    }
    return out;
  }

  /** How many values were read and how many were not (for tests and the summary). */
  counts(): { read: number; unreadable: number; order: DateOrder; decidedBy: string } {
    return { read: this.read, unreadable: this.bad.length, order: this.order, decidedBy: this.decidedBy };
  }
}
