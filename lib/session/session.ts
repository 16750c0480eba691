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
  /** Windows: in Administrators, but this network logon's token is UAC-filtered (a local account, LocalAccountTokenFilterPolicy=0). */
  adminFiltered?: boolean;
  transport: Transport;
  /** Target clock minus responder clock, from the probe (ms, round-trip corrected). */
  clockSkewMs: number;
  /** How a remote target was reached; recorded in the manifest (never a secret). */
  connection?: ConnectionInfo;
}

export interface ConnectionInfo {
  address: string;
  port: number;
  /** The account Magpie logged in as. */
  user: string;
  /** e.g. publickey, password, agent, ntlm, basic, kerberos. */
  authMethod: string;
  /** SSH: `SHA256:<base64>` of the host key, as ssh-keygen -l prints it. */
  hostKeySha256?: string;
  /** SSH: how the host key was trusted: known_hosts, or accepted-new (recorded on first use). */
  hostKeyTrust?: 'known_hosts' | 'accepted-new';
  /** The remote PowerShell that ran the steps (e.g. pwsh, powershell.exe). */
  shell?: string;
  /** WinRM: http or https. */
  scheme?: string;
  /** WinRM: the WS-Management URL. */
  endpoint?: string;
  /** WinRM: NTLM-sealed messages over HTTP, or TLS. */
  security?: 'http-message-encryption' | 'https';
  /** WinRM over HTTPS: SHA-256 (hex) of the server certificate. */
  certificateSha256?: string;
}

export type RunOutcome = 'completed' | 'timeout' | 'aborted' | 'host-lost';

export interface SessionRun {
  outcome: RunOutcome;
  summary?: StepSummary;
  /** What reached the host's own stdout/stderr besides the summary (bounded; the step's streams are in files). */
  hostOutput: string;
  /** Why bringing the step's output into `stageDir` failed or was incomplete, when it did; the run result still stands. */
  fetchError?: string;
  durationMs: number;
}

export interface RunOptions {
  timeoutMs: number;
  /**
   * An empty local folder inside the evidence folder (`.staging/NN-id`) that holds what the step
   * wrote when run() returns: records.jsonl, stdout.log, stderr.log, files/. The runner created it
   * and removes it once the evidence writer has copied and hashed its content. Staging inside the
   * evidence folder means a crash leaves everything in one place that `verify` can describe.
   */
  stageDir: string;
  signal?: AbortSignal;
  /** Helper programs to push for this step: name → local file (already hash-checked). */
  tools?: Record<string, { file: string; sha256: string }>;
  /** A large file on its way home (a transport calls it as bytes arrive; the runner throttles it). */
  onProgress?: (p: TransferProgress) => void;
}

export interface TransferProgress {
  /** Relative to the step's folder, '/'-separated (text from the host: escape before display). */
  file: string;
  done: number;
  total: number;
}

export interface Session {
  readonly info: TargetInfo;
  /**
   * Runs one composed script with its parameters; stops it (its whole process tree on the target)
   * at the timeout or on abort; brings what it wrote into `opts.stageDir`. Never hangs: every
   * call to the target has a deadline.
   */
  run(script: string, params: InvocationContext['params'], opts: RunOptions): Promise<SessionRun>;
  /** Why the session can run nothing more (a remote connection that dropped); undefined while it can. */
  lostReason?(): string | undefined;
  close(): Promise<void>;
}
