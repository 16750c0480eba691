// A capture → flow, dns and beacon records, on the responder, through tshark. Two passes run side by
// side (the machine's cores): every packet's addressing and protocol fields, and the frames that carry
// stratum (mining pool) messages. Only per-conversation state is held (a few hundred bytes a
// conversation); DNS records leave as they come.
import { tsharkFields } from './tshark.ts';
import { dnsRcode, dnsType, nameShape } from './dns-name.ts';
import { beaconScore } from './beacon.ts';

/** Who owned a connection, from the connection table of the same run. */
export interface Owner {
  pid: number;
  processName?: string;
}

const plain = (a: string) => a.toLowerCase().replace(/^\[|\]$/g, '').replace(/^::ffff:(\d+\.\d+\.\d+\.\d+)$/, '$1');

/** The run's connection table, for naming the process behind a flow. */
export class ConnectionIndex {
  private readonly exact = new Map<string, Owner>();
  private readonly listeners = new Map<string, Owner>();
  /** This host's own addresses, as its connection table shows them. */
  private readonly local = new Set<string>();

  add(r: Record<string, unknown>): void {
    if (typeof r.pid !== 'number' || typeof r.localPort !== 'number' || (r.protocol !== 'tcp' && r.protocol !== 'udp')) return;
    const owner: Owner = { pid: r.pid, ...(typeof r.processName === 'string' ? { processName: r.processName } : {}) };
    const local = typeof r.localAddress === 'string' ? plain(r.localAddress) : '';
    if (local && !/^(0\.0\.0\.0|::|\*)$/.test(local)) this.local.add(local);
    if (typeof r.remoteAddress === 'string' && typeof r.remotePort === 'number' && r.remotePort > 0 && !/^(0\.0\.0\.0|::|\*)$/.test(r.remoteAddress)) {
      this.exact.set(`${r.protocol}|${local}|${r.localPort}|${plain(r.remoteAddress)}|${r.remotePort}`, owner);
    } else if (r.protocol === 'udp' || /listen/i.test(String(r.state ?? ''))) {
      this.listeners.set(`${r.protocol}|${r.localPort}`, owner);
    }
  }

  /** The owner of either end, or of the listening port when the flow came in to this host. */
  owner(protocol: string, src: string, srcPort: number, dst: string, dstPort: number): Owner | undefined {
    return (
      this.exact.get(`${protocol}|${src}|${srcPort}|${dst}|${dstPort}`) ??
      this.exact.get(`${protocol}|${dst}|${dstPort}|${src}|${srcPort}`) ??
      (this.isLocal(dst) ? this.listeners.get(`${protocol}|${dstPort}`) : undefined)
    );
  }

  private isLocal(a: string): boolean {
    return this.local.has(a) || /^(127\.|::1$)/.test(a);
  }

  /** outbound (this host called out), inbound, local (both ends here) or unknown (no connection table, or a capture of other hosts). */
  direction(src: string, dst: string): 'outbound' | 'inbound' | 'local' | 'unknown' {
    const s = this.isLocal(src);
    const d = this.isLocal(dst);
    return s && d ? 'local' : s ? 'outbound' : d ? 'inbound' : 'unknown';
  }
}

const FIELDS = [
  'frame.number', 'frame.time_epoch', 'frame.len', 'ip.src', 'ip.dst', 'ipv6.src', 'ipv6.dst', 'ip.id', 'tcp.seq_raw', 'icmp.type', 'icmpv6.type',
  'tcp.srcport', 'tcp.dstport', 'udp.srcport', 'udp.dstport', 'tcp.flags', 'tcp.len', 'udp.length',
  'dns.flags.response', 'dns.qry.name', 'dns.qry.type', 'dns.flags.rcode', 'dns.a', 'dns.aaaa', 'dns.cname', 'dns.id',
  'tls.handshake.extensions_server_name', 'http.host',
] as const;
const F = Object.fromEntries(FIELDS.map((f, i) => [f, i])) as Record<(typeof FIELDS)[number], number>;

const STRATUM = 'frame contains "mining.subscribe" or frame contains "mining.authorize" or frame contains "mining.notify" or frame contains "mining.submit"';

interface Flow {
  protocol: 'tcp' | 'udp';
  src: string;
  srcPort: number;
  dst: string;
  dstPort: number;
  first: number;
  last: number;
  firstFrame: number;
  lastFrame: number;
  packets: number;
  bytes: number;
  payload: number;
  syn: boolean;
  established: boolean;
  /** A FIN or RST was seen. */
  closed: boolean;
  sni?: string;
  httpHost?: string;
}

