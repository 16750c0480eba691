// Files through the Remote Shell's PowerShell (WinRM has no file channel). A fetch is one request
// whose output is the file itself: the target writes it to its raw stdout as binary blocks, each
// behind a header line with its offset, length and SHA-256, then the whole file's SHA-256; the
// responder writes each block to a `.part` file as it arrives, checks it, and compares the whole.
// No request per chunk and no base64 of our own (the SOAP stream is base64 already), so the
// target keeps reading while the responder writes. A broken transfer resumes after the prefix
// both ends agree on. Runners without streaming (and pushes) go a chunk per request, as base64.
// Memory stays at about one chunk whatever the file's size. Lines stay PowerShell 5.1 compatible.
import { createHash, type Hash } from 'node:crypto';
import { closeSync, createReadStream, existsSync, ftruncateSync, openSync, readSync, renameSync, statSync, truncateSync, unlinkSync, writeSync } from 'node:fs';
import { stripConsoleModes } from '../../text.ts';
import type { StdoutSink } from './remote-powershell.ts';

/** Sends one PowerShell line and returns what it printed (WinrmPowerShell fits). */
export interface LineRunner {
  call(line: string): Promise<{ stdout: string; stderr: string }>;
  /** Sends one line whose stdout goes, as bytes, to `sink` (a fetch streams through it when present). */
  stream?(line: string, sink: StdoutSink): Promise<{ stdout: string; stderr: string }>;
}

export class FileTransferError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'FileTransferError';
  }
}

export interface TransferOptions {
  /** Bytes per chunk (default 1 MiB). */
  chunkSize?: number;
  /** Fetch: the size a listing gave; a file that small comes in one request (hash and data together). */
  listedSize?: number;
  onProgress?: (done: number, total: number) => void;
}

export interface TransferResult {
  size: number;
  sha256: string;
  /** Bytes already verified from an earlier, broken transfer. */
  resumedFrom: number;
  bytesPerSecond: number;
}

const b64 = (s: string) => Buffer.from(s, 'utf8').toString('base64');
/** PowerShell for "the path, decoded": nothing in a path can be read as code. */
const pathExpr = (p: string) => `[Text.Encoding]::UTF8.GetString([Convert]::FromBase64String('${b64(p)}'))`;
const HEX = `[BitConverter]::ToString($h).Replace('-','')`;

function field(stdout: string, tag: string): string | undefined {
  return new RegExp(`${tag}:(\\S*)`).exec(stdout)?.[1];
}

function fail(what: string, reply: { stdout: string; stderr: string }): never {
  const said = (reply.stderr || reply.stdout).replace(/\s+/g, ' ').trim().slice(0, 300);
  throw new FileTransferError(`${what}${said ? `: ${said}` : ''}`);
}

/** Size and SHA-256 of the first `length` bytes (all when omitted) of a file on the target. */
export async function remoteHash(ps: LineRunner, path: string, length?: number): Promise<{ size: number; sha256: string }> {
  const line =
    `$ErrorActionPreference='Stop'; $p=${pathExpr(path)}; $f=[IO.File]::Open($p,'Open','Read','ReadWrite'); try { ` +
    `$n=${length === undefined ? '$f.Length' : `[Math]::Min([int64]${length},$f.Length)`}; $s=[Security.Cryptography.SHA256]::Create(); $b=New-Object byte[] 1048576; $left=$n; ` +
    `while ($left -gt 0) { $r=$f.Read($b,0,[int][Math]::Min($b.Length,$left)); if ($r -le 0) { break }; [void]$s.TransformBlock($b,0,$r,$null,0); $left-=$r }; ` +
    `[void]$s.TransformFinalBlock($b,0,0); $h=$s.Hash; 'MAGPIE-SIZE:' + $f.Length; 'MAGPIE-HASHED:' + ($n-$left); 'MAGPIE-SHA256:' + ${HEX} } finally { $f.Dispose() }`;
  const reply = await ps.call(line);
  const size = field(reply.stdout, 'MAGPIE-SIZE');
  const sha = field(reply.stdout, 'MAGPIE-SHA256');
  const hashed = field(reply.stdout, 'MAGPIE-HASHED');
  if (size === undefined || !sha || hashed === undefined) fail(`cannot read ${path} on the target`, reply);
  return { size: Number(size), sha256: sha!.toLowerCase() };
}

