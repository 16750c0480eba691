// Progress for many hosts on a terminal: one counter line (done / running / failed / queued) and
// the hosts running now with their current step, redrawn in place, so 500 hosts never scroll the
// screen away. Finished hosts are listed in the summary at the end.
import ora, { type Ora } from 'ora';
import type { Plan } from './plan.ts';
import type { RunEvent } from './runner.ts';
import { megabytes, type Reporter } from './progress.ts';
import { safeLine } from './text.ts';

const SHOWN = 12;

export class CounterReporter implements Reporter {
  private running = new Map<string, string>();
  private finished = 0;
  private failed = 0;
  private spinner: Ora;

  constructor(
    private plan: Plan,
    private targets: string[],
    stream: NodeJS.WriteStream,
  ) {
    this.spinner = ora({ text: this.text(), stream, discardStdin: false }).start();
  }

  /** The counter line and the running hosts, as drawn. */
  text(): string {
    const queued = this.targets.length - this.finished - this.running.size;
    const head = `${this.finished} done (${this.failed} failed) · ${this.running.size} running · ${queued} queued of ${this.targets.length}`;
    const rows = [...this.running].slice(0, SHOWN).map(([host, step]) => `  ${safeLine(host, 40)}  ${step}`);
    if (this.running.size > SHOWN) rows.push(`  … ${this.running.size - SHOWN} more`);
    return [head, ...rows].join('\n');
  }

  onEvent(e: RunEvent): void {
    if (e.type === 'host-started') this.running.set(e.host, 'connecting');
    if (e.type === 'step-started') this.running.set(e.host, `${e.step.index}/${this.plan.steps.length} ${e.step.id}`);
    if (e.type === 'step-progress') this.running.set(e.host, `${e.step.index}/${this.plan.steps.length} ${e.step.id} fetching ${megabytes(e.done)} of ${megabytes(e.total)}`);
    if (e.type === 'host-ended') {
      this.running.delete(e.host);
      this.finished++;
      if (e.state !== 'complete' && e.state !== 'resumed') this.failed++;
    }
    this.spinner.text = this.text();
  }

  async done(): Promise<void> {
    this.spinner.stop();
  }
}
