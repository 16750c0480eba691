// Chain of custody: append-only JSON lines, each carrying the SHA-256 of the line before it,
// so a removed, reordered or edited entry shows when the chain is checked. The SHA-256 of the
// last line (the head) stands for the whole log: a responder notes it in the ticket, and any
// later rewrite of the folder, however consistent, gives another head.
import { appendFileSync, closeSync, existsSync, openSync, readFileSync, unlinkSync } from 'node:fs';
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

  /** Continues an existing log (triage after collection): its last entry is the chain's tail. */
  static resume(file: string, actor: string): CustodyLog {
    const log = new CustodyLog(file, actor);
    const lines = readFileSync(file, 'utf8').split('\n').filter(Boolean);
    const last = lines.at(-1);
    if (last) {
      log.seq = lines.length;
      log.prev = sha256Text(last);
    }
    return log;
  }

  get head(): string {
    return this.prev;
  }

  append(action: string, details: Record<string, unknown> = {}): CustodyEntry {
    const entry: CustodyEntry = { seq: ++this.seq, time: new Date().toISOString(), actor: this.actor, action, ...details, prev: this.prev };
    const line = JSON.stringify(entry);
    // 'a' opens for append only; a synchronous write keeps the order the actions happened in.
    appendFileSync(this.file, line + '\n', { flag: 'a' });
    this.prev = sha256Text(line);
    return entry;
  }
}

/**
 * Appends one entry to a sealed folder's log. Two triage runs at once must not both chain onto
 * the same tail, so the append holds an exclusive lock file beside the log.
 */
export async function appendToCustody(file: string, actor: string, action: string, details: Record<string, unknown>): Promise<string> {
  const lock = `${file}.lock`;
  const deadline = Date.now() + 30_000;
  for (;;) {
    try {
      closeSync(openSync(lock, 'wx'));
      break;
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code !== 'EEXIST') throw e;
      if (Date.now() > deadline) throw new Error(`${lock} has been held for 30 s: another Magpie is writing this custody log, or one died holding it (remove the lock if none runs)`);
      await new Promise((r) => setTimeout(r, 50));
    }
  }
  try {
    const log = CustodyLog.resume(file, actor);
    log.append(action, details);
    return log.head;
  } finally {
    if (existsSync(lock)) unlinkSync(lock);
  }
}

export interface CustodyCheck {
  entries: CustodyEntry[];
  problems: string[];
  /** SHA-256 of the last line: the value a responder notes. */
  head: string;
  /** SHA-256 of the collection-sealed (or import) seal line, when the log has one. */
  sealHead: string | null;
}

/** Checks the chain and returns its entries. */
export function readCustody(file: string): CustodyCheck {
  const problems: string[] = [];
  const entries: CustodyEntry[] = [];
  let prev = GENESIS;
  let sealHead: string | null = null;
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
    if (entry.action === 'collection-sealed' || entry.action === 'collection-interrupted') sealHead = prev;
    entries.push(entry);
  });
  return { entries, problems, head: prev, sealHead };
}
