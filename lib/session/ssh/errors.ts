// Why an SSH target could not be used (see RemoteError); ssh2's own errors hold no secret either.
import { RemoteError } from '../remote-error.ts';

export type SshErrorCode = 'unreachable' | 'auth-failed' | 'host-key' | 'timeout' | 'dropped' | 'shell';

export abstract class SshError extends RemoteError<SshErrorCode> {}

/** No TCP connection: refused, no route, name not found, or the SSH handshake never started. */
export class SshUnreachableError extends SshError {
  readonly code = 'unreachable';
}

/** The server refused every authentication method Magpie offered. */
export class SshAuthError extends SshError {
  readonly code = 'auth-failed';
}

export type HostKeyProblem = 'unknown' | 'changed' | 'revoked';

/** The host key is not the one known_hosts holds for this host (or there is none and new keys are not accepted). */
export class SshHostKeyError extends SshError {
  readonly code = 'host-key';
  constructor(
    host: string,
    port: number,
    message: string,
    readonly problem: HostKeyProblem,
    /** `SHA256:<base64>` as `ssh-keygen -l` prints it. */
    readonly fingerprint: string,
    readonly keyType: string,
  ) {
    super(host, port, message);
  }
}

/** A deadline passed: the handshake, a remote command, or a transfer that stopped moving. */
export class SshTimeoutError extends SshError {
  readonly code = 'timeout';
}

/** The connection closed under us after it was established. */
export class SshDroppedError extends SshError {
  readonly code = 'dropped';
}

export type ShellProblem = 'missing' | 'constrained-language' | 'too-old' | 'probe-failed';

/** The target's PowerShell cannot run steps: absent (or not PowerShell), too old, locked into Constrained Language Mode, or its probe failed. */
export class SshShellError extends SshError {
  readonly code = 'shell';
  constructor(
    host: string,
    port: number,
    message: string,
    readonly problem: ShellProblem,
  ) {
    super(host, port, message);
  }
}