/** The connections from one source to one destination and port, for the beacon score. */
interface Series {
  /** The first flow of the series with a name (SNI), else the first. */
  flow: Flow;
  starts: number[];
  payloads: number[];
  firstFrame: number;
  lastFrame: number;
  first: number;
  last: number;
}

interface PendingQuery {
  frame: number;
  time: number;
  client: string;
  server: string;
  query: string;
  type: string;
}

/** Both ends of a conversation, in one order whichever way the packet went. */
function conversationKey(protocol: string, a: string, ap: number, b: string, bp: number): string {
  return a < b || (a === b && ap <= bp) ? `${protocol}|${a}|${ap}|${b}|${bp}` : `${protocol}|${b}|${bp}|${a}|${ap}`;
}

const first = (v: string) => {
  const i = v.indexOf(',');
  return i < 0 ? v : v.slice(0, i);
};
const iso = (t: number) => new Date(t * 1000).toISOString();
const list = (v: string) => (v ? v.split(',') : []);
/** Text from the wire, at most 1,024 characters: a name or header may be any length. */
const clip = (v: string) => (v.length > 1024 ? v.slice(0, 1024) : v);
// Loops, not Math.min(...xs): a series can hold more connections than a call has arguments.
const least = (xs: number[]) => xs.reduce((a, b) => (b < a ? b : a), Infinity);
const most = (xs: number[]) => xs.reduce((a, b) => (b > a ? b : a), -Infinity);

export type TrafficRecord = { kind: 'flow' | 'dns' | 'beacon'; record: Record<string, unknown> };

export interface DeriveStats {
  packets: number;
  flows: number;
  dns: number;
  beacons: number;
  /** Frames that are neither TCP nor UDP (ARP, ICMP …): counted, not kept. */
  other: number;
  /** The same packet captured twice (on a bridge, a bond, a virtual switch): counted once. */
  duplicates: number;
}

/**
 * Reads `file` (pcap or pcapng) and hands out its records: DNS while reading, flows and beacons at
 * the end. `capture` is the file's path as records name it (relative to the evidence folder).
 */
