// libyal's evtxexport (Debian's libevtx-utils), which `magpie import evtx` runs: installed with
// apt-get when missing and we are root, else a failure that says how to install it.
import { spawnSync } from 'node:child_process';

const found = (): string | null => {
  const r = spawnSync('sh', ['-c', 'command -v evtxexport'], { encoding: 'utf8' });
  return r.status === 0 && r.stdout.trim() ? r.stdout.trim() : null;
};

/** The path of evtxexport, installing libevtx-utils first when it is missing (as root). */
export function evtxexportOrFail(): string {
  const have = process.env.MAGPIE_EVTXEXPORT ?? found();
  if (have) return have;
  const env = { ...process.env, DEBIAN_FRONTEND: 'noninteractive' };
  let said = '';
  if (process.getuid?.() === 0) {
    let r = spawnSync('apt-get', ['install', '-y', '--no-install-recommends', 'libevtx-utils'], { encoding: 'utf8', env });
    if (r.status !== 0) {
      spawnSync('apt-get', ['update'], { encoding: 'utf8', env });
      r = spawnSync('apt-get', ['install', '-y', '--no-install-recommends', 'libevtx-utils'], { encoding: 'utf8', env });
    }
    said = ` apt-get said: ${(r.stderr || r.stdout || String(r.error)).trim().slice(-400)}`;
  } else said = ' (not root, so not installed here)';
  const now = found();
  if (now) return now;
  throw new Error(`The .evtx import tests need libyal's evtxexport: run \`apt-get install -y libevtx-utils\` (as root), or set MAGPIE_EVTXEXPORT to it.${said}`);
}
