// A JSONL file written once (wx), in synchronous 64 KB batches: a triage can write a line per
// record (the timeline, the records read from captures), which must not pile up in memory.
import { closeSync, openSync, writeSync } from 'node:fs';

export class JsonlFile {
  private readonly fd: number;
  private batch = '';
  /** Lines written so far: the 1-based line of the last one. */
  lines = 0;

  constructor(readonly abs: string, readonly rel: string = abs) {
    this.fd = openSync(abs, 'wx');
  }

  write(record: unknown): number {
    this.batch += JSON.stringify(record) + '\n';
    if (this.batch.length > 1 << 16) this.flush();
    return ++this.lines;
  }

  flush(): void {
    if (this.batch) writeSync(this.fd, this.batch);
    this.batch = '';
  }

  close(): void {
    this.flush();
    closeSync(this.fd);
  }
}
