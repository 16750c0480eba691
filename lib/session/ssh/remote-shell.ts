// One long-lived PowerShell on the target, on its own exec channel, fed one line at a time: a
// step does not pay PowerShell's start-up. Each line is followed by a line that prints an end
// marker (on stdout and stderr), so a reply is everything before the marker.
import { randomBytes } from 'node:crypto';
import type { Client, ClientChannel } from 'ssh2';
import { stripConsoleModes } from '../../text.ts';
import { openExec } from './exec.ts';

export interface ShellReply {
  stdout: string;
  stderr: string;
}

/** The remote PowerShell exited (or its channel closed) before answering. */
export class ShellExitedError extends Error {
  constructor(
    message: string,
    readonly exitCode: number | null,
    readonly stderr: string,
  ) {
    super(message);
    this.name = 'ShellExitedError';
  }
}

// A step's records and logs go to files; what reaches the channel is the summary and stray
// output. Past this, only the head and the tail are kept (the marker and summary are at the end).
const KEEP = 64 * 1024;
const LIMIT = 1024 * 1024;

class Capture {
  text = '';
  private from = 0;
  append(chunk: string): void {
    this.text += chunk;
    if (this.text.length > LIMIT) {
      this.text = this.text.slice(0, KEEP) + '\n[… output truncated …]\n' + this.text.slice(-KEEP);
      this.from = 0;
    }
  }
  /** Index of `marker` in text added since the last reset, or -1. */
  find(marker: string): number {
    const i = this.text.indexOf(marker, Math.max(0, this.from - marker.length));
    if (i === -1) this.from = this.text.length;
    return i;
  }
  take(end: number, skip: number): string {
    const out = this.text.slice(0, end);
    this.text = this.text.slice(end + skip);
    this.from = 0;
    return out;
  }
}

export interface HelloInfo {
  pid: number;
  languageMode: string;
  psVersion: string;
}

export class RemoteShell {
  private out = new Capture();
  private err = new Capture();
  private exited = false;
  private exitCode: number | null = null;
  private seq = 0;
  private readonly nonce = randomBytes(6).toString('hex');
  private pending?: { markers: string[]; resolve: (r: ShellReply) => void; reject: (e: Error) => void };
  private onClosed!: () => void;
  /** Resolves once the channel has closed (the process ended or the connection went). */
  readonly closed = new Promise<void>((r) => (this.onClosed = r));
  /** Set by hello(): the shell's own pid, the handle for stopping its process tree. */
  pid = 0;

  private constructor(private channel: ClientChannel) {
    channel.setEncoding('utf8');
    channel.stderr.setEncoding('utf8');
    channel.on('data', (d: string) => {
      this.out.append(d);
      this.check();
    });
    channel.stderr.on('data', (d: string) => {
      this.err.append(d);
      this.check();
    });
    channel.on('exit', (code: number | null) => (this.exitCode = code));
    channel.on('close', () => {
      this.exited = true;
      const p = this.pending;
      this.pending = undefined;
      const stderr = stripConsoleModes(this.err.text).trim();
      p?.reject(new ShellExitedError(`the remote PowerShell ended${this.exitCode == null ? '' : ` (exit ${this.exitCode})`}`, this.exitCode, stderr));
      this.onClosed();
    });
    // A stream error (e.g. writing after the connection went) ends in 'close' as well.
    channel.on('error', () => undefined);
  }

  static async start(client: Client, command: string): Promise<RemoteShell> {
    return new RemoteShell(await openExec(client, command));
  }

  get alive(): boolean {
    return !this.exited;
  }

  /** Output that arrived outside any call, e.g. a shell that failed to start; bounded. */
  get strayStderr(): string {
    return stripConsoleModes(this.err.text).trim();
  }

  private check(): void {
    const p = this.pending;
    if (!p) return;
    const [outMarker, errMarker] = p.markers;
    const o = this.out.find(outMarker);
    if (o === -1) return;
    const e = errMarker ? this.err.find(errMarker) : 0;
    if (e === -1) return;
    this.pending = undefined;
    const stdout = stripConsoleModes(this.out.take(o, outMarker.length));
    const stderr = errMarker ? stripConsoleModes(this.err.take(e, errMarker.length)) : '';
    p.resolve({ stdout, stderr });
  }

  /**
   * Sends one line and resolves with what it printed. `plain` frames stdout only, with nothing
   * but string concatenation: the first call must work even in Constrained Language Mode.
   * No deadline here: callers race it against theirs and stop the process on expiry.
   */
  call(line: string, plain = false): Promise<ShellReply> {
    if (line.includes('\n') || line.includes('\r')) return Promise.reject(new Error('RemoteShell.call takes a single line'));
    if (this.exited) return Promise.reject(new ShellExitedError('the remote PowerShell has ended', this.exitCode, this.strayStderr));
    if (this.pending) return Promise.reject(new Error('RemoteShell.call while another call runs'));
    const id = `${this.nonce}-${++this.seq}`;
    // Concatenated on the target, so an echo of the input line can never look like the marker.
    const marker = `MAGPIE-END-${id}`;
    const print = `'MAGPIE-END-' + '${id}'`;
    const framing = plain ? print : `${print}; [Console]::Error.WriteLine(${print})`;
    return new Promise<ShellReply>((resolve, reject) => {
      this.pending = { markers: plain ? [marker] : [marker, marker], resolve, reject };
      this.channel.write(`${line}\n${framing}\n`);
    });
  }

  /** Asks who it is with plain statements only; the language mode decides whether anything else can run. */
  async hello(): Promise<HelloInfo | undefined> {
    const r = await this.call(`'MAGPIE-HELLO:' + $PID + ':' + $ExecutionContext.SessionState.LanguageMode + ':' + $PSVersionTable.PSVersion`, true);
    const m = /MAGPIE-HELLO:(\d+):(\w*):([\d.]*)/.exec(r.stdout);
    if (!m) return undefined;
    this.pid = Number(m[1]);
    return { pid: this.pid, languageMode: m[2], psVersion: m[3] || '1.0' };
  }

  /** Asks it to exit, then closes the channel; the caller stops the process tree if it lingers. */
  async end(graceMs: number): Promise<boolean> {
    if (this.exited) return true;
    this.channel.end('exit\n');
    const done = await Promise.race([this.closed.then(() => true), new Promise<boolean>((r) => setTimeout(() => r(false), graceMs).unref())]);
    return done;
  }

  /** Drops the channel without waiting (after its process tree was killed, or the connection went). */
  abandon(): void {
    if (!this.exited) this.channel.close();
  }
}
