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

  add(r: Record<string, unknown>): void {
    if (typeof r.pid !== 'number' || typeof r.localPort !== 'number' || (r.protocol !== 'tcp' && r.protocol !== 'udp')) return;
    const owner: Owner = { pid: r.pid, ...(typeof r.processName === 'string' ? { processName: r.processName } : {}) };
    const local = typeof r.localAddress === 'string' ? plain(r.localAddress) : '';
    if (typeof r.remoteAddress === 'string' && typeof r.remotePort === 'number' && r.remotePort > 0 && !/^(0\.0\.0\.0|::|\*)$/.test(r.remoteAddress)) {
      this.exact.set(`${r.protocol}|${local}|${r.localPort}|${plain(r.remoteAddress)}|${r.remotePort}`, owner);
    } else if (r.protocol === 'udp' || /listen/i.test(String(r.state ?? ''))) {
      this.listeners.set(`${r.protocol}|${r.localPort}`, owner);
    }
  }

  /** The owner of either end, or of the server end's listening port. */
  owner(protocol: string, src: string, srcPort: number, dst: string, dstPort: number): Owner | undefined {
    return (
      this.exact.get(`${protocol}|${src}|${srcPort}|${dst}|${dstPort}`) ??
      this.exact.get(`${protocol}|${dst}|${dstPort}|${src}|${srcPort}`) ??
      this.listeners.get(`${protocol}|${dstPort}`)
    );
  }
}

const FIELDS = [
  'frame.number', 'frame.time_epoch', 'frame.len', 'ip.src', 'ip.dst', 'ipv6.src', 'ipv6.dst',
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
  sni?: string;
  httpHost?: string;
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
}

/**
 * Reads `file` (pcap or pcapng) and hands out its records: DNS while reading, flows and beacons at
 * the end. `capture` is the file's path as records name it (relative to the evidence folder).
 */