function hashLocalPrefix(file: string, length: number): Promise<string> {
  return new Promise((resolve, reject) => {
    const h = createHash('sha256');
    if (length === 0) return resolve(h.digest('hex'));
    createReadStream(file, { start: 0, end: length - 1 })
      .on('data', (d) => h.update(d))
      .on('error', reject)
      .on('end', () => resolve(h.digest('hex')));
  });
}

/**
 * Fetches `remotePath` into `localFile` (through `localFile.part`, renamed when complete and
 * verified). An existing `.part` from a broken transfer is kept up to the last whole chunk whose
 * prefix hashes the same on both ends, and the transfer goes on from there.
 */
export async function fetchFile(ps: LineRunner, remotePath: string, localFile: string, o: TransferOptions = {}): Promise<TransferResult> {
  const chunk = o.chunkSize ?? 1024 * 1024;
  const started = performance.now();
  if (o.listedSize !== undefined && o.listedSize <= chunk && !existsSync(`${localFile}.part`)) {
    const small = await fetchSmall(ps, remotePath, localFile, chunk, started);
    if (small) return small;
  }
  const part = `${localFile}.part`;
  let offset = 0;
  if (existsSync(part)) {
    const have = statSync(part).size;
    const keep = have - (have % chunk);
    if (keep > 0 && (await remoteHash(ps, remotePath, keep)).sha256 === (await hashLocalPrefix(part, keep))) offset = keep;
    truncateSync(part, offset);
  }
  const resumedFrom = offset;
  const total = createHash('sha256');
  if (offset) {
    const fd = openSync(part, 'r');
    const buf = Buffer.alloc(Math.min(chunk, 1024 * 1024));
    for (let at = 0; at < offset; ) {
      const n = readSync(fd, buf, 0, Math.min(buf.length, offset - at), at);
      total.update(buf.subarray(0, n));
      at += n;
    }
    closeSync(fd);
  }

  const fd = openSync(part, offset ? 'r+' : 'w');
  let there: { size: number; sha256: string };
  try {
    there = ps.stream ? await streamBlocks(ps.stream.bind(ps), remotePath, fd, offset, chunk, total, o) : await fetchChunks(ps, remotePath, fd, offset, chunk, total, o);
  } finally {
    closeSync(fd);
  }
  const sha256 = total.digest('hex');
  if (sha256 !== there.sha256) {
    unlinkSync(part);
    throw new FileTransferError(`${remotePath}: SHA-256 ${sha256} here is not the target's ${there.sha256} (the file changed during the transfer?)`);
  }
  renameSync(part, localFile);
  const seconds = (performance.now() - started) / 1000;
  return { size: there.size, sha256, resumedFrom, bytesPerSecond: (there.size - resumedFrom) / Math.max(seconds, 1e-3) };
}

/** The streaming fetch: one request; returns the size and the whole file's SHA-256 the target read. */
async function streamBlocks(
  stream: NonNullable<LineRunner['stream']>,
  remotePath: string,
  fd: number,
  offset: number,
  chunk: number,
  total: Hash,
  o: TransferOptions,
): Promise<{ size: number; sha256: string }> {
  const reader = new BlockReader(fd, offset, total, o.onProgress);
  let reply: { stdout: string; stderr: string };
  try {
    reply = await stream(streamLine(remotePath, offset, chunk), reader);
  } finally {
    // Only verified blocks stay: a resume starts after them.
    ftruncateSync(fd, reader.verifiedEnd);
  }
  if (reader.error) throw reader.error;
  if (reader.size === undefined || !reader.end) fail(`cannot read ${remotePath} on the target${offset ? ` from byte ${offset}` : ''}`, { stdout: reader.text, stderr: reply.stderr });
  const { size, end } = reader;
  if (end!.count < size!) throw new FileTransferError(`${remotePath} shrank on the target during the transfer (${end!.count} of ${size} bytes)`);
  if (reader.verifiedEnd !== end!.count) throw new FileTransferError(`${remotePath}: ${reader.verifiedEnd} bytes arrived of the ${end!.count} the target sent`);
  return { size: end!.count, sha256: end!.sha256 };
}

