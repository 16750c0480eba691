// Wireshark's tshark as the dissector of captures (never a parser of our own): one process per
// pass, its field output read line by line, so a capture of any size is streamed, never held.
import { spawn, spawnSync } from 'node:child_process';
import { createInterface } from 'node:readline';

/** Where tshark is: MAGPIE_TSHARK, else the PATH; undefined when it is not installed. */
export function findTshark(): string | undefined {
  const named = process.env.MAGPIE_TSHARK;
  if (named) return named;
  const r = spawnSync('tshark', ['--version'], { encoding: 'utf8' });
  return r.status === 0 ? 'tshark' : undefined;
}

export const TSHARK_MISSING = "tshark (Wireshark's dissector) is not installed: install it with apt-get install tshark (Debian/Ubuntu), dnf install wireshark-cli (RHEL/Fedora) or Wireshark on Windows and macOS, or name it in MAGPIE_TSHARK";

export function tsharkVersion(tshark: string): string | undefined {
  const r = spawnSync(tshark, ['--version'], { encoding: 'utf8' });
  return r.status === 0 ? r.stdout.split('\n')[0].trim() : undefined;
}

/**
 * Runs tshark over one capture and yields each packet's fields, in the order asked, as strings
 * ('' when the packet has none; several occurrences joined by ','). Throws with tshark's own
 * words when it fails (a damaged or unknown file).
 */
export async function* tsharkFields(tshark: string, file: string, fields: readonly string[], opts: { filter?: string; signal?: AbortSignal } = {}): AsyncGenerator<string[]> {
  // -M: tshark forgets its conversations every 100,000 packets, so its memory stays bounded on a
  // capture of any size (callers key conversations by their ends, not tshark's numbers).
  const args = ['-r', file, '-n', '-M', '100000', '-T', 'fields', '-E', 'separator=/t', '-E', 'occurrence=a', '-E', 'aggregator=,', '-E', 'quote=n'];
  if (opts.filter) args.push('-Y', opts.filter);
  for (const f of fields) args.push('-e', f);
  const child = spawn(tshark, args, { stdio: ['ignore', 'pipe', 'pipe'], signal: opts.signal });
  let stderr = '';
  child.stderr.setEncoding('utf8');
  child.stderr.on('data', (d: string) => {
    if (stderr.length < 8192) stderr += d;
  });
  const exited = new Promise<number | null>((resolve, reject) => {
    child.on('error', reject);
    child.on('close', (code) => resolve(code));
  });
  const lines = createInterface({ input: child.stdout, crlfDelay: Infinity });
  let read = false;
  try {
    for await (const line of lines) if (line) yield line.split('\t');
    read = true;
  } finally {
    // Stopped early by the caller: tshark goes too.
    if (!read && child.exitCode === null) child.kill();
  }
  const code = await exited;
  if (code === null) throw new Error(`tshark was killed while reading ${file} (out of memory?): ${stderr.trim().slice(0, 300)}`);
  // tshark exits 2 after a capture cut off mid-packet (a capture stopped by a kill): what it read stands.
  const real = stderr
    .split('\n')
    .filter((l) => l.trim() && !/running as user "root"|could be dangerous|cut short in the middle of a packet|^resetting session/i.test(l))
    .join('\n');
  if (code !== 0 && real) throw new Error(`tshark could not read ${file}: ${real.trim().slice(0, 500)}`);
}
