// The SHA256SUMS format that `sha256sum -c` reads: written and read only here.

export interface SumEntry {
  sha256: string;
  path: string;
}

/** `<hex>  <path>` lines (text mode), sorted by path. Paths are made safe before they get here. */
export function formatSums(entries: SumEntry[]): string {
  return [...entries]
    .sort((a, b) => a.path.localeCompare(b.path))
    .map((e) => `${e.sha256}  ${e.path}\n`)
    .join('');
}

/** Parses `sha256sum` output lines: `<hex>  <path>` (text mode) or `<hex> *<path>` (binary mode). */
export function parseSums(text: string): SumEntry[] {
  return text
    .split('\n')
    .filter((l) => l.trim() !== '')
    .map((l, i) => {
      const m = /^([a-fA-F0-9]{64}) [ *](.+)$/.exec(l);
      if (!m) throw new Error(`SHA256SUMS:${i + 1}: not a sha256sum line`);
      return { sha256: m[1].toLowerCase(), path: m[2] };
    });
}
