// Shows a run as it happens: a listr2 tree of host × step on a terminal, plain timestamped
// lines otherwise, JSON lines for machines. Every host-derived text passes through safeLine.
import { Listr, type ListrTask } from 'listr2';
import type { Plan } from './plan.ts';
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

const seconds = (ms: number) => `${(ms / 1000).toFixed(1)}s`;

export function describeEvent(e: RunEvent): string | undefined {
  const host = safeLine(e.host, 80);
  switch (e.type) {
    case 'host-started':
      return `${host}: connecting`;
    case 'host-opened':
      return `${host}: ${safeLine(e.hostname, 80)} (${e.os}) → ${safeLine(e.dir)}`;
    case 'step-started':
      return undefined;
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
      e.type === 'step-started' ? { step: e.step.id, index: e.step.index } : e.type === 'step-ended' ? { step: e.step.id, index: e.step.index, status: e.status, reason: e.reason, records: e.records, durationMs: e.durationMs } : { ...e };
    // JSON.stringify escapes control characters, so host text cannot reach a terminal raw.
    this.out.write(JSON.stringify({ ...detail, ...base }) + '\n');
  }
  async done(): Promise<void> {}
}

interface Waiter {
  promise: Promise<Extract<RunEvent, { type: 'step-ended' }> | { skipped: string }>;
  resolve: (v: Extract<RunEvent, { type: 'step-ended' }> | { skipped: string }) => void;
}

export class TreeReporter implements Reporter {
  private waiters = new Map<string, Waiter>();
  private hostTitles = new Map<string, (t: string) => void>();
  private finished: Promise<unknown>;

  constructor(plan: Plan, targets: string[]) {
    const waiter = (): Waiter => {
      let resolve!: Waiter['resolve'];
      const promise = new Promise<Parameters<Waiter['resolve']>[0]>((r) => (resolve = r));
      return { promise, resolve };
    };
    for (const t of targets) for (const s of plan.steps) this.waiters.set(`${t}\u0000${s.index}`, waiter());
    const tasks: ListrTask[] = targets.map((target) => ({
      title: safeLine(target, 80),
      task: (_ctx, hostTask) => {
        this.hostTitles.set(target, (t) => (hostTask.title = t));
        return hostTask.newListr(
          plan.steps.map((step) => ({
            title: `${step.id}`,
            task: async (_c, stepTask) => {
              const r = await this.waiters.get(`${target}\u0000${step.index}`)!.promise;
              if ('skipped' in r) return stepTask.skip(`${step.id}: ${safeLine(r.skipped)}`);
              const detail = `${r.records} records, ${seconds(r.durationMs)}`;
              if (r.status === 'skipped') return stepTask.skip(`${step.id}: ${safeLine(r.reason ?? '')}`);
              if (r.status !== 'ok') throw new Error(`${step.id} ${r.status}: ${safeLine(r.reason ?? '')} (${detail})`);
              stepTask.title = `${step.id} (${detail})`;
            },
          })),
          { concurrent: false, exitOnError: false },
        );
      },
    }));
    const list = new Listr(tasks, { concurrent: true, exitOnError: false, rendererOptions: { collapseSubtasks: false, collapseSkips: false } });
    this.finished = list.run().catch(() => undefined);
  }

  onEvent(e: RunEvent): void {
    if (e.type === 'host-opened') this.hostTitles.get(e.host)?.(`${safeLine(e.host, 80)} — ${safeLine(e.hostname, 80)} (${e.os})`);
    if (e.type === 'step-ended') this.waiters.get(`${e.host}\u0000${e.step.index}`)?.resolve(e);
    if (e.type === 'host-ended') {
      // Only a host that did not finish normally gets a new title: a title changed after the
      // tree is done makes listr2 draw it twice.
      if (e.error || e.state !== 'complete') this.hostTitles.get(e.host)?.(`${safeLine(e.host, 80)} — ${e.state}${e.error ? `: ${safeLine(e.error)}` : ''}`);
      // A host that never opened (or stopped early) releases every step still waiting.
      for (const [key, w] of this.waiters) if (key.startsWith(`${e.host}\u0000`)) w.resolve({ skipped: e.error ?? 'not run' });
    }
  }

  async done(): Promise<void> {
    await this.finished;
  }
}