/** Chunk by chunk, a request each, as base64 (for runners that cannot stream). */
async function fetchChunks(ps: LineRunner, remotePath: string, fd: number, offset: number, chunk: number, total: Hash, o: TransferOptions): Promise<{ size: number; sha256: string }> {
  const whole = await remoteHash(ps, remotePath);
  o.onProgress?.(offset, whole.size);
  while (offset < whole.size) {
    const line =
      `$ErrorActionPreference='Stop'; $f=[IO.File]::Open(${pathExpr(remotePath)},'Open','Read','ReadWrite'); try { [void]$f.Seek(${offset},'Begin'); ` +
      `$b=New-Object byte[] ${Math.min(chunk, whole.size - offset)}; $n=0; while ($n -lt $b.Length) { $r=$f.Read($b,$n,$b.Length-$n); if ($r -le 0) { break }; $n+=$r }; ` +
      `$h=[Security.Cryptography.SHA256]::Create().ComputeHash($b,0,$n); [Console]::Out.Write('MAGPIE-CHUNK:' + ${HEX} + ':' + [Convert]::ToBase64String($b,0,$n) + [Environment]::NewLine) } finally { $f.Dispose() }`;
    const reply = await ps.call(line);
    const m = /MAGPIE-CHUNK:([0-9A-F]{64}):([A-Za-z0-9+/=]*)/.exec(reply.stdout);
    if (!m) fail(`reading ${remotePath} at byte ${offset} on the target failed`, reply);
    const data = Buffer.from(m![2], 'base64');
    if (createHash('sha256').update(data).digest('hex') !== m![1].toLowerCase()) throw new FileTransferError(`chunk at byte ${offset} of ${remotePath} arrived damaged`);
    if (!data.length) throw new FileTransferError(`${remotePath} shrank on the target during the transfer (at byte ${offset} of ${whole.size})`);
    writeSync(fd, data, 0, data.length, offset);
    total.update(data);
    offset += data.length;
    o.onProgress?.(offset, whole.size);
  }
  return whole;
}

/**
 * The target's side of a streaming fetch: the prefix already here is hashed without being sent;
 * then the file, as it was long when opened, goes out as `MAGPIE-BLOCK:offset:length:SHA256`
 * lines each followed by that many raw bytes on the standard output stream (not through
 * [Console]::Out, which would encode them as text); then `MAGPIE-SHA256:hash:bytes` for the whole.
 */
function streamLine(remotePath: string, offset: number, chunk: number): string {
  const emit = (expr: string) => `$l=[Text.Encoding]::ASCII.GetBytes(${expr} + [char]10); $o.Write($l,0,$l.Length)`;
  return (
    `$ErrorActionPreference='Stop'; $f=[IO.File]::Open(${pathExpr(remotePath)},'Open','Read','ReadWrite'); try { ` +
    `$o=[Console]::OpenStandardOutput(); $n=$f.Length; $w=[Security.Cryptography.SHA256]::Create(); $c=[Security.Cryptography.SHA256]::Create(); $b=New-Object byte[] ${chunk}; $at=0; ` +
    `while ($at -lt ${offset}) { $r=$f.Read($b,0,[int][Math]::Min($b.Length,${offset}-$at)); if ($r -le 0) { break }; [void]$w.TransformBlock($b,0,$r,$null,0); $at+=$r }; ` +
    `${emit(`'MAGPIE-SIZE:' + $n`)}; ` +
    `while ($at -lt $n) { $k=0; $want=[int][Math]::Min($b.Length,$n-$at); while ($k -lt $want) { $r=$f.Read($b,$k,$want-$k); if ($r -le 0) { break }; $k+=$r }; if ($k -eq 0) { break }; ` +
    `[void]$w.TransformBlock($b,0,$k,$null,0); $h=$c.ComputeHash($b,0,$k); ${emit(`'MAGPIE-BLOCK:' + $at + ':' + $k + ':' + ${HEX}`)}; $o.Write($b,0,$k); $at+=$k }; ` +
    `[void]$w.TransformFinalBlock($b,0,0); $h=$w.Hash; ${emit(`'MAGPIE-SHA256:' + ${HEX} + ':' + $at`)}; $o.Flush() } finally { $f.Dispose() }`
  );
}

const MAX_LINE = 64 * 1024;
const MAX_TEXT = 16 * 1024;

