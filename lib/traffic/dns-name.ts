// What makes a DNS name look machine-made, as plain numbers a rule can set thresholds on.

/** Shannon entropy in bits per character. */
export function entropy(s: string): number {
  if (!s) return 0;
  const counts = new Map<string, number>();
  for (const c of s) counts.set(c, (counts.get(c) ?? 0) + 1);
  let h = 0;
  for (const n of counts.values()) {
    const p = n / s.length;
    h -= p * Math.log2(p);
  }
  return h;
}

/** The TLD, and the longest label below it with its entropy (rounded to 0.01). */
export function nameShape(name: string): { tld: string; longestLabel: number; entropy: number } {
  const labels = name.toLowerCase().replace(/\.$/, '').split('.');
  const tld = labels.length > 1 ? labels[labels.length - 1] : '';
  let longest = '';
  for (const l of labels.length > 1 ? labels.slice(0, -1) : labels) if (l.length > longest.length) longest = l;
  return { tld, longestLabel: longest.length, entropy: Math.round(entropy(longest) * 100) / 100 };
}

const TYPES: Record<string, string> = { '1': 'A', '2': 'NS', '5': 'CNAME', '6': 'SOA', '12': 'PTR', '15': 'MX', '16': 'TXT', '28': 'AAAA', '33': 'SRV', '64': 'SVCB', '65': 'HTTPS', '255': 'ANY' };
const RCODES: Record<string, string> = { '0': 'NoError', '1': 'FormErr', '2': 'ServFail', '3': 'NXDomain', '4': 'NotImp', '5': 'Refused' };

export const dnsType = (n: string): string => TYPES[n] ?? (n ? `TYPE${n}` : '');
export const dnsRcode = (n: string): string => RCODES[n] ?? `RCODE${n}`;
