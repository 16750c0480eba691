// VirusTotal v3 file look-ups, from the responder's machine only (never from a target): every
// distinct hash once, answers cached on disk with their date, requests spaced to the key's quota.
import { existsSync, mkdirSync, readFileSync, writeFileSync, renameSync } from 'node:fs';
import { homedir } from 'node:os';
import { join } from 'node:path';

export interface VtVerdict {
  hash: string;
  date: string;
  found: boolean;
  malicious: number;
  suspicious: number;
  harmless: number;
  undetected: number;
  name?: string;
  label?: string;
}

export interface VtOptions {
  apiKey?: string;
  baseUrl?: string;
  cacheDir?: string;
  perMinute?: number;
  offline?: boolean;
  /** Time for the pacer; tests pass a fake one so the schedule is checked without waiting. */
  clock?: Clock;
  onProgress?: (done: number, total: number, hash: string, cached: boolean) => void;
}

export const DEFAULT_VT_URL = 'https://www.virustotal.com/api/v3';

export function defaultVtCache(): string {
  return join(process.env.XDG_CACHE_HOME ?? join(homedir(), '.cache'), 'magpie', 'virustotal');
}

export interface Clock {
  now(): number;
  sleep(ms: number): Promise<void>;
}

export const realClock: Clock = { now: () => Date.now(), sleep: (ms) => new Promise((r) => setTimeout(r, ms)) };

/** Spaces calls evenly: at most `perMinute` starts in any minute. */
export class Pacer {
  private next = 0;
  constructor(private perMinute: number, private clock: Clock = realClock) {}
  async wait(): Promise<void> {
    const gap = 60_000 / this.perMinute;
    const now = this.clock.now();
    const at = Math.max(now, this.next);
    this.next = at + gap;
    if (at > now) await this.clock.sleep(at - now);
  }
}

export async function lookupHashes(hashes: string[], opts: VtOptions): Promise<Map<string, VtVerdict>> {
  const cacheDir = opts.cacheDir ?? defaultVtCache();
  mkdirSync(cacheDir, { recursive: true });
  const pacer = new Pacer(opts.perMinute ?? 4, opts.clock);
  const out = new Map<string, VtVerdict>();
  let done = 0;
  for (const hash of [...new Set(hashes.map((h) => h.toLowerCase()))]) {
    const cacheFile = join(cacheDir, `${hash}.json`);
    if (existsSync(cacheFile)) {
      out.set(hash, JSON.parse(readFileSync(cacheFile, 'utf8')));
      opts.onProgress?.(++done, hashes.length, hash, true);
      continue;
    }
    if (opts.offline) {
      opts.onProgress?.(++done, hashes.length, hash, true);
      continue;
    }
    if (!opts.apiKey) throw new Error('VirusTotal needs an API key: set VT_API_KEY (or use --offline to read the cache only)');
    await pacer.wait();
    const res = await fetch(`${opts.baseUrl ?? DEFAULT_VT_URL}/files/${hash}`, { headers: { 'x-apikey': opts.apiKey, accept: 'application/json' } });
    let verdict: VtVerdict;
    if (res.status === 404) {
      verdict = { hash, date: new Date().toISOString(), found: false, malicious: 0, suspicious: 0, harmless: 0, undetected: 0 };
    } else if (res.ok) {
      const body = (await res.json()) as { data?: { attributes?: Record<string, unknown> } };
      const a = body.data?.attributes ?? {};
      const stats = (a.last_analysis_stats ?? {}) as Record<string, number>;
      verdict = {
        hash,
        date: new Date().toISOString(),
        found: true,
        malicious: stats.malicious ?? 0,
        suspicious: stats.suspicious ?? 0,
        harmless: stats.harmless ?? 0,
        undetected: stats.undetected ?? 0,
        name: typeof a.meaningful_name === 'string' ? a.meaningful_name : undefined,
        label: ((a.popular_threat_classification as Record<string, unknown> | undefined)?.suggested_threat_label as string | undefined) ?? undefined,
      };
    } else if (res.status === 429) {
      throw new Error('VirusTotal quota exceeded (HTTP 429): lower --vt-rate or try later; answers so far are cached');
    } else {
      throw new Error(`VirusTotal answered HTTP ${res.status} for ${hash}: ${(await res.text()).slice(0, 200)}`);
    }
    const tmp = `${cacheFile}.tmp`;
    writeFileSync(tmp, JSON.stringify(verdict) + '\n');
    renameSync(tmp, cacheFile);
    out.set(hash, verdict);
    opts.onProgress?.(++done, hashes.length, hash, false);
  }
  return out;
}
