// A capture taken by hand (Wireshark, tcpdump, etl2pcapng's output) → one capture record; the file
// itself is kept in the step's files/, where triage reads it with tshark like a collected capture.
import { closeSync, openSync, readSync, statSync } from 'node:fs';
import { basename } from 'node:path';
import { InputError } from '../errors.ts';
import { sha256File } from '../evidence/hash.ts';
import type { RecordKind } from '../definitions.ts';

/** pcapng's section header, and classic pcap's magic in both byte orders and both time resolutions. */
function formatOf(head: Buffer): 'pcapng' | 'pcap' | undefined {
  const m = head.readUInt32BE(0);
  if (m === 0x0a0d0d0a) return 'pcapng';
  if ([0xa1b2c3d4, 0xd4c3b2a1, 0xa1b23c4d, 0x4d3cb2a1].includes(m)) return 'pcap';
  return undefined;
}

export async function importPcap(file: string, onRecord: (r: Record<string, unknown>) => void | Promise<void>): Promise<{ kind: RecordKind; count: number; warnings: string[] }> {
  const head = Buffer.alloc(4);
  let fd: number;
  try {
    fd = openSync(file, 'r');
  } catch (e) {
    throw new InputError(`cannot read: ${(e as Error).message}`, { file });
  }
  try {
    readSync(fd, head, 0, 4, 0);
  } finally {
    closeSync(fd);
  }
  const format = formatOf(head);
  if (!format) {
    const etl = /\.etl$/i.test(file) ? ": an ETW trace (netsh trace, pktmon) must first become pcapng, on Windows with Microsoft's etl2pcapng or pktmon etl2pcap" : '';
    throw new InputError(`not a pcap or pcapng capture (its first bytes are ${head.toString('hex')})${etl}`, { file });
  }
  const { sha256 } = await sha256File(file);
  const st = statSync(file);
  await onRecord({
    file: basename(file), format, size: st.size, sha256, tool: 'imported', toolVersion: null, interfaces: [], filter: null, excluded: null,
    startTime: null, endTime: null, stoppedBy: 'unknown', complete: true, packets: null, error: null,
  });
  return { kind: 'capture', count: 1, warnings: [] };
}
