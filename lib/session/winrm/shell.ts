// A Windows Remote Shell on one endpoint: create it, start commands in it, feed stdin in chunks
// within MaxEnvelopeSize, receive stdout/stderr as they arrive (the long-poll TimedOut fault is
// normal and simply asked again), signal a command, and delete the shell. Faults become one-line
// WinrmFaultErrors with the WSMan code and its meaning.
import { WinrmFaultError } from './errors.ts';
import type { WinrmHttp } from './http.ts';
import {
  ACTION,
  commandIdOf,
  commandRequest,
  createShellRequest,
  DEFAULT_MAX_ENVELOPE_SIZE,
  deleteShellRequest,
  describeFault,
  expectAck,
  isOperationTimeout,
  receiveOf,
  receiveRequest,
  sendRequest,
  shellIdOf,
  SIGNAL,
  signalRequest,
  stdinChunks,
  type ShellOptions,
  type StreamChunk,
  type WsmanRequest,
  type WsmanResponse,
  type WsmanTarget,
} from './soap.ts';

export interface WinrmShellOptions extends ShellOptions {
  maxEnvelopeSize?: number;
  /** How long one Receive long-polls on the target before its normal TimedOut (s). Default 20. */
  operationTimeoutSec?: number;
}

export interface CommandResult {
  exitCode?: number;
  stdout: Buffer;
  stderr: Buffer;
}

export class WinrmShell {
  private constructor(
    private readonly http: WinrmHttp,
    private readonly target: WsmanTarget,
    readonly shellId: string,
  ) {}

  static async open(http: WinrmHttp, o: WinrmShellOptions = {}): Promise<WinrmShell> {
    const target: WsmanTarget = { endpoint: http.endpoint, maxEnvelopeSize: o.maxEnvelopeSize ?? DEFAULT_MAX_ENVELOPE_SIZE, operationTimeoutSec: o.operationTimeoutSec ?? 20 };
    const res = await call(http, createShellRequest(target, o));
    return new WinrmShell(http, target, shellIdOf(res));
  }

  /** The same shell over another connection (e.g. one that long-polls Receive while this one sends). */
  via(http: WinrmHttp): WinrmShell {
    return new WinrmShell(http, { ...this.target, endpoint: http.endpoint }, this.shellId);
  }

  /** Starts a command (e.g. POWERSHELL_COMMAND with POWERSHELL_ARGS); returns its CommandId. */
  async start(command: string, args: string[] = []): Promise<string> {
    return commandIdOf(await call(this.http, commandRequest(this.target, this.shellId, command, args)));
  }

  /** Sends stdin in envelope-sized chunks; `end` closes the command's stdin after the last one. */
  async sendStdin(commandId: string, data: Uint8Array, end = true): Promise<void> {
    const chunks = stdinChunks(data, this.target.maxEnvelopeSize);
    for (let i = 0; i < chunks.length; i++) {
      expectAck(await call(this.http, sendRequest(this.target, this.shellId, commandId, chunks[i], end && i === chunks.length - 1)), ACTION.send);
    }
  }

  /**
   * Receives until the command is done, handing each chunk to `onChunk` as it arrives; stops early
   * (returning undefined) when `signal` aborts. The TimedOut fault of an idle long poll just loops.
   */
  async receive(commandId: string, onChunk: (c: StreamChunk) => void, signal?: AbortSignal): Promise<{ exitCode?: number } | undefined> {
    const ask = () => this.http.send(receiveRequest(this.target, this.shellId, commandId));
    let next = ask();
    for (;;) {
      if (signal?.aborted) {
        next.catch(() => {}); // abandoned: its answer (or failure) no longer matters
        return undefined;
      }
      const res = await next;
      if (res.fault) {
        if (isOperationTimeout(res.fault)) {
          next = ask();
          continue;
        }
        throw faultError(this.http, res);
      }
      const r = receiveOf(res, commandId);
      // The next long poll goes out before this output is handed on, so the target prepares more
      // while the responder writes and hashes this (a large fetch is twice as fast).
      if (!r.done) next = ask();
      for (const c of r.streams) if (c.data.length) onChunk(c);
      if (r.done) return { exitCode: r.exitCode };
    }
  }

  /** Runs a command to the end, stdin given, and collects its output (for small commands such as the probe). */
  async run(command: string, args: string[], stdin?: Uint8Array): Promise<CommandResult> {
    const id = await this.start(command, args);
    try {
      if (stdin) await this.sendStdin(id, stdin, true);
      const out: Buffer[] = [];
      const err: Buffer[] = [];
      const r = await this.receive(id, (c) => (c.name === 'stderr' ? err : out).push(c.data));
      return { exitCode: r?.exitCode, stdout: Buffer.concat(out), stderr: Buffer.concat(err) };
    } finally {
      await this.signal(id, SIGNAL.terminate).catch(() => {});
    }
  }

  /** Signals a command: terminate (the default) ends it and releases it on the target; ctrl_c interrupts it. */
  async signal(commandId: string, code: string = SIGNAL.terminate): Promise<void> {
    expectAck(await call(this.http, signalRequest(this.target, this.shellId, commandId, code)), ACTION.signal);
  }

  /** Deletes the shell (and with it every process it still runs). */
  async close(): Promise<void> {
    expectAck(await call(this.http, deleteShellRequest(this.target, this.shellId)), ACTION.delete);
  }
}

function faultError(http: WinrmHttp, res: WsmanResponse): WinrmFaultError {
  const f = res.fault!;
  return new WinrmFaultError(http.host, http.port, `${http.endpoint}: ${describeFault(f)}`, f.wsmanCode, f.subcode);
}

async function call(http: WinrmHttp, req: WsmanRequest): Promise<WsmanResponse> {
  const res = await http.send(req);
  if (res.fault) throw faultError(http, res);
  return res;
}
