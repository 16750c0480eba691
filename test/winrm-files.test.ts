// Files through the WinRM PowerShell against the test endpoint (whose "target" is this machine):
// a fetch in verified chunks with progress, a fetch broken halfway and resumed from the verified
// prefix, a damaged partial file restarted, a push checked on both ends, a missing file.
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

test('fetch: 3 MB in 256 KiB chunks, each verified, progress reported, SHA-256 equal on both ends', async () => {
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
  assert.is(progress.length, 14, '0, then 13 chunks');
  assert.is(progress.at(-1), data.length);
  console.log(`      fetch throughput over WinRM (loopback): ${(r.bytesPerSecond / 1e6).toFixed(1)} MB/s`);
});

test('a fetch broken halfway resumes after the verified prefix; a damaged .part starts over', async () => {
  const data = randomBytes(2 * 1024 * 1024);
  const remote = join(dir, 'big.bin');
  writeFileSync(remote, data);
  const local = join(dir, 'big-local.bin');
  const chunk = 128 * 1024;
  // The transfer "breaks" (the responder's link drops) after 6 chunks.
  const breaking: LineRunner = {
    calls: 0,
    async call(line: string) {
      if (line.includes('MAGPIE-CHUNK') && ++(this as { calls: number }).calls > 6) throw new Error('link down');
      return ps.call(line);
    },
  } as LineRunner & { calls: number };
  const broken = await fetchFile(breaking, remote, local, { chunkSize: chunk }).then(
    () => undefined,
    (e: Error) => e,
  );
  assert.match(broken?.message ?? '', /link down/);
  assert.is(readFileSync(`${local}.part`).length, 6 * chunk);

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
