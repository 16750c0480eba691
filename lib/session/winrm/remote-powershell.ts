// One long-lived PowerShell in the host's Windows Remote Shell, fed one line at a time (as the SSH
// transport's RemoteShell): a step does not pay PowerShell's start-up nor a shell per command,
// which pywinrm's run_ps does. Each line is followed by an end marker printed on stdout and
// stderr; a reply is everything before the markers. Output is received on its own connection
// (a Receive long-polls), so sending a line never waits behind it.
import { stripConsoleModes } from '../../text.ts';
import { EndMarkers, ReplyCapture } from '../reply-framing.ts';
import type { WinrmShell } from './shell.ts';
import { POWERSHELL_ARGS, POWERSHELL_COMMAND } from './soap.ts';

export interface PowerShellReply {
  stdout: string;
  stderr: string;
}

/**
 * Takes a reply's stdout bytes as they arrive instead of buffering them (a file streamed as
 * binary blocks): returns the bytes that followed the end-marker line once it has read that line
 * at a boundary of its own framing, else undefined. It must not throw: a bad block is remembered
 * and reported after the reply, so the framing stays in step.
 */
export interface StdoutSink {
  take(data: Buffer, marker: string): Buffer | undefined;
}

/** The remote PowerShell ended (or its output could no longer be received) before answering. */
export class PowerShellEndedError extends Error {
  constructor(
    message: string,
    readonly exitCode: number | undefined,
    /** What stopped the output, when it was not the PowerShell ending (e.g. the host went away). */
    readonly cause?: Error,
  ) {
    super(message);
    this.name = 'PowerShellEndedError';
  }
}

export class WinrmPowerShell {
  private readonly out = new ReplyCapture();
  private readonly err = new ReplyCapture();
  private readonly markers = new EndMarkers();
  private pending?: { marker: string; plain: boolean; sink?: StdoutSink; sinkDone?: boolean; resolve: (r: PowerShellReply) => void; reject: (e: Error) => void };
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
        const p = this.pending;
        if (c.name === 'stdout' && p?.sink && !p.sinkDone) {
          const rest = p.sink.take(c.data, p.marker);
          if (rest) {
            p.sinkDone = true;
            if (rest.length) this.out.append(rest);
          }
        } else (c.name === 'stderr' ? this.err : this.out).append(c.data);
        this.check();
      }, this.stopReceiving.signal)
      .then(
        (r) => this.end(new PowerShellEndedError(`the remote PowerShell ended${r?.exitCode === undefined ? '' : ` (exit ${r.exitCode})`}`, r?.exitCode)),
        (e: Error) => this.end(new PowerShellEndedError(`output from the remote PowerShell stopped: ${e.message}`, undefined, e)),
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
    if (!p) return;
    const o = p.sink ? (p.sinkDone ? 0 : -1) : this.out.find(p.marker);
    if (o === -1) return;
    const e = p.plain ? -1 : this.err.find(p.marker);
    if (e === -1 && !p.plain) return;
    this.pending = undefined;
    const stderr = p.plain ? '' : stripConsoleModes(this.err.take(e, p.marker));
    p.resolve({ stdout: p.sink ? '' : stripConsoleModes(this.out.take(o, p.marker)), stderr });
  }

  /**
   * Sends one line (no CR/LF inside) and resolves with what it printed. No deadline here: callers
   * race theirs and stop() on expiry. `plain`: the marker is a bare expression on stdout only, which
   * Constrained Language Mode still runs (the hello); stderr is then not framed. `sink`: stdout
   * goes to it as bytes (the reply's stdout is then empty).
   */
  async call(line: string, plain = false, sink?: StdoutSink): Promise<PowerShellReply> {
    if (/[\r\n]/.test(line)) throw new Error('WinrmPowerShell.call takes a single line');
    if (this.ended) throw this.ended;
    if (this.pending) throw new Error('WinrmPowerShell.call while another call runs');
    const { marker, print } = this.markers.next();
    const reply = new Promise<PowerShellReply>((resolve, reject) => (this.pending = { marker, plain, sink, resolve, reject }));
    const framing = plain ? print : `[Console]::Out.WriteLine(${print}); [Console]::Error.WriteLine(${print})`;
    try {
      await this.control.sendStdin(this.commandId, Buffer.from(`${line}\r\n${framing}\r\n`, 'utf8'), false);
    } catch (e) {
      this.pending = undefined;
      throw e;
    }
    this.check();
    return reply;
  }

  /** One line whose stdout goes to `sink` as bytes (LineRunner's streaming fetch). */
  stream(line: string, sink: StdoutSink): Promise<PowerShellReply> {
    return this.call(line, false, sink);
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