/**
 * Reads a streaming fetch's stdout: header lines and the blocks behind them, each written at its
 * offset as it arrives and checked against its SHA-256 when complete. The end marker counts only
 * between blocks, so file bytes that happen to contain it cannot end the reply early. pwsh's
 * keypad-mode sequences, printed around each command, can prefix a line: they are dropped.
 */
export class BlockReader implements StdoutSink {
  size?: number;
  end?: { sha256: string; count: number };
  error?: FileTransferError;
  /** Up to here the file holds only blocks that arrived whole and verified. */
  verifiedEnd: number;
  private line: Buffer[] = [];
  private lineLength = 0;
  private block?: { offset: number; length: number; sha256: string; hash: Hash; left: number };
  private next: number;
  private stray: string[] = [];
  private strayLength = 0;

  constructor(
    private readonly fd: number,
    offset: number,
    private readonly total: Hash,
    private readonly onProgress?: (done: number, total: number) => void,
  ) {
    this.verifiedEnd = offset;
    this.next = offset;
  }

  /** Output that was not part of the framing (what the target said instead). */
  get text(): string {
    return this.stray.join('\n');
  }

  take(data: Buffer, marker: string): Buffer | undefined {
    let at = 0;
    while (at < data.length) {
      const b = this.block;
      if (b) {
        const n = Math.min(b.left, data.length - at);
        const piece = data.subarray(at, at + n);
        if (!this.error) {
          writeSync(this.fd, piece, 0, n, b.offset + b.length - b.left);
          b.hash.update(piece);
          this.total.update(piece);
        }
        b.left -= n;
        at += n;
        if (b.left === 0) this.finishBlock(b);
        continue;
      }
      const nl = data.indexOf(0x0a, at);
      const piece = data.subarray(at, nl === -1 ? data.length : nl);
      if (this.lineLength + piece.length <= MAX_LINE) {
        this.line.push(piece);
        this.lineLength += piece.length;
      }
      if (nl === -1) return undefined;
      at = nl + 1;
      const line = stripConsoleModes(Buffer.concat(this.line).toString('latin1')).replace(/\r$/, '');
      this.line = [];
      this.lineLength = 0;
      if (line === marker) return data.subarray(at);
      this.header(line);
    }
    return undefined;
  }

  private header(line: string): void {
    let m: RegExpExecArray | null;
    if ((m = /^MAGPIE-BLOCK:(\d+):(\d+):([0-9A-F]{64})$/.exec(line))) {
      const offset = Number(m[1]);
      const length = Number(m[2]);
      if (offset !== this.next) this.error ??= new FileTransferError(`a block for byte ${offset} arrived where byte ${this.next} was due`);
      this.next = offset + length;
      this.block = { offset, length, sha256: m[3].toLowerCase(), hash: createHash('sha256'), left: length };
      if (length === 0) this.finishBlock(this.block);
    } else if ((m = /^MAGPIE-SIZE:(\d+)$/.exec(line))) {
      this.size = Number(m[1]);
      this.onProgress?.(this.verifiedEnd, this.size);
    } else if ((m = /^MAGPIE-SHA256:([0-9A-F]{64}):(\d+)$/.exec(line))) {
      this.end = { sha256: m[1].toLowerCase(), count: Number(m[2]) };
    } else if (this.strayLength < MAX_TEXT) {
      this.stray.push(line);
      this.strayLength += line.length;
    }
  }

  private finishBlock(b: NonNullable<BlockReader['block']>): void {
    this.block = undefined;
    if (this.error) return;
    const got = b.hash.digest('hex');
    if (got !== b.sha256) {
      this.error = new FileTransferError(`the block at byte ${b.offset} arrived damaged (SHA-256 ${got}, the target sent ${b.sha256})`);
      return;
    }
    this.verifiedEnd = b.offset + b.length;
    this.onProgress?.(this.verifiedEnd, this.size ?? this.verifiedEnd);
  }
}

/**
 * A step's logs and records are mostly small: one request reads the whole file and its SHA-256.
 * Undefined when the file turned out larger than a chunk (the chunked path takes over).
 */
