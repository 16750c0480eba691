// SFTP with a deadline on every request, and transfers that stream: a file never sits whole in
// memory, and a transfer may take as long as it needs while it keeps moving.
import { createHash } from 'node:crypto';
import { createReadStream } from 'node:fs';
import { open as openLocal } from 'node:fs/promises';
import { pipeline } from 'node:stream/promises';
import type { Client, SFTPWrapper, Stats } from 'ssh2';
import { idleTimer, withDeadline } from '../deadline.ts';
import type { RemoteEntry, StageFiles } from '../stage.ts';

/** Read size and how many reads are in flight: 1 MiB buffered per file, enough to fill a fast link. */
const CHUNK = 64 * 1024;
const WINDOW = 16;

export class RemoteFiles implements StageFiles {
  readonly parallel = 4;
  private constructor(
    private sftp: SFTPWrapper,
    /** Deadline for one request, and for a transfer that stops moving. */
    private ms: number,
    private timeout: (what: string) => Error,
  ) {}

  static async open(client: Client, ms: number, timeout: (what: string) => Error): Promise<RemoteFiles> {
    const sftp = await withDeadline(
      new Promise<SFTPWrapper>((resolve, reject) => {
        try {
          client.sftp((err, s) => (err ? reject(err) : resolve(s)));
        } catch (e) {
          reject(e);
        }
      }),
      ms,
      () => timeout('starting SFTP'),
    );
    return new RemoteFiles(sftp, ms, timeout);
  }

  private req<T>(what: string, fn: (cb: (err: Error | undefined | null, v?: T) => void) => void): Promise<T> {
    return withDeadline(
      new Promise<T>((resolve, reject) => {
        try {
          fn((err, v) => (err ? reject(err) : resolve(v as T)));
        } catch (e) {
          reject(e);
        }
      }),
      this.ms,
      () => this.timeout(`SFTP ${what}`),
    );
  }

  realpath(p: string): Promise<string> {
    return this.req('realpath', (cb) => this.sftp.realpath(p, cb));
  }
  mkdir(p: string, mode = 0o700): Promise<void> {
    return this.req('mkdir', (cb) => this.sftp.mkdir(p, { mode }, cb));
  }
  unlink(p: string): Promise<void> {
    return this.req('unlink', (cb) => this.sftp.unlink(p, cb));
  }
  rmdir(p: string): Promise<void> {
    return this.req('rmdir', (cb) => this.sftp.rmdir(p, cb));
  }
  lstat(p: string): Promise<Stats> {
    return this.req('lstat', (cb) => this.sftp.lstat(p, cb));
  }

  /** Every entry under `root`, by lstat: links and special files are listed as 'other', never followed. */
  async list(root: string): Promise<RemoteEntry[]> {
    const out: RemoteEntry[] = [];
    // Sibling folders are read at once: each readdir is several round trips (open, read, close).
    const walk = async (dir: string, prefix: string): Promise<void> => {
      const entries = await this.req<{ filename: string; attrs: Stats }[]>('readdir', (cb) => this.sftp.readdir(dir, cb));
      const subdirs: Promise<void>[] = [];
      for (const e of entries) {
        if (e.filename === '.' || e.filename === '..') continue;
        if (/[\\/\0]/.test(e.filename)) throw new Error(`the target listed an impossible file name under ${dir}: ${JSON.stringify(e.filename)}`);
        const rel = prefix ? `${prefix}/${e.filename}` : e.filename;
        const kind = e.attrs.isDirectory() ? 'dir' : e.attrs.isFile() ? 'file' : 'other';
        out.push({ rel, kind, size: Number(e.attrs.size ?? 0) });
        if (kind === 'dir') subdirs.push(walk(`${dir}/${e.filename}`, rel));
      }
      await Promise.all(subdirs);
    };
    await walk(root, '');
    return out.sort((a, b) => (a.rel < b.rel ? -1 : a.rel > b.rel ? 1 : 0));
  }

