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
const LIMIT = 1024 * 1024;

/** One stream's output since the last reply, bounded. */
export class ReplyCapture {
  text = '';
  private from = 0;
  private decoder?: StringDecoder;

  append(chunk: string | Buffer): void {
    this.text += typeof chunk === 'string' ? chunk : (this.decoder ??= new StringDecoder('utf8')).write(chunk);
    if (this.text.length > LIMIT) {
      this.text = this.text.slice(0, KEEP) + '\n[… output truncated …]\n' + this.text.slice(-KEEP);
      this.from = 0;
    }
  }

  /** Index of `marker` in the text (searching only what arrived since the last miss), or -1. */
  find(marker: string): number {
    const i = this.text.indexOf(marker, Math.max(0, this.from - marker.length));
    if (i === -1) this.from = this.text.length;
    return i;
  }

  /** Everything before the marker found at `at`; the marker and the line break after it are dropped. */
  take(at: number, marker: string): string {
    const out = this.text.slice(0, at);
    this.text = this.text.slice(at + marker.length).replace(/^\r?\n/, '');
    this.from = 0;
    return out;
  }
}
