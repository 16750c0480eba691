// Claims a new folder named for a time stamp, atomically: mkdir without `recursive` fails when
// the name exists, so two runs in the same second never share (or overwrite) a folder.
import { existsSync, mkdirSync } from 'node:fs';
import { join } from 'node:path';

/** `<parent>/<stamp>[-N]<suffix>`; a name whose plain form (without suffix) exists is skipped too. */
export function claimStampedDir(parent: string, stamp: string, suffix = ''): string {
  mkdirSync(parent, { recursive: true });
  for (let n = 1; ; n++) {
    const name = join(parent, n === 1 ? stamp : `${stamp}-${n}`);
    if (existsSync(name)) continue;
    try {
      mkdirSync(name + suffix);
      return name + suffix;
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code !== 'EEXIST') throw e;
    }
  }
}
