// Chain of custody: append-only JSON lines, each carrying the SHA-256 of the line before it,
// so a removed, reordered or edited entry shows when the chain is checked.
import { appendFileSync, readFileSync } from 'node:fs';
import { sha256Text } from './hash.ts';

export interface CustodyEntry {
  seq: number;
  time: string;
  actor: string;
  action: string;
  prev: string;
  [detail: string]: unknown;
}

const GENESIS = '0'.repeat(64);

export class CustodyLog {
  private seq = 0;
  private prev = GENESIS;

  constructor(
    readonly file: string,
    private actor: string,
  ) {}

  append(action: string, details: Record<string, unknown> = {}): CustodyEntry {
    const entry: CustodyEntry = { seq: ++this.seq, time: new Date().toISOString(), actor: this.actor, action, ...details, prev: this.prev };
    const line = JSON.stringify(entry);
    // 'a' opens for append only; a synchronous write keeps the order the actions happened in.
    appendFileSync(this.file, line + '\n', { flag: 'a' });
    this.prev = sha256Text(line);
    return entry;
  }
}

/** Checks the chain; returns the problems found (empty when intact). */
export function checkCustodyChain(file: string): string[] {
  const problems: string[] = [];
  let prev = GENESIS;
  const lines = readFileSync(file, 'utf8').split('\n').filter(Boolean);
  lines.forEach((line, i) => {
    let entry: CustodyEntry;
    try {
      entry = JSON.parse(line);
    } catch {
      problems.push(`custody.jsonl:${i + 1}: not JSON`);
      prev = sha256Text(line);
      return;
    }
    if (entry.prev !== prev) problems.push(`custody.jsonl:${i + 1}: chain broken (an entry before it was changed or removed)`);
    if (entry.seq !== i + 1) problems.push(`custody.jsonl:${i + 1}: sequence ${entry.seq}, expected ${i + 1}`);
    prev = sha256Text(line);
  });
  return problems;
}
