#!/usr/bin/env -S npx tsx
// Triage of a 1 GB capture: `magpie import pcap` of a generated capture (an hour of a busy server:
// tens of thousands of TCP conversations with HTTP and TLS, DNS lookups and answers, one beacon and
// one 445 scan hidden in it), then `magpie triage` as a child process whose peak RSS is sampled.
// BENCH_CAPTURE_MB changes the size. Writes its section of docs/benchmarks.md.
import { spawn, spawnSync } from 'node:child_process';
import { closeSync, existsSync, mkdtempSync, openSync, readFileSync, rmSync, statSync, writeSync } from 'node:fs';
import { cpus, tmpdir, totalmem } from 'node:os';
import { join } from 'node:path';
import { ROOT_DIR } from '../lib/paths.ts';
import { findTshark, tsharkVersion } from '../lib/traffic/tshark.ts';
import { cliPath, fmt, writeSection } from './bench-common.ts';

const MB = Number(process.env.BENCH_CAPTURE_MB ?? 1024);
const FILE = join(tmpdir(), `magpie-bench-${MB}mb.pcap`);

/** A deterministic pseudo-random sequence: the same capture on every run. */
let seed = 42;
// mulberry32
const rnd = () => {
  seed = (seed + 0x6d2b79f5) | 0;
  let x = Math.imul(seed ^ (seed >>> 15), 1 | seed);
  x = (x + Math.imul(x ^ (x >>> 7), 61 | x)) ^ x;
  return ((x ^ (x >>> 14)) >>> 0) / 4294967296;
};
const pick = (n: number) => Math.floor(rnd() * n);

function checksum(buf: Buffer, start: number, end: number): number {
  let s = 0;
  for (let i = start; i < end; i += 2) s += buf.readUInt16BE(i);
  while (s >> 16) s = (s & 0xffff) + (s >> 16);
  return ~s & 0xffff;
}

/** One Ethernet + IPv4 + TCP/UDP frame with `payload`. */
function frame(proto: 6 | 17, src: number, dst: number, sport: number, dport: number, flags: number, payload: Buffer, seq = 0, ack = 0): Buffer {
  const l4 = proto === 6 ? 20 : 8;
  const b = Buffer.alloc(14 + 20 + l4 + payload.length);
  b.writeUInt16BE(0x0800, 12);
  b[14] = 0x45;
  b.writeUInt16BE(20 + l4 + payload.length, 16);
  b[22] = 64;
  b[23] = proto;
  b.writeUInt32BE(src >>> 0, 26);
  b.writeUInt32BE(dst >>> 0, 30);
  b.writeUInt16BE(checksum(b, 14, 34), 24);
  b.writeUInt16BE(sport, 34);
  b.writeUInt16BE(dport, 36);
  if (proto === 6) {
    b.writeUInt32BE(seq >>> 0, 38);
    b.writeUInt32BE(ack >>> 0, 42);
    b[46] = 0x50;
    b[47] = flags;
    b.writeUInt16BE(65535, 48);
  } else b.writeUInt16BE(8 + payload.length, 38);
  payload.copy(b, 14 + 20 + l4);
  return b;
}

function dnsMessage(id: number, name: string, response: boolean, nx: boolean): Buffer {
  const q = Buffer.concat([...name.split('.').map((l) => Buffer.concat([Buffer.from([l.length]), Buffer.from(l)])), Buffer.from([0, 0, 1, 0, 1])]);
  const h = Buffer.alloc(12);
  h.writeUInt16BE(id, 0);
  h.writeUInt16BE(response ? (nx ? 0x8183 : 0x8180) : 0x0100, 2);
  h.writeUInt16BE(1, 4);
  h.writeUInt16BE(response && !nx ? 1 : 0, 6);
  const a = response && !nx ? Buffer.from([0xc0, 0x0c, 0, 1, 0, 1, 0, 0, 1, 0, 0, 4, 93, 184, pick(255), pick(255)]) : Buffer.alloc(0);
  return Buffer.concat([h, q, a]);
}

