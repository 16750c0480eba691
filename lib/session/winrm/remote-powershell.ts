// One long-lived PowerShell in the host's Windows Remote Shell, fed one line at a time (as the SSH
// transport's RemoteShell): a step does not pay PowerShell's start-up nor a shell per command,
// which pywinrm's run_ps does. Each line is followed by an end marker printed on stdout and
// stderr; a reply is everything before the markers. Output is received on its own connection
// (a Receive long-polls), so sending a line never waits behind it.
import { randomBytes } from 'node:crypto';
import { StringDecoder } from 'node:string_decoder';
import { stripConsoleModes } from '../../text.ts';
import type { WinrmShell } from './shell.ts';
import { POWERSHELL_ARGS, POWERSHELL_COMMAND } from './soap.ts';

export interface PowerShellReply {
  stdout: string;
  stderr: string;
}

/** The remote PowerShell ended (or its output could no longer be received) before answering. */
export class PowerShellEndedError extends Error {
  constructor(
    message: string,
    readonly exitCode: number | undefined,
  ) {
    super(message);
    this.name = 'PowerShellEndedError';
  }
}

const LIMIT = 1024 * 1024;
const KEEP = 64 * 1024;

class Capture {
  text = '';
  private readonly decoder = new StringDecoder('utf8');
  append(chunk: Buffer): void {
    this.text += this.decoder.write(chunk);
    if (this.text.length > LIMIT) this.text = this.text.slice(0, KEEP) + '\n[… output truncated …]\n' + this.text.slice(-KEEP);
  }
  take(marker: string): string | undefined {
    const i = this.text.indexOf(marker);
    if (i < 0) return undefined;
    const out = this.text.slice(0, i);
    this.text = this.text.slice(i + marker.length).replace(/^\r?\n/, '');
    return out;
  }
}

export class WinrmPowerShell {
  private readonly out = new Capture();
  private readonly err = new Capture();
  private readonly nonce = randomBytes(6).toString('hex');
  private seq = 0;
  private pending?: { marker: string; resolve: (r: PowerShellReply) => void; reject: (e: Error) => void };
  private ended?: PowerShellEndedError;
  private readonly stopReceiving = new AbortController();
  /** Resolves when the PowerShell has ended (or its output stopped coming). */
  readonly done: Promise<void>;

  private constructor(
    /** Sends lines and signals. */
    private readonly control: WinrmShell,
    receiver: WinrmShell,
    readonly commandId: string,
  ) {
    this.done = receiver
      .receive(commandId, (c) => {
        (c.name === 'stderr' ? this.err : this.out).append(c.data);
        this.check();
      }, this.stopReceiving.signal)
      .then(
        (r) => this.end(new PowerShellEndedError(`the remote PowerShell ended${r?.exitCode === undefined ? '' : ` (exit ${r.exitCode})`}`, r?.exitCode)),
        (e: Error) => this.end(new PowerShellEndedError(`output from the remote PowerShell stopped: ${e.message}`, undefined)),
      );
  }

  /**
   * Starts PowerShell (by default `powershell.exe -NoLogo -NoProfile -NonInteractive -ExecutionPolicy
   * Bypass -Command -`) in `control`'s shell; `receiver` is the same shell over a second connection.
   */
  static async start(control: WinrmShell, receiver: WinrmShell, command = POWERSHELL_COMMAND, args = POWERSHELL_ARGS): Promise<WinrmPowerShell> {
    if (control.shellId !== receiver.shellId) throw new Error('control and receiver must be the same shell');
    return new WinrmPowerShell(control, receiver, await control.start(command, args));
  }

  get alive(): boolean {
    return !this.ended;
  }

  private end(e: PowerShellEndedError): void {
    this.ended ??= e;
    const p = this.pending;
    this.pending = undefined;
    p?.reject(this.ended);
  }

  private check(): void {
    const p = this.pending;
    if (!p || !this.out.text.includes(p.marker) || !this.err.text.includes(p.marker)) return;
    this.pending = undefined;
    p.resolve({ stdout: stripConsoleModes(this.out.take(p.marker)!), stderr: stripConsoleModes(this.err.take(p.marker)!) });
  }

  /** Sends one line (no CR/LF inside) and resolves with what it printed. No deadline here: callers race theirs and stop() on expiry. */
  async call(line: string): Promise<PowerShellReply> {
    if (/[\r\n]/.test(line)) throw new Error('WinrmPowerShell.call takes a single line');
    if (this.ended) throw this.ended;
    if (this.pending) throw new Error('WinrmPowerShell.call while another call runs');
    const id = `${this.nonce}-${++this.seq}`;
    const marker = `MAGPIE-END-${id}`;
    // Concatenated on the target, so an echo of the input can never look like the marker.
    const print = `'MAGPIE-END-' + '${id}'`;
    const reply = new Promise<PowerShellReply>((resolve, reject) => (this.pending = { marker, resolve, reject }));
    try {
      await this.control.sendStdin(this.commandId, Buffer.from(`${line}\r\n[Console]::Out.WriteLine(${print}); [Console]::Error.WriteLine(${print})\r\n`, 'utf8'), false);
    } catch (e) {
      this.pending = undefined;
      throw e;
    }
    this.check();
    return reply;
  }

  /** Ends the PowerShell: stdin closed and the terminate signal (the target stops its process tree). */
  async stop(): Promise<void> {
    try {
      await this.control.signal(this.commandId);
    } finally {
      this.stopReceiving.abort();
      this.end(new PowerShellEndedError('the remote PowerShell was stopped', undefined));
    }
  }
}
