// Who runs Magpie on this machine. os.userInfo() throws when the uid has no passwd entry
// (containers, some responder jump boxes), so it is asked in one place, with a fallback.
import { hostname, userInfo } from 'node:os';

export function localUser(): { username: string; uid: number } {
  const uid = process.getuid?.() ?? -1;
  try {
    return { username: userInfo().username, uid };
  } catch {
    return { username: process.env.USER ?? process.env.USERNAME ?? (uid >= 0 ? `uid ${uid}` : 'unknown'), uid };
  }
}

/** Who acts in a custody entry: `operator@workstation` (the operator defaults to the local user). */
export function custodyActor(operator?: string): string {
  return `${operator ?? localUser().username}@${hostname()}`;
}
