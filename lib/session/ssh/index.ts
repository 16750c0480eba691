// The SSH transport's public face: the session, its options, and the errors a caller tells apart.
export { SshSession, type SshSessionOptions } from './session.ts';
export type { SshAuth, SshConnectOptions } from './connect.ts';
export {
  SshError,
  SshUnreachableError,
  SshAuthError,
  SshHostKeyError,
  SshTimeoutError,
  SshDroppedError,
  SshShellError,
  type SshErrorCode,
  type HostKeyProblem,
  type ShellProblem,
} from './errors.ts';
export { fingerprint, defaultKnownHostsFile } from './known-hosts.ts';