function generate(): void {
  if (existsSync(FILE) && statSync(FILE).size >= MB * 1048576) return;
  const fd = openSync(FILE, 'w');
  const head = Buffer.alloc(24);
  head.writeUInt32LE(0xa1b2c3d4, 0);
  head.writeUInt16LE(2, 4);
  head.writeUInt16LE(4, 6);
  head.writeUInt32LE(262144, 16);
  head.writeUInt32LE(1, 20);
  writeSync(fd, head);
  let written = 24;
  let chunk: Buffer[] = [];
  let chunkLen = 0;
  let t = 1764115200; // seconds
  // About 1,100 packets a MB: the capture spans an hour whatever its size.
  const step = (2 * 3600) / (MB * 1100);
  const put = (f: Buffer) => {
    const rec = Buffer.alloc(16);
    t += step * rnd();
    rec.writeUInt32LE(Math.floor(t), 0);
    rec.writeUInt32LE(Math.floor((t % 1) * 1e6), 4);
    rec.writeUInt32LE(f.length, 8);
    rec.writeUInt32LE(f.length, 12);
    chunk.push(rec, f);
    chunkLen += 16 + f.length;
    if (chunkLen > 4 << 20) {
      const b = Buffer.concat(chunk);
      writeSync(fd, b);
      written += b.length;
      chunk = [];
      chunkLen = 0;
    }
  };
  const host = (10 << 24) | (1 << 16) | 20;
  const data = Buffer.alloc(1460, 0x17);
  let n = 0;
  let nextBeacon = t;
  while (written < MB * 1048576) {
    n++;
    const server = (93 << 24) | (pick(2000) << 8) | 7;
    const sport = 1024 + pick(60000);
    const port = rnd() < 0.7 ? 443 : 80;
    // A real handshake and sequence numbers: tshark's TCP analysis sees a conversation, not retransmissions.
    let c = pick(1 << 30);
    let sv = pick(1 << 30);
    put(frame(6, host, server, sport, port, 0x02, Buffer.alloc(0), c++, 0));
    put(frame(6, server, host, port, sport, 0x12, Buffer.alloc(0), sv++, c));
    put(frame(6, host, server, sport, port, 0x10, Buffer.alloc(0), c, sv));
    const req = port === 80 ? Buffer.from(`GET /pkg/${n}.deb HTTP/1.1\r\nHost: mirror${pick(20)}.example.org\r\nUser-Agent: apt\r\n\r\n`) : Buffer.alloc(517, 0x16);
    put(frame(6, host, server, sport, port, 0x18, req, c, sv));
    c += req.length;
    for (let i = 0, k = 5 + pick(60); i < k; i++) {
      put(frame(6, server, host, port, sport, 0x10, data, sv, c));
      sv += data.length;
      if (i % 2) put(frame(6, host, server, sport, port, 0x10, Buffer.alloc(0), c, sv));
    }
    put(frame(6, host, server, sport, port, 0x11, Buffer.alloc(0), c, sv));
    if (n % 3 === 0) {
      const id = pick(65535);
      const name = `host${pick(5000)}.corp${pick(50)}.example.com`;
      const qp = 40000 + pick(20000);
      put(frame(17, host, (10 << 24) | 53, qp, 53, 0, dnsMessage(id, name, false, false)));
      put(frame(17, (10 << 24) | 53, host, 53, qp, 0, dnsMessage(id, name, true, rnd() < 0.02)));
    }
    if (t >= nextBeacon) {
      nextBeacon = t + 60 + (rnd() - 0.5) * 2;
      const c2 = (203 << 24) | (113 << 8) | 9;
      const bp = 50000 + pick(10000);
      put(frame(6, host, c2, bp, 8443, 0x02, Buffer.alloc(0)));
      put(frame(6, c2, host, 8443, bp, 0x12, Buffer.alloc(0)));
      put(frame(6, host, c2, bp, 8443, 0x18, Buffer.alloc(220, 0x42)));
      put(frame(6, host, c2, bp, 8443, 0x11, Buffer.alloc(0)));
    }
    if (n === 300) for (let i = 0; i < 200; i++) put(frame(6, host, (10 << 24) | (1 << 16) | (i + 30), 49152 + i, 445, 0x02, Buffer.alloc(0)));
  }
  const b = Buffer.concat(chunk);
  writeSync(fd, b);
  closeSync(fd);
}