async function fetchSmall(ps: LineRunner, remotePath: string, localFile: string, chunk: number, started: number): Promise<TransferResult | undefined> {
  const line =
    `$ErrorActionPreference='Stop'; $f=[IO.File]::Open(${pathExpr(remotePath)},'Open','Read','ReadWrite'); try { if ($f.Length -gt ${chunk}) { 'MAGPIE-LARGE:' + $f.Length } else { ` +
    `$b=New-Object byte[] $f.Length; $n=0; while ($n -lt $b.Length) { $r=$f.Read($b,$n,$b.Length-$n); if ($r -le 0) { break }; $n+=$r }; ` +
    `$h=[Security.Cryptography.SHA256]::Create().ComputeHash($b,0,$n); [Console]::Out.Write('MAGPIE-CHUNK:' + ${HEX} + ':' + [Convert]::ToBase64String($b,0,$n) + [Environment]::NewLine) } } finally { $f.Dispose() }`;
  const reply = await ps.call(line);
  if (field(reply.stdout, 'MAGPIE-LARGE')) return undefined;
  const m = /MAGPIE-CHUNK:([0-9A-F]{64}):([A-Za-z0-9+/=]*)/.exec(reply.stdout);
  if (!m) fail(`cannot read ${remotePath} on the target`, reply);
  const data = Buffer.from(m![2], 'base64');
  const sha256 = createHash('sha256').update(data).digest('hex');
  if (sha256 !== m![1].toLowerCase()) throw new FileTransferError(`${remotePath} arrived damaged (SHA-256 ${sha256} here, ${m![1].toLowerCase()} on the target)`);
  const fd = openSync(localFile, 'wx', 0o600);
  try {
    writeSync(fd, data);
  } finally {
    closeSync(fd);
  }
  return { size: data.length, sha256, resumedFrom: 0, bytesPerSecond: data.length / Math.max((performance.now() - started) / 1000, 1e-3) };
}

/** Pushes `localFile` to `remotePath` in chunks, each checked on the target, then the whole file's SHA-256. */
export async function pushFile(ps: LineRunner, localFile: string, remotePath: string, o: TransferOptions = {}): Promise<TransferResult> {
  const chunk = o.chunkSize ?? 256 * 1024;
  const started = performance.now();
  const size = statSync(localFile).size;
  const total = createHash('sha256');
  const fd = openSync(localFile, 'r');
  const buf = Buffer.alloc(chunk);
  try {
    let offset = 0;
    o.onProgress?.(0, size);
    do {
      const n = readSync(fd, buf, 0, chunk, offset);
      const data = buf.subarray(0, n);
      total.update(data);
      const line =
        `$ErrorActionPreference='Stop'; $b=[Convert]::FromBase64String('${data.toString('base64')}'); $f=[IO.File]::Open(${pathExpr(remotePath)},'${offset === 0 ? 'Create' : 'Open'}','Write','None'); ` +
        `try { [void]$f.Seek(${offset},'Begin'); $f.Write($b,0,$b.Length) } finally { $f.Dispose() }; $h=[Security.Cryptography.SHA256]::Create().ComputeHash($b); 'MAGPIE-WROTE:' + ${HEX}`;
      const reply = await ps.call(line);
      const got = field(reply.stdout, 'MAGPIE-WROTE');
      if (!got) fail(`writing ${remotePath} at byte ${offset} on the target failed`, reply);
      if (got!.toLowerCase() !== createHash('sha256').update(data).digest('hex')) throw new FileTransferError(`chunk at byte ${offset} of ${remotePath} arrived damaged on the target`);
      offset += n;
      o.onProgress?.(offset, size);
    } while (offset < size); // an empty file still takes one (empty) chunk, which creates it
  } finally {
    closeSync(fd);
  }
  return finishPush(ps, remotePath, size, total.digest('hex'), started);
}

async function finishPush(ps: LineRunner, remotePath: string, size: number, sha256: string, started: number): Promise<TransferResult> {
  const there = await remoteHash(ps, remotePath);
  if (there.size !== size || there.sha256 !== sha256) throw new FileTransferError(`${remotePath} on the target (${there.size} bytes, SHA-256 ${there.sha256}) is not what was sent (${size} bytes, ${sha256})`);
  return { size, sha256, resumedFrom: 0, bytesPerSecond: size / Math.max((performance.now() - started) / 1000, 1e-3) };
}