export async function deriveTraffic(tshark: string, file: string, capture: string, owners: ConnectionIndex, emit: (r: TrafficRecord) => void, signal?: AbortSignal): Promise<DeriveStats> {
  const stats: DeriveStats = { packets: 0, flows: 0, dns: 0, beacons: 0, other: 0, duplicates: 0 };
  // The second pass stops with this one, whichever way this one ends.
  const stop = new AbortController();
  const onAbort = () => stop.abort();
  signal?.addEventListener('abort', onAbort, { once: true });
  // Frames carrying stratum, by conversation: usually known before the main pass ends (it reads
  // only the frames that match); flows that end earlier wait for it in `held`.
  let stratum: Map<string, number[]> | undefined;
  const stratumPass = (async () => {
    const found = new Map<string, number[]>();
    let n = 0;
    for await (const f of tsharkFields(tshark, file, ['frame.number', 'ip.src', 'ip.dst', 'ipv6.src', 'ipv6.dst', 'tcp.srcport', 'tcp.dstport', 'udp.srcport', 'udp.dstport'], { filter: STRATUM, signal: stop.signal })) {
      const tcp = f[5] !== '';
      const key = conversationKey(tcp ? 'tcp' : 'udp', plain(first(f[1] || f[3])), Number(first(tcp ? f[5] : f[7])), plain(first(f[2] || f[4])), Number(first(tcp ? f[6] : f[8])));
      const frames = found.get(key);
      if (frames) frames.push(Number(f[0]));
      else found.set(key, [Number(f[0])]);
      if (++n >= 100_000) break;
    }
    stratum = found;
  })();
  // Both passes read at once; an error in either must not leave the other's rejection unheard.
  stratumPass.catch(() => undefined);

  // Open conversations by their ends (tshark's own numbers restart when it resets its session with
  // -M, which bounds its memory). A conversation leaves when it closes or goes quiet, or when a new
  // one starts on the same ends.
  const flows = new Map<string, Flow>();
  const held: Flow[] = [];
  const series = new Map<string, Series>();
  const pending = new Map<string, PendingQuery>();
  let firstTime = Infinity;
  let lastTime = 0;
  let lastSweep = 0;
  const recent: { sig: string; time: number }[] = [];
  const dnsRecord = (q: PendingQuery, answer?: { frame: number; rcode: string; answers: string[] }) => {
    stats.dns++;
    emit({
      kind: 'dns',
      record: {
        query: q.query, type: q.type || null, rcode: answer ? answer.rcode : null, answers: answer?.answers ?? [],
        client: q.client, server: q.server, time: iso(q.time), ...nameShape(q.query),
        capture, firstFrame: q.frame, lastFrame: answer?.frame ?? q.frame,
      },
    });
  };
  const emitFlow = (fl: Flow) => {
    stats.flows++;
    const owner = owners.owner(fl.protocol, fl.src, fl.srcPort, fl.dst, fl.dstPort);
    const frames = stratum?.get(conversationKey(fl.protocol, fl.src, fl.srcPort, fl.dst, fl.dstPort));
    emit({
      kind: 'flow',
      record: {
        protocol: fl.protocol, src: fl.src, srcPort: fl.srcPort, dst: fl.dst, dstPort: fl.dstPort, direction: owners.direction(fl.src, fl.dst),
        firstSeen: iso(fl.first), lastSeen: iso(fl.last), packets: fl.packets, bytes: fl.bytes, payloadBytes: fl.payload,
        ...(fl.protocol === 'tcp' ? { syn: fl.syn, established: fl.established } : {}),
        sni: fl.sni ?? null, httpHost: fl.httpHost ?? null, stratum: !!frames?.some((n) => n >= fl.firstFrame && n <= fl.lastFrame),
        pid: owner?.pid ?? null, processName: owner?.processName ?? null,
        capture, firstFrame: fl.firstFrame, lastFrame: fl.lastFrame,
      },
    });
  };
  const finish = (fl: Flow) => {
    if (stratum) {
      for (const h of held.splice(0)) emitFlow(h);
      emitFlow(fl);
    } else held.push(fl);
    const skey = `${fl.protocol}|${fl.src}|${fl.dst}|${fl.dstPort}`;
    let s = series.get(skey);
    if (!s) series.set(skey, (s = { flow: fl, starts: [], payloads: [], firstFrame: fl.firstFrame, lastFrame: fl.lastFrame, first: fl.first, last: fl.last }));
    // The first 10,000 connections of a series say whether it is regular.
    if (s.starts.length < 10_000) {
      s.starts.push(fl.first);
      s.payloads.push(fl.payload);
    }
    s.firstFrame = Math.min(s.firstFrame, fl.firstFrame);
    s.lastFrame = Math.max(s.lastFrame, fl.lastFrame);
    s.first = Math.min(s.first, fl.first);
    s.last = Math.max(s.last, fl.last);
    if (!s.flow.sni && fl.sni) s.flow = fl;
  };
  // Conversations quiet for two minutes (or closed five seconds ago) and queries unanswered for ten
  // seconds leave memory.
  const sweep = (now: number) => {
    for (const [key, fl] of flows) {
      if (now - fl.last > 120 || (fl.closed && now - fl.last > 5)) {
        flows.delete(key);
        finish(fl);
      }
    }
    for (const [key, q] of pending) {
      if (now - q.time > 10) {
        pending.delete(key);
        dnsRecord(q);
      }
    }
  };

  try {
    for await (const f of tsharkFields(tshark, file, FIELDS, { signal })) {
      stats.packets++;
      const frame = Number(f[F['frame.number']]);
      const time = Number(f[F['frame.time_epoch']]);
      if (time < firstTime) firstTime = time;
      if (time > lastTime) lastTime = time;
      if (time - lastSweep > 10 || stats.packets % 50_000 === 0) {
        sweep(time);
        lastSweep = time;
      }
      const src = plain(first(f[F['ip.src']] || f[F['ipv6.src']]));
      const dst = plain(first(f[F['ip.dst']] || f[F['ipv6.dst']]));
      const tcp = f[F['tcp.srcport']] !== '';
      const udp = !tcp && f[F['udp.srcport']] !== '';
      // An ICMP error quotes the packet it answers: its TCP/UDP fields are that packet's, not a flow.
      if (!src || (!tcp && !udp) || f[F['icmp.type']] || f[F['icmpv6.type']]) {
        stats.other++;
        continue;
      }
      const sport = Number(first(tcp ? f[F['tcp.srcport']] : f[F['udp.srcport']]));
      const dport = Number(first(tcp ? f[F['tcp.dstport']] : f[F['udp.dstport']]));
      const len = Number(f[F['frame.len']]) || 0;
      // The same packet seen twice (tcpdump -i any on a bridge or bond, pktmon on a Hyper-V switch)
      // is counted once.
      const sig = `${src}|${dst}|${sport}|${dport}|${len}|${f[F['ip.id']]}|${f[F['tcp.seq_raw']]}|${f[F['dns.id']]}`;
      if (recent.some((r) => r.sig === sig && time - r.time < 0.01)) {
        stats.duplicates++;
        continue;
      }
      recent.push({ sig, time });
      if (recent.length > 16) recent.shift();
      const key = conversationKey(tcp ? 'tcp' : 'udp', src, sport, dst, dport);
      const flags = tcp ? parseInt(first(f[F['tcp.flags']]) || '0', 16) : 0;
      const syn = (flags & 0x02) !== 0;
      const ack = (flags & 0x10) !== 0;
      let flow = flows.get(key);
      // The same ends again: a new TCP connection (a fresh SYN after the old one got going), or UDP
      // after two minutes of silence.
      if (flow && ((tcp && syn && !ack && (flow.established || flow.packets > 3 || flow.closed)) || (!tcp && time - flow.last > 120))) {
        flows.delete(key);
        finish(flow);
        flow = undefined;
      }
      if (!flow) {
        // The side that sent the first packet seen starts the flow, unless that packet answers a
        // SYN (a SYN-ACK) or, with no handshake seen, comes from a well-known port to a high one.
        const reversed = (syn && ack) || (!syn && sport < 1024 && dport >= 1024);
        flow = reversed
          ? { protocol: tcp ? 'tcp' : 'udp', src: dst, srcPort: dport, dst: src, dstPort: sport, first: time, last: time, firstFrame: frame, lastFrame: frame, packets: 0, bytes: 0, payload: 0, syn: false, established: false, closed: false }
          : { protocol: tcp ? 'tcp' : 'udp', src, srcPort: sport, dst, dstPort: dport, first: time, last: time, firstFrame: frame, lastFrame: frame, packets: 0, bytes: 0, payload: 0, syn: false, established: false, closed: false };
        flows.set(key, flow);
      }
      flow.packets++;
      flow.bytes += len;
      flow.payload += Number(first(tcp ? f[F['tcp.len']] : f[F['udp.length']])) - (tcp ? 0 : 8) || 0;
      flow.last = time;
      flow.lastFrame = frame;
      if (syn && !ack) flow.syn = true;
      if (syn && ack) flow.established = true;
      if (flags & 0x05) flow.closed = true; // FIN or RST
      // Names are kept whole: tshark joins occurrences with commas, which a name may also hold, and
      // a protocol carries one of each per packet.
      const sni = f[F['tls.handshake.extensions_server_name']];
      if (sni && !flow.sni) flow.sni = clip(sni);
      const host = f[F['http.host']];
      if (host && !flow.httpHost) flow.httpHost = clip(host);

      const qname = clip(f[F['dns.qry.name']]);
      if (qname && udp) {
        const response = /^(1|true)$/i.test(first(f[F['dns.flags.response']]));
        const id = first(f[F['dns.id']]);
        if (!response) {
          const q = { frame, time, client: src, server: dst, query: qname, type: dnsType(first(f[F['dns.qry.type']])) };
          const pkey = `${src}|${dst}|${id}|${qname}`;
          const previous = pending.get(pkey);
          if (previous) dnsRecord(previous); // a retry: the first try went unanswered
          pending.set(pkey, q);
        } else {
          const pkey = `${dst}|${src}|${id}|${qname}`;
          const q = pending.get(pkey) ?? { frame, time, client: dst, server: src, query: qname, type: dnsType(first(f[F['dns.qry.type']])) };
          pending.delete(pkey);
          dnsRecord(q, { frame, rcode: dnsRcode(first(f[F['dns.flags.rcode']]) || '0'), answers: [...list(f[F['dns.a']]), ...list(f[F['dns.aaaa']]), ...list(f[F['dns.cname']]).map(clip)] });
        }
      }
    }
    for (const q of pending.values()) dnsRecord(q);
    await stratumPass;
    for (const h of held.splice(0)) emitFlow(h);
    for (const fl of flows.values()) finish(fl);
    flows.clear();
  } finally {
    stop.abort();
    signal?.removeEventListener('abort', onAbort);
  }

  const span = Math.max(0, lastTime - firstTime);
  for (const s of series.values()) {
    const score = beaconScore(s.starts, s.payloads, span);
    if (!score) continue;
    stats.beacons++;
    const a = s.flow;
    const owner = owners.owner(a.protocol, a.src, a.srcPort, a.dst, a.dstPort);
    emit({
      kind: 'beacon',
      record: {
        protocol: a.protocol, src: a.src, dst: a.dst, dstPort: a.dstPort, direction: owners.direction(a.src, a.dst), connections: s.starts.length, ...score,
        firstSeen: iso(s.first), lastSeen: iso(s.last), sni: a.sni ?? null, httpHost: a.httpHost ?? null,
        pid: owner?.pid ?? null, processName: owner?.processName ?? null,
        capture, firstFrame: s.firstFrame, lastFrame: s.lastFrame,
      },
    });
  }
  return stats;
}