async function measure(args: string[]): Promise<{ seconds: number; peak: number; stdout: string; stderr: string; code: number | null }> {
  const t0 = performance.now();
  const child = spawn(process.execPath, [join(ROOT_DIR, 'bin', 'magpie.js'), ...args], { stdio: ['ignore', 'pipe', 'pipe'] });
  let stdout = '';
  let stderr = '';
  child.stdout.on('data', (d) => (stdout += d));
  child.stderr.on('data', (d) => (stderr += d));
  let peak = 0;
  // The whole tree: Magpie and its tshark processes.
  const sample = () => {
    const pids = [child.pid!, ...spawnSync('pgrep', ['-P', String(child.pid)], { encoding: 'utf8' }).stdout.split('\n').filter(Boolean).map(Number)];
    let sum = 0;
    for (const pid of pids) {
      try {
        const m = /VmRSS:\s+(\d+) kB/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'));
        if (m) sum += Number(m[1]) / 1024;
      } catch {
        /* gone */
      }
    }
    peak = Math.max(peak, sum);
  };
  const timer = setInterval(sample, 200);
  const code = await new Promise<number | null>((r) => child.on('close', r));
  clearInterval(timer);
  return { seconds: (performance.now() - t0) / 1000, peak, stdout, stderr, code };
}

const tshark = findTshark();
if (!tshark) throw new Error('bench-traffic needs tshark: apt-get install tshark');
const g0 = performance.now();
generate();
const size = statSync(FILE).size;
console.log(`capture: ${FILE} (${fmt(size / 1048576)} MB, made in ${((performance.now() - g0) / 1000).toFixed(0)} s)`);
const packets = Number(spawnSync('capinfos', ['-c', '-M', FILE], { encoding: 'utf8' }).stdout.match(/Number of packets:\s+(\d+)/)?.[1] ?? 0);
const out = mkdtempSync(join(tmpdir(), 'magpie-bench-traffic-'));
try {
  const imp = await measure(['import', 'pcap', FILE, '--host', 'bench-capture', '--out', out]);
  if (imp.code !== 0) throw new Error(`import failed: ${imp.stderr}`);
  const dir = /evidence: (\S+)/.exec(imp.stdout)?.[1];
  if (!dir) throw new Error(`no evidence folder: ${imp.stdout}`);
  const tri = await measure(['triage', dir, '--json']);
  if (tri.code !== 0) throw new Error(`triage failed: ${tri.stderr}`);
  const { findings } = JSON.parse(tri.stdout).hosts[0];
  const f = JSON.parse(readFileSync(join(dir, 'triage', spawnSync('ls', [join(dir, 'triage')], { encoding: 'utf8' }).stdout.trim(), 'findings.json'), 'utf8'));
  const ids = [...new Set(f.findings.map((x: { rule: { id: string } }) => x.rule.id))].sort().join(', ');
  const cpu = cpus()[0]?.model ?? 'unknown CPU';
  const md = `## Capture triage (${new Date().toISOString().slice(0, 10)})

Measured ${new Date().toISOString().slice(0, 10)} on ${cpus().length} × ${cpu}, ${fmt(totalmem() / 2 ** 30)} GB RAM; ${tsharkVersion(tshark)?.replace(/\.$/, '')}; CLI: ${cliPath()}. \`npm run bench:traffic\` (BENCH_CAPTURE_MB for another size).

A generated pcap of ${fmt(packets)} packets: an hour of a busy server (TCP conversations to 2,000 addresses over HTTP and TLS, a DNS lookup and answer every third conversation, 2 % NXDOMAIN), with a beacon every 60 ± 1 s and a 200-address port-445 scan in it. \`magpie import pcap\` takes it in, then \`magpie triage\` runs as a child process: tshark reads the capture twice at once (every packet's fields; the frames carrying stratum), Magpie keeps one entry per conversation, writes flow, dns and beacon records and runs every rule on them. Peak RSS is Magpie's and its tshark processes' together, sampled every 200 ms.

| step | wall time | throughput | peak RSS |
|---|---|---|---|
| import (copy and hash) | ${imp.seconds.toFixed(1)} s | ${fmt(size / 1048576 / imp.seconds)} MB/s | ${fmt(imp.peak)} MB |
| triage | **${tri.seconds.toFixed(1)} s** | **${fmt(size / 1048576 / tri.seconds, 1)} MB/s**, ${fmt(packets / tri.seconds)} packets/s | **${fmt(tri.peak)} MB** |

Findings: ${findings} (${ids}).
`;
  console.log(md);
  writeSection('## Capture triage', md);
} finally {
  rmSync(out, { recursive: true, force: true });
}
