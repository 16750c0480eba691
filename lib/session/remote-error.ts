// Why a remote target could not be used, as distinct classes: fan-out gives each host its own
// state (unreachable, auth-failed, ...) and a caller must not have to parse messages for it.
// Messages name the host and what to do; they never hold a secret. Each transport (ssh, winrm)
// extends this with its own codes.

export abstract class RemoteError<Code extends string = string> extends Error {
  abstract readonly code: Code;
  constructor(
    readonly host: string,
    readonly port: number,
    message: string,
  ) {
    super(message);
    this.name = new.target.name;
  }
}
