// One long-lived PowerShell on the target, on its own exec channel, fed one line at a time: a
// step does not pay PowerShell's start-up. Each line is followed by a line that prints an end
// marker (on stdout and stderr), so a reply is everything before the marker.
import type { Client, ClientChannel } from 'ssh2';
import { stripConsoleModes } from '../../text.ts';
import { EndMarkers, ReplyCapture } from '../reply-framing.ts';
import { HELLO_LINE, parseHello, type HelloInfo } from '../powershell-lines.ts';
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

export class RemoteShell {
  private out = new ReplyCapture();
  private err = new ReplyCapture();
  private exited = false;
  private exitCode: number | null = null;
  private readonly markers = new EndMarkers();
  /** `plain`: only stdout carries the marker. */
  private pending?: { marker: string; plain: boolean; resolve: (r: ShellReply) => void; reject: (e: Error) => void };
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
    const o = this.out.find(p.marker);
    if (o === -1) return;
    const e = p.plain ? 0 : this.err.find(p.marker);
    if (e === -1) return;
    this.pending = undefined;
    const stdout = stripConsoleModes(this.out.take(o, p.marker));
    const stderr = p.plain ? '' : stripConsoleModes(this.err.take(e, p.marker));
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
    const { marker, print } = this.markers.next();
    const framing = plain ? print : `${print}; [Console]::Error.WriteLine(${print})`;
    return new Promise<ShellReply>((resolve, reject) => {
      this.pending = { marker, plain, resolve, reject };
      this.channel.write(`${line}\n${framing}\n`);
    });
  }

  /** Asks who it is with plain statements only; the language mode decides whether anything else can run. */
  async hello(): Promise<HelloInfo | undefined> {
    const hello = parseHello((await this.call(HELLO_LINE, true)).stdout);
    if (hello) this.pid = hello.pid;
    return hello;
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
