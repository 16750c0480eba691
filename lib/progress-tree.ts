// The listr2 tree of host × step for a terminal. Loaded on demand: listr2 costs start-up time
// that plain and JSON output do not need.
import { Listr, type ListrTask } from 'listr2';
import type { Plan } from './plan.ts';
import type { RunEvent } from './runner.ts';
import { megabytes, seconds, type Reporter } from './progress.ts';
import { safeLine } from './text.ts';

interface Waiter {
  promise: Promise<Extract<RunEvent, { type: 'step-ended' }> | { skipped: string }>;
  resolve: (v: Extract<RunEvent, { type: 'step-ended' }> | { skipped: string }) => void;
}

export class TreeReporter implements Reporter {
  private waiters = new Map<string, Waiter>();
  private hostTitles = new Map<string, (t: string) => void>();
  private stepOutputs = new Map<string, (t: string) => void>();
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
              this.stepOutputs.set(`${target}\u0000${step.index}`, (t) => (stepTask.output = t));
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
    // Ctrl-C is the CLI's to handle (stop the step, seal the folder); listr2 would exit at once.
    const list = new Listr(tasks, { concurrent: true, exitOnError: false, registerSignalListeners: false, rendererOptions: { collapseSubtasks: false, collapseSkips: false } });
    this.finished = list.run().catch(() => undefined);
  }

  onEvent(e: RunEvent): void {
    if (e.type === 'host-opened') this.hostTitles.get(e.host)?.(`${safeLine(e.host, 80)} — ${safeLine(e.hostname, 80)} (${e.os})`);
    if (e.type === 'step-progress') this.stepOutputs.get(`${e.host}\u0000${e.step.index}`)?.(`fetching ${safeLine(e.file, 80)} ${megabytes(e.done)} of ${megabytes(e.total)}`);
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
