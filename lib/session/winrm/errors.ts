// Why a WinRM target could not be used (see RemoteError); messages never hold a secret (no
// password, no NTLM hash, no Authorization header).
import { RemoteError } from '../remote-error.ts';

export type WinrmErrorCode = 'unreachable' | 'auth-failed' | 'tls' | 'timeout' | 'dropped' | 'fault' | 'protocol' | 'shell';

export abstract class WinrmError extends RemoteError<WinrmErrorCode> {}

/** No TCP connection, or no WinRM listener on that port (refused, no route, name not found, not HTTP). */
export class WinrmUnreachableError extends WinrmError {
  readonly code = 'unreachable';
}

/** The server refused the credentials (HTTP 401 after the handshake), or offers no method Magpie will use. */
export class WinrmAuthError extends WinrmError {
  readonly code = 'auth-failed';
}

/** HTTPS: the certificate did not validate against the system store, --winrm-ca or the pinned SHA-256. */
export class WinrmTlsError extends WinrmError {
  readonly code = 'tls';
}

/** A deadline passed: connecting, one request, or a step. */
export class WinrmTimeoutError extends WinrmError {
  readonly code = 'timeout';
}

/** The connection or the shell went away after it was established. */
export class WinrmDroppedError extends WinrmError {
  readonly code = 'dropped';
}

/** The service answered with a SOAP fault: the WSMan code and what it means are in the message. */
export class WinrmFaultError extends WinrmError {
  readonly code = 'fault';
  constructor(
    host: string,
    port: number,
    message: string,
    /** The WSManFault Code (e.g. 5 access denied, 2150858843 shell quota), when the fault carries one. */
    readonly wsmanCode: number | undefined,
    /** The SOAP subcode, e.g. `w:AccessDenied`, `w:QuotaLimit`, `w:EncodingLimit`. */
    readonly subcode: string | undefined,
  ) {
    super(host, port, message);
  }
}

/** The server's answer is not the WinRM Magpie speaks: malformed XML or framing, a bad signature, an unexpected action. */
export class WinrmProtocolError extends WinrmError {
  readonly code = 'protocol';
}

export type WinrmShellProblem = 'missing' | 'constrained-language' | 'too-old' | 'probe-failed' | 'uac-filtered';

/** The target's PowerShell cannot run steps (as SshShellError), or an admin token is UAC-filtered over the network. */
export class WinrmShellError extends WinrmError {
  readonly code = 'shell';
  constructor(
    host: string,
    port: number,
    message: string,
    readonly problem: WinrmShellProblem,
  ) {
    super(host, port, message);
  }
}

/**
 * A message that cannot be decoded (framing, XML, envelope), raised by the host-agnostic codec
 * modules; the HTTP layer turns it into a WinrmProtocolError naming the host.
 */
export class WinrmMessageError extends Error {
  readonly code = 'malformed';
  constructor(message: string) {
    super(message);
    this.name = 'WinrmMessageError';
  }
}