export async function deriveTraffic(tshark: string, file: string, capture: string, owners: ConnectionIndex, emit: (r: TrafficRecord) => void, signal?: AbortSignal): Promise<DeriveStats> {
  const stats: DeriveStats = { packets: 0, flows: 0, dns: 0, beacons: 0, other: 0 };
  // Frames carrying stratum, with their ends: matched to flows at the end by ends and frame range.
  const stratumFrames = (async () => {
    const found: { key: string; frame: number }[] = [];
    for await (const f of tsharkFields(tshark, file, ['frame.number', 'ip.src', 'ip.dst', 'ipv6.src', 'ipv6.dst', 'tcp.srcport', 'tcp.dstport', 'udp.srcport', 'udp.dstport'], { filter: STRATUM, signal })) {
      const tcp = f[5] !== '';
      const a = plain(first(f[1] || f[3]));
      const b = plain(first(f[2] || f[4]));
      found.push({ key: conversationKey(tcp ? 'tcp' : 'udp', a, Number(first(tcp ? f[5] : f[7])), b, Number(first(tcp ? f[6] : f[8]))), frame: Number(f[0]) });
      if (found.length > 100_000) break;
    }
    return found;
  })();
  // Both passes read at once; an error in either must not leave the other's rejection unheard.
  stratumFrames.catch(() => undefined);

  // Open conversations by their ends; a conversation that ends (or is replaced by a new one on the
  // same ends) moves to `done`. tshark's own conversation numbers restart when it resets its
  // session (-M, which bounds its memory), so the ends are the key.
  const flows = new Map<string, Flow>();
  const done: Flow[] = [];
  const pending = new Map<string, PendingQuery>();
  let firstTime = Infinity;
  let lastTime = 0;
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

  for await (const f of tsharkFields(tshark, file, FIELDS, { signal })) {
    stats.packets++;
    const frame = Number(f[F['frame.number']]);
    const time = Number(f[F['frame.time_epoch']]);
    if (time < firstTime) firstTime = time;
    if (time > lastTime) lastTime = time;
    const src = plain(first(f[F['ip.src']] || f[F['ipv6.src']]));
    const dst = plain(first(f[F['ip.dst']] || f[F['ipv6.dst']]));
    const tcp = f[F['tcp.srcport']] !== '';
    const udp = !tcp && f[F['udp.srcport']] !== '';
    if (!src || (!tcp && !udp)) {
      stats.other++;
      continue;
    }
    const sport = Number(first(tcp ? f[F['tcp.srcport']] : f[F['udp.srcport']]));
    const dport = Number(first(tcp ? f[F['tcp.dstport']] : f[F['udp.dstport']]));
    const key = conversationKey(tcp ? 'tcp' : 'udp', src, sport, dst, dport);
    const flags = tcp ? parseInt(first(f[F['tcp.flags']]) || '0', 16) : 0;
    const syn = (flags & 0x02) !== 0;
    const ack = (flags & 0x10) !== 0;
    const len = Number(f[F['frame.len']]) || 0;
    let flow = flows.get(key);
    // The same ends again: a new TCP connection (a fresh SYN after the old one got going), or UDP
    // after two minutes of silence.
    if (flow && ((tcp && syn && !ack && (flow.established || flow.packets > 3)) || (!tcp && time - flow.last > 120))) {
      done.push(flow);
      flow = undefined;
    }
    if (!flow) {
      // The side that sent the first packet seen starts the flow, unless that packet answers a
      // SYN (a SYN-ACK) or, with no handshake seen, comes from a well-known port to a high one.
      const reversed = (syn && ack) || (!syn && sport < 1024 && dport >= 1024);
      flow = reversed
        ? { protocol: tcp ? 'tcp' : 'udp', src: dst, srcPort: dport, dst: src, dstPort: sport, first: time, last: time, firstFrame: frame, lastFrame: frame, packets: 0, bytes: 0, payload: 0, syn: false, established: false }
        : { protocol: tcp ? 'tcp' : 'udp', src, srcPort: sport, dst, dstPort: dport, first: time, last: time, firstFrame: frame, lastFrame: frame, packets: 0, bytes: 0, payload: 0, syn: false, established: false };
      flows.set(key, flow);
    }
    flow.packets++;
    flow.bytes += len;
    flow.payload += Number(first(tcp ? f[F['tcp.len']] : f[F['udp.length']])) - (tcp ? 0 : 8) || 0;
    flow.last = time;
    flow.lastFrame = frame;
    if (syn && !ack) flow.syn = true;
    if (syn && ack) flow.established = true;
    const sni = f[F['tls.handshake.extensions_server_name']];
    if (sni && !flow.sni) flow.sni = first(sni);
    const host = f[F['http.host']];
    if (host && !flow.httpHost) flow.httpHost = first(host);

    const qname = first(f[F['dns.qry.name']]);
    if (qname) {
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
        dnsRecord(q, { frame, rcode: dnsRcode(first(f[F['dns.flags.rcode']]) || '0'), answers: [...list(f[F['dns.a']]), ...list(f[F['dns.aaaa']]), ...list(f[F['dns.cname']])] });
      }
    }
  }
  for (const q of pending.values()) dnsRecord(q);
  const all = [...done, ...flows.values()].sort((a, b) => a.firstFrame - b.firstFrame);
  const stratum = new Set<Flow>();
  const byKey = new Map<string, Flow[]>();
  for (const fl of all) {
    const k = conversationKey(fl.protocol, fl.src, fl.srcPort, fl.dst, fl.dstPort);
    const list = byKey.get(k);
    if (list) list.push(fl);
    else byKey.set(k, [fl]);
  }
  for (const s of await stratumFrames) {
    const fl = byKey.get(s.key)?.find((x) => s.frame >= x.firstFrame && s.frame <= x.lastFrame);
    if (fl) stratum.add(fl);
  }
  byKey.clear();

  // Flows in the order they began, then the series they form.
  const series = new Map<string, Flow[]>();
  for (const fl of all) {
    stats.flows++;
    const owner = owners.owner(fl.protocol, fl.src, fl.srcPort, fl.dst, fl.dstPort);
    emit({
      kind: 'flow',
      record: {
        protocol: fl.protocol, src: fl.src, srcPort: fl.srcPort, dst: fl.dst, dstPort: fl.dstPort,
        firstSeen: iso(fl.first), lastSeen: iso(fl.last), packets: fl.packets, bytes: fl.bytes, payloadBytes: fl.payload,
        ...(fl.protocol === 'tcp' ? { syn: fl.syn, established: fl.established } : {}),
        sni: fl.sni ?? null, httpHost: fl.httpHost ?? null, stratum: stratum.has(fl),
        pid: owner?.pid ?? null, processName: owner?.processName ?? null,
        capture, firstFrame: fl.firstFrame, lastFrame: fl.lastFrame,
      },
    });
    const skey = `${fl.protocol}|${fl.src}|${fl.dst}|${fl.dstPort}`;
    const s = series.get(skey);
    if (s) s.push(fl);
    else series.set(skey, [fl]);
  }
  const span = Math.max(0, lastTime - firstTime);
  for (const s of series.values()) {
    const score = beaconScore(s.map((x) => x.first), s.map((x) => x.payload), span);
    if (!score) continue;
    stats.beacons++;
    const a = s[0];
    const owner = s.map((x) => owners.owner(x.protocol, x.src, x.srcPort, x.dst, x.dstPort)).find(Boolean);
    emit({
      kind: 'beacon',
      record: {
        protocol: a.protocol, src: a.src, dst: a.dst, dstPort: a.dstPort, connections: s.length, ...score,
        firstSeen: iso(least(s.map((x) => x.first))), lastSeen: iso(most(s.map((x) => x.last))),
        sni: s.find((x) => x.sni)?.sni ?? null, httpHost: s.find((x) => x.httpHost)?.httpHost ?? null,
        pid: owner?.pid ?? null, processName: owner?.processName ?? null,
        capture, firstFrame: least(s.map((x) => x.firstFrame)), lastFrame: most(s.map((x) => x.lastFrame)),
      },
    });
  }
  return stats;
}
