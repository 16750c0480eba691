// Files through the WinRM PowerShell against the test endpoint (whose "target" is this machine):
// a streamed fetch in verified blocks with progress, one broken halfway and resumed after the
// verified blocks, a damaged block, a damaged partial file restarted, file bytes that mimic the
// framing, the chunked fetch of a runner that cannot stream, a push checked on both ends, a
// missing file.
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { createHash, randomBytes } from 'node:crypto';
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { fetchFile, FileTransferError, pushFile, type LineRunner } from '../lib/session/winrm/files.ts';
import { WinrmHttp } from '../lib/session/winrm/http.ts';
import { WinrmPowerShell } from '../lib/session/winrm/remote-powershell.ts';
import { WinrmShell } from '../lib/session/winrm/shell.ts';
import { pwshOrFail, tempDir } from './helpers.ts';
import { startWinrmServer, type WinrmServer } from './winrm-server.ts';

let server: WinrmServer;
let shell: WinrmShell;
let ps: WinrmPowerShell;
const conns: WinrmHttp[] = [];
const dir = tempDir('magpie-winrm-files-');
const sha = (b: Buffer) => createHash('sha256').update(b).digest('hex');

test.before(async () => {
  server = await startWinrmServer({ users: { responder: 'files!' }, pwsh: pwshOrFail(), maxPollMs: 5000 });
  const http = () => {
    const h = new WinrmHttp({ host: '127.0.0.1', port: server.port, credentials: { user: 'responder', password: 'files!' } });
    conns.push(h);
    return h;
  };
  shell = await WinrmShell.open(http(), { operationTimeoutSec: 5 });
  ps = await WinrmPowerShell.start(shell, shell.via(http()));
});
test.after(async () => {
  await ps?.stop().catch(() => {});
  await shell?.close().catch(() => {});
  for (const c of conns) c.close();
  await server?.close();
});

test('fetch: 3 MB streamed in 256 KiB blocks, each verified, progress reported, SHA-256 equal on both ends', async () => {
  const data = randomBytes(3 * 1024 * 1024 + 12345);
  const remote = join(dir, 'évidence dump.bin');
  writeFileSync(remote, data);
  const local = join(dir, 'fetched.bin');
  const progress: number[] = [];
  const r = await fetchFile(ps, remote, local, { chunkSize: 256 * 1024, onProgress: (done) => progress.push(done) });
  assert.is(r.size, data.length);
  assert.is(r.sha256, sha(data));
  assert.is(r.resumedFrom, 0);
  assert.ok(readFileSync(local).equals(data));
  assert.not.ok(existsSync(`${local}.part`));
  assert.is(progress.length, 14, 'none done when the size arrives, then 13 blocks');
  assert.is(progress[0], 0);
  assert.is(progress.at(-1), data.length);
  console.log(`      fetch throughput over WinRM (loopback): ${(r.bytesPerSecond / 1e6).toFixed(1)} MB/s`);
});

/** `ps` with its stream's bytes passed through `edit` on the way to the reader (a link that drops, a damaged byte). */
function tampered(edit: (data: Buffer, seen: number) => Buffer | undefined, after?: () => void): LineRunner {
  return {
    call: (line) => ps.call(line),
    async stream(line, sink) {
      let seen = 0;
      let rest: Buffer | undefined;
      const reply = await ps.stream(line, {
        take(data, marker) {
          const edited = edit(data, seen);
          seen += data.length;
          if (edited && !rest) rest = sink.take(edited, marker);
          // The real stream goes on to its end marker whatever reached the reader.
          return data.toString('latin1').includes(marker) ? Buffer.alloc(0) : undefined;
        },
      });
      after?.();
      return reply;
    },
  };
}

test('a streamed fetch broken halfway keeps only verified blocks and resumes after them; a damaged .part starts over', async () => {
  const data = randomBytes(2 * 1024 * 1024);
  const remote = join(dir, 'big.bin');
  writeFileSync(remote, data);
  const local = join(dir, 'big-local.bin');
  const chunk = 128 * 1024;
  // The link drops in the middle of the seventh block (each block has a short header line before it).
  const cut = Math.floor(6.5 * chunk);
  const breaking = tampered(
    (d, seen) => (seen >= cut ? undefined : d.subarray(0, cut - seen)),
    () => {
      throw new Error('link down');
    },
  );
  const broken = await fetchFile(breaking, remote, local, { chunkSize: chunk }).then(
    () => undefined,
    (e: Error) => e,
  );
  assert.match(broken?.message ?? '', /link down/);
  assert.is(readFileSync(`${local}.part`).length, 6 * chunk, 'the half block is not kept');
  assert.ok(readFileSync(`${local}.part`).equals(data.subarray(0, 6 * chunk)));

  const resumed = await fetchFile(ps, remote, local, { chunkSize: chunk });
  assert.is(resumed.resumedFrom, 6 * chunk);
  assert.is(resumed.sha256, sha(data));
  assert.ok(readFileSync(local).equals(data));

  // A partial file that does not match the target's prefix is not trusted.
  const bad = Buffer.from(data.subarray(0, 5 * chunk));
  bad[1000] ^= 0xff;
  writeFileSync(`${local}.part`, bad);
  const again = await fetchFile(ps, remote, local, { chunkSize: chunk });
  assert.is(again.resumedFrom, 0);
  assert.ok(readFileSync(local).equals(data));
});

