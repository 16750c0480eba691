// Real traffic on loopback for the capture tests: a beacon (a client calling a listener every
// second with a little jitter), a DNS resolver stub that real lookups go to, a burst of SYNs to
// port 445, and ordinary downloads from a local HTTP server. Installs tcpdump and tshark when
// missing (tests never skip).
import { createSocket, type Socket as UdpSocket } from 'node:dgram';
import { Resolver } from 'node:dns/promises';
import { createServer as createHttpServer, get, type Server as HttpServer } from 'node:http';
import { connect, createServer, type Server } from 'node:net';
import { ensureDebianPackages } from './linux-tools.ts';

export function ensureCaptureTools(): void {
  ensureDebianPackages(['tcpdump', 'tshark'], ['/usr/bin/tcpdump', '/usr/bin/tshark'], 'tcpdump and tshark');
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** A listener that answers each connection with 32 bytes and closes it. */
export async function beaconListener(): Promise<{ port: number; server: Server }> {
  const server = createServer((s) => {
    s.on('error', () => undefined);
    s.once('data', () => s.end(Buffer.alloc(32, 0x41)));
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  return { port: (server.address() as { port: number }).port, server };
}

/** `count` connections, one every `intervalMs` ± `jitterMs`, each sending the same 40 bytes. */
export async function beacon(port: number, count: number, intervalMs = 1000, jitterMs = 50): Promise<void> {
  for (let i = 0; i < count; i++) {
    await new Promise<void>((resolve) => {
      const s = connect(port, '127.0.0.1', () => s.write(Buffer.alloc(40, 0x42)));
      s.on('data', () => s.end());
      s.on('close', () => resolve());
      s.on('error', () => resolve());
    });
    await sleep(intervalMs + (Math.random() * 2 - 1) * jitterMs);
  }
}

/** A TCP SYN to port 445 on each address (nothing listens there: the kernel answers RST). */
export async function smbScan(addresses: string[]): Promise<void> {
  await Promise.all(
    addresses.map(
      (a) =>
        new Promise<void>((resolve) => {
          const s = connect({ host: a, port: 445 });
          s.on('error', () => resolve());
          s.on('connect', () => (s.destroy(), resolve()));
          setTimeout(() => (s.destroy(), resolve()), 2000).unref();
        }),
    ),
  );
}

/**
 * A DNS server on ADDRESS:53 (root binds port 53, which tshark dissects as DNS): NXDOMAIN for names
 * under .top, else one A record 127.0.0.1. Hand-built answers: the stub must not need a library.
 */
export async function dnsStub(address = '127.0.0.99'): Promise<{ address: string; socket: UdpSocket; lookup(name: string): Promise<string[]> }> {
  const socket = createSocket('udp4');
  socket.on('message', (msg, from) => {
    if (msg.length < 12) return;
    let end = 12;
    while (end < msg.length && msg[end] !== 0) end += msg[end] + 1;
    const question = msg.subarray(12, end + 5);
    const labels: string[] = [];
    for (let i = 12; i < end; i += msg[i] + 1) labels.push(msg.subarray(i + 1, i + 1 + msg[i]).toString('latin1'));
    const nx = labels.at(-1)?.toLowerCase() === 'top';
    const header = Buffer.alloc(12);
    msg.copy(header, 0, 0, 2);
    header.writeUInt16BE(nx ? 0x8183 : 0x8180, 2);
    header.writeUInt16BE(1, 4);
    header.writeUInt16BE(nx ? 0 : 1, 6);
    const answer = nx ? Buffer.alloc(0) : Buffer.from([0xc0, 0x0c, 0, 1, 0, 1, 0, 0, 0, 60, 0, 4, 127, 0, 0, 1]);
    socket.send(Buffer.concat([header, question, answer]), from.port, from.address);
  });
  await new Promise<void>((resolve, reject) => {
    socket.once('error', (e) => reject(new Error(`the DNS stub cannot bind ${address}:53 (${e.message}); the capture tests run as root`)));
    socket.bind(53, address, resolve);
  });
  const resolver = new Resolver({ timeout: 1000, tries: 1 });
  resolver.setServers([address]);
  return { address, socket, lookup: (name) => resolver.resolve4(name).catch(() => []) };
}

/** An HTTP server with one file of `size` bytes at /pool/NAME.deb, for ordinary downloads. */
export async function packageServer(size = 2 * 1024 * 1024): Promise<{ port: number; server: HttpServer; download(name: string): Promise<number> }> {
  const body = Buffer.alloc(size, 0x5a);
  const server = createHttpServer((_req, res) => {
    res.writeHead(200, { 'Content-Type': 'application/vnd.debian.binary-package', 'Content-Length': body.length });
    res.end(body);
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  const port = (server.address() as { port: number }).port;
  const download = (name: string) =>
    new Promise<number>((resolve, reject) => {
      get({ host: '127.0.0.1', port, path: `/pool/main/${name}.deb`, headers: { Host: 'deb.debian.org' }, agent: false }, (res) => {
        let n = 0;
        res.on('data', (d: Buffer) => (n += d.length));
        res.on('end', () => resolve(n));
      }).on('error', reject);
    });
  return { port, server, download };
}
