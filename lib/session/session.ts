// The contract every transport implements: local now, ssh and winrm behind the same interface.
import type { OsName } from '../definitions.ts';
import type { InvocationContext, StepSummary } from '../script.ts';

export type Transport = 'local' | 'ssh' | 'winrm' | 'import';

export interface TargetInfo {
  /** What the responder named (`--target`), or the hostname for the local host. */
  name: string;
  hostname: string;
  os: OsName;
  osVersion: string;
  psVersion: string;
  psEdition: string;
  user: string;
  admin: boolean;
  transport: Transport;
  /** Target clock minus responder clock, from the probe (ms, round-trip corrected). */
  clockSkewMs: number;
}

export type RunOutcome = 'completed' | 'timeout' | 'aborted' | 'host-lost';

export interface SessionRun {
  outcome: RunOutcome;
  summary?: StepSummary;
  /** What reached the host's own stdout/stderr besides the summary (bounded; the step's streams are in files). */
  hostOutput: string;
  /** A local folder holding what the step wrote on the target: records.jsonl, stdout.log, stderr.log, files/. */
  fetched?: string;
  /** Why the fetch failed, when it did; the run result still stands. */
  fetchError?: string;
  durationMs: number;
}

export interface RunOptions {
  timeoutMs: number;
  signal?: AbortSignal;
  /** Helper programs to push for this step: name → local file (already hash-checked). */
  tools?: Record<string, { file: string; sha256: string }>;
}

export interface Session {
  readonly info: TargetInfo;
  /** Runs one composed script with its parameters; stops it at the timeout; brings its staging folder back. */
  run(script: string, params: InvocationContext['params'], opts: RunOptions): Promise<SessionRun>;
  /** Removes a fetched folder once the evidence writer has taken what it holds. */
  release(fetched: string): Promise<void>;
  close(): Promise<void>;
}
