// Shows a run as it happens: plain timestamped lines, or JSON lines for machines (the listr2
// tree for terminals is in progress-tree.ts, loaded only when drawn). Every host-derived text
// passes through safeLine.
import type { RunEvent } from './runner.ts';
import { safeLine } from './text.ts';

export interface Reporter {
  onEvent(e: RunEvent): void;
  /** Resolves when the display has finished drawing. */
  done(): Promise<void>;
}

export function useColor(stream: NodeJS.WriteStream): boolean {
  return Boolean(stream.isTTY) && !process.env.NO_COLOR && process.env.TERM !== 'dumb';
}

export const seconds = (ms: number) => `${(ms / 1000).toFixed(1)}s`;
export const megabytes = (bytes: number) => `${(bytes / 1e6).toFixed(1)} MB`;

export function describeEvent(e: RunEvent): string | undefined {
  const host = safeLine(e.host, 80);
  switch (e.type) {
    case 'host-started':
      return `${host}: connecting`;
    case 'host-opened':
      return `${host}: ${safeLine(e.hostname, 80)} (${e.os}) → ${safeLine(e.dir)}`;
    case 'step-started':
      return undefined;
    case 'step-progress':
      return `${host}: ${e.step.index}/${e.step.id} fetching ${safeLine(e.file, 120)} ${megabytes(e.done)} of ${megabytes(e.total)}`;
    case 'step-ended':
      return `${host}: ${e.step.index}/${e.step.id} ${e.status}${e.status === 'skipped' ? '' : ` ${e.records} records ${seconds(e.durationMs)}`}${e.reason ? ` — ${safeLine(e.reason)}` : ''}`;
    case 'host-ended':
      return `${host}: ${e.state}${e.dir ? ` → ${safeLine(e.dir)}` : ''}${e.error ? ` — ${safeLine(e.error)}` : ''}`;
  }
}

export class PlainReporter implements Reporter {
  constructor(private out: NodeJS.WritableStream = process.stderr) {}
  onEvent(e: RunEvent): void {
    const text = describeEvent(e);
    if (text) this.out.write(`${new Date().toISOString()} ${text}\n`);
  }
  async done(): Promise<void> {}
}

export class JsonReporter implements Reporter {
  constructor(private out: NodeJS.WritableStream = process.stdout) {}
  onEvent(e: RunEvent): void {
    const base = { time: new Date().toISOString(), type: e.type, host: e.host };
    const detail =
      e.type === 'step-started'
        ? { step: e.step.id, index: e.step.index }
        : e.type === 'step-ended'
          ? { step: e.step.id, index: e.step.index, status: e.status, reason: e.reason, records: e.records, durationMs: e.durationMs }
          : e.type === 'step-progress'
            ? { step: e.step.id, index: e.step.index, file: e.file, done: e.done, total: e.total }
            : { ...e };
    // JSON.stringify escapes control characters, so host text cannot reach a terminal raw.
    this.out.write(JSON.stringify({ ...detail, ...base }) + '\n');
  }
  async done(): Promise<void> {}
}

