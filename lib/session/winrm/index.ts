// The WinRM transport: the Session, and its building blocks — the HTTP endpoint (NTLM with
// message encryption on 5985; NTLM with channel binding or Basic on 5986), the Remote Shell, one
// long-lived PowerShell in it, files through it, and the errors a caller tells apart.
export { WinrmSession, type WinrmSessionOptions } from './session.ts';
export { WinrmHttp, type WinrmHttpOptions, type WinrmScheme, type WinrmAuthMethod } from './http.ts';
export { WinrmShell, type WinrmShellOptions, type CommandResult } from './shell.ts';
export { WinrmPowerShell, PowerShellEndedError, type PowerShellReply } from './remote-powershell.ts';
export { POWERSHELL_ARGS, POWERSHELL_COMMAND, DEFAULT_MAX_ENVELOPE_SIZE, describeFault, type WsmanFault } from './soap.ts';
export { certificateSha256, normalizePin } from './tls.ts';
export type { NtlmCredentials } from './ntlm.ts';
export {
  WinrmError,
  WinrmUnreachableError,
  WinrmAuthError,
  WinrmTlsError,
  WinrmTimeoutError,
  WinrmDroppedError,
  WinrmFaultError,
  WinrmProtocolError,
  WinrmShellError,
  type WinrmErrorCode,
  type WinrmShellProblem,
} from './errors.ts';