test('a block damaged on the way fails the fetch naming its offset; the blocks before it stay for a resume', async () => {
  const data = randomBytes(1024 * 1024);
  const remote = join(dir, 'damaged.bin');
  writeFileSync(remote, data);
  const local = join(dir, 'damaged-local.bin');
  const chunk = 128 * 1024;
  const at = Math.floor(3.5 * chunk); // inside the fourth block's bytes
  const flipping = tampered((d, seen) => {
    if (at < seen || at >= seen + d.length) return d;
    const copy = Buffer.from(d);
    copy[at - seen] ^= 0x01;
    return copy;
  });
  const e = await fetchFile(flipping, remote, local, { chunkSize: chunk }).then(() => undefined, (x: Error) => x);
  assert.instance(e, FileTransferError);
  assert.match(e!.message, new RegExp(`block at byte ${3 * chunk} arrived damaged`));
  assert.is(readFileSync(`${local}.part`).length, 3 * chunk);
  assert.not.ok(existsSync(local));
  const resumed = await fetchFile(ps, remote, local, { chunkSize: chunk });
  assert.is(resumed.resumedFrom, 3 * chunk);
  assert.ok(readFileSync(local).equals(data));
  assert.ok(ps.alive, 'the stream was read to its end: the PowerShell is still in step');
  assert.match((await ps.call("'still here'")).stdout, /still here/);
});

test('file bytes that look like the framing (header lines, keypad sequences, CRs) come out exact; an empty file too', async () => {
  const lines = ['MAGPIE-SIZE:1', 'MAGPIE-BLOCK:0:5:' + 'A'.repeat(64), 'MAGPIE-SHA256:' + 'B'.repeat(64) + ':9', '\u001b[?1h', 'MAGPIE-END-000000000000-1\r'];
  const data = Buffer.concat([Buffer.from(lines.join('\n').repeat(3000)), randomBytes(300 * 1024)]);
  const remote = join(dir, 'framing.txt');
  writeFileSync(remote, data);
  const local = join(dir, 'framing-local.txt');
  const r = await fetchFile(ps, remote, local, { chunkSize: 64 * 1024 });
  assert.is(r.sha256, sha(data));
  assert.ok(readFileSync(local).equals(data));
  writeFileSync(join(dir, 'zero'), '');
  const z = await fetchFile(ps, join(dir, 'zero'), join(dir, 'zero-local'));
  assert.is(z.size, 0);
  assert.is(readFileSync(join(dir, 'zero-local')).length, 0);
});

test('a runner without streaming fetches chunk by chunk, a request each', async () => {
  const data = randomBytes(600 * 1024);
  const remote = join(dir, 'chunked.bin');
  writeFileSync(remote, data);
  let calls = 0;
  const plain: LineRunner = { call: (line) => (calls++, ps.call(line)) };
  const r = await fetchFile(plain, remote, join(dir, 'chunked-local.bin'), { chunkSize: 128 * 1024 });
  assert.is(r.sha256, sha(data));
  assert.ok(readFileSync(join(dir, 'chunked-local.bin')).equals(data));
  assert.is(calls, 1 + 5, 'the whole hash, then 5 chunks');
});

test('push: chunks checked on the target, then the whole file; an empty file too', async () => {
  const data = randomBytes(700 * 1024 + 3);
  const src = join(dir, 'tool.exe');
  writeFileSync(src, data);
  const dest = join(dir, 'pushed tool.exe');
  const r = await pushFile(ps, src, dest, { chunkSize: 128 * 1024 });
  assert.is(r.sha256, sha(data));
  assert.ok(readFileSync(dest).equals(data));
  const empty = join(dir, 'empty');
  writeFileSync(empty, '');
  assert.is((await pushFile(ps, empty, join(dir, 'empty-pushed'))).size, 0);
  assert.is(readFileSync(join(dir, 'empty-pushed')).length, 0);
});

test('a missing remote file is a FileTransferError naming it', async () => {
  try {
    await fetchFile(ps, join(dir, 'nope.bin'), join(dir, 'nope-local.bin'));
    assert.unreachable();
  } catch (e) {
    assert.instance(e, FileTransferError);
    assert.match((e as Error).message, /cannot read .*nope\.bin on the target/);
  }
  assert.ok(ps.alive, 'the PowerShell survives a failed line');
});

test.run();