  /** Removes what `list` found under `root`, then `root`: files and links first, then folders deepest first. */
  async removeTree(root: string, entries: RemoteEntry[]): Promise<void> {
    await Promise.all(entries.filter((e) => e.kind !== 'dir').map((e) => this.unlink(`${root}/${e.rel}`)));
    const byDepth = new Map<number, string[]>();
    for (const e of entries) if (e.kind === 'dir') byDepth.set(e.rel.split('/').length, [...(byDepth.get(e.rel.split('/').length) ?? []), e.rel]);
    for (const depth of [...byDepth.keys()].sort((a, b) => b - a)) await Promise.all(byDepth.get(depth)!.map((rel) => this.rmdir(`${root}/${rel}`)));
    await this.rmdir(root);
  }

  /** Uploads a local file, created exclusively on the target with `mode`. */
  async push(localFile: string, remote: string, mode: number): Promise<void> {
    const dest = this.sftp.createWriteStream(remote, { flags: 'wx', mode });
    const src = createReadStream(localFile, { highWaterMark: CHUNK * 4 });
    const idle = idleTimer(this.ms, () => src.destroy(this.timeout(`upload to ${remote}`)));
    src.on('data', () => idle.touch());
    try {
      await pipeline(src, dest);
    } finally {
      idle.stop();
    }
  }

  /**
   * Downloads a regular file into a new local file, hashing on the way. Several reads are in
   * flight at once (one at a time would cost a round trip per 64 KiB), issued with the fstat that
   * checks the handle: the server answers in order, so nothing is written before that check.
   * `listedSize` (from list()) sizes the first window; an empty file costs no request at all.
   */
  async fetch(remote: string, localFile: string, listedSize: number, onProgress?: (done: number, total: number) => void): Promise<{ size: number; sha256: string }> {
    const hash = createHash('sha256');
    const local = await openLocal(localFile, 'wx', 0o600);
    if (listedSize === 0) {
      await local.close();
      return { size: 0, sha256: hash.digest('hex') };
    }
    let handle: Buffer | undefined;
    try {
      handle = await this.req<Buffer>('open', (cb) => this.sftp.open(remote, 'r', cb));
      const h = handle;
      const stat = this.req<Stats>('fstat', (cb) => this.sftp.fstat(h, cb));
      stat.catch(() => undefined);
      const readAt = (pos: number, len: number) =>
        this.req<Buffer>('read', (cb) => {
          const buf = Buffer.allocUnsafe(len);
          this.sftp.read(h, buf, 0, len, pos, (err, n) => cb(err, buf.subarray(0, n)));
        });
      const queue: Promise<Buffer>[] = [];
      let next = 0;
      let size = 0;
      let expected = listedSize;
      const ask = () => {
        const p = readAt(next, CHUNK);
        p.catch(() => undefined); // awaited in order below; this only keeps a late failure quiet
        queue.push(p);
        next += CHUNK;
      };
      // Up to the expected size and one read past it (which finds the end); never a full window for a small file.
      const fill = () => {
        while (queue.length < WINDOW && (next <= expected || queue.length === 0)) ask();
      };
      fill();
      const st = await stat;
      // The listing said "file"; a link swapped in since would have been opened through: refuse it.
      if (!st.isFile()) throw new Error(`${remote} is no longer a regular file`);
      expected = Number(st.size ?? expected);
      for (;;) {
        fill();
        let buf = await queue.shift()!;
        let eof = buf.length === 0 || (buf.length < CHUNK && size + buf.length >= expected);
        // A short read before the end is a server that reads less: fill this chunk before going on.
        while (!eof && buf.length < CHUNK) {
          const more = await readAt(size + buf.length, CHUNK - buf.length);
          if (!more.length) eof = true;
          else buf = Buffer.concat([buf, more]);
        }
        if (buf.length) {
          hash.update(buf);
          await local.write(buf);
          size += buf.length;
          onProgress?.(size, Math.max(expected, size));
        }
        if (eof) break;
      }
      await Promise.allSettled(queue);
      return { size, sha256: hash.digest('hex') };
    } finally {
      await local.close();
      const h = handle;
      if (h) await this.req('close', (cb) => this.sftp.close(h, cb)).catch(() => undefined);
    }
  }

  end(): void {
    this.sftp.end();
  }
}
