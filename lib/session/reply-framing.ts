// Framing replies from one long-lived PowerShell fed a line at a time (SSH's RemoteShell, WinRM's
// WinrmPowerShell): each line is followed by one that prints an end marker, and a reply is
// everything a stream received before it.
import { randomBytes } from 'node:crypto';
import { StringDecoder } from 'node:string_decoder';

/** Unique end markers for one shell. */
export class EndMarkers {
  private readonly nonce = randomBytes(6).toString('hex');
  private seq = 0;
  /** The next marker, and the PowerShell expression that prints it: concatenated on the target, so an echo of the input line can never look like the marker. */
  next(): { marker: string; print: string } {
    const id = `${this.nonce}-${++this.seq}`;
    return { marker: `MAGPIE-END-${id}`, print: `'MAGPIE-END-' + '${id}'` };
  }
}

// A step's records and logs go to files; what reaches the stream is the summary and stray
// output. Past LIMIT, only the head and the tail are kept (the marker and summary are at the end).
const KEEP = 64 * 1024;
const LIMIT = 4 * 1024 * 1024;

/**
 * One stream's output since the last reply, bounded. Chunks are kept apart and only what arrived
 * since the last miss is searched: a string grown by += and searched each time is flattened each
 * time, which made a 300 KB reply in small chunks cost quadratic time.
 */
export class ReplyCapture {
  /** Searched already (the marker is not in them), and arrived since. */
  private searched: string[] = [];
  private fresh: string[] = [];
  private searchedLength = 0;
  private length = 0;
  /** The last characters of the searched text: a marker may straddle two chunks. */
  private tail = '';
  private decoder?: StringDecoder;

  get text(): string {
    return this.searched.join('') + this.fresh.join('');
  }

  private reset(text: string): void {
    this.searched = [];
    this.fresh = text ? [text] : [];
    this.searchedLength = 0;
    this.length = text.length;
    this.tail = '';
  }

  append(chunk: string | Buffer): void {
    const s = typeof chunk === 'string' ? chunk : (this.decoder ??= new StringDecoder('utf8')).write(chunk);
    if (!s) return;
    this.fresh.push(s);
    this.length += s.length;
    if (this.length > LIMIT) {
      const text = this.text;
      this.reset(text.slice(0, KEEP) + '\n[… output truncated …]\n' + text.slice(-KEEP));
    }
  }

  /** Index of `marker` in the text (searching only what arrived since the last miss), or -1. */
  find(marker: string): number {
    if (!this.fresh.length) return -1;
    const probe = this.tail + this.fresh.join('');
    const i = probe.indexOf(marker);
    if (i !== -1) return this.searchedLength - this.tail.length + i;
    this.searched.push(...this.fresh);
    this.searchedLength = this.length;
    this.fresh = [];
    this.tail = probe.slice(-(marker.length - 1));
    return -1;
  }

  /** Everything before the marker found at `at`; the marker and the line break after it are dropped. */
  take(at: number, marker: string): string {
    const text = this.text;
    this.reset(text.slice(at + marker.length).replace(/^\r?\n/, ''));
    return text.slice(0, at);
  }
}
