// A local pwsh started before the rest of the CLI loads: PowerShell's start-up is the largest
// fixed cost of a local run, and this way it overlaps Node's own.
import { PwshHost } from './pwsh-host.ts';

let warm: PwshHost | undefined;

export function prestartHost(): void {
  try {
    warm = new PwshHost();
  } catch {
    warm = undefined; // no pwsh: the session will say so, with the install hint
  }
}

/** Hands the warm host to the first session that wants one. */
export function takeWarmHost(): PwshHost | undefined {
  const h = warm;
  warm = undefined;
  return h?.alive ? h : undefined;
}

export async function releaseWarmHost(): Promise<void> {
  await takeWarmHost()?.close();
}
