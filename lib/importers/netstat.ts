// `netstat -ano`, `-anob`, and `-an` / `-anb` (no PID column: connections without owners, said
// once) text: IPv4, IPv6 with zone ids, *:* for UDP, the [exe] lines of -b and its refusal,
// spelt "Can not obtain ownership information" or "Cannot obtain ownership information".
import { InputError } from '../errors.ts';
import { decodeText } from './text.ts';
import type { Importer } from './types.ts';

const STATES: Record<string, string> = {
  LISTENING: 'Listen', ESTABLISHED: 'Established', SYN_SENT: 'SynSent', SYN_RECEIVED: 'SynReceived', SYN_RCVD: 'SynReceived',
  FIN_WAIT_1: 'FinWait1', FIN_WAIT_2: 'FinWait2', CLOSE_WAIT: 'CloseWait', CLOSING: 'Closing', LAST_ACK: 'LastAck',
  TIME_WAIT: 'TimeWait', CLOSED: 'Closed', DELETE_TCB: 'DeleteTCB', BOUND: 'Bound',
};

function splitEndpoint(s: string): { address: string; port: number | null } {
  if (s === '*:*') return { address: '*', port: null };
  const i = s.lastIndexOf(':');
  const address = s.slice(0, i).replace(/^\[|\]$/g, '');
  const port = s.slice(i + 1);
  return { address, port: port === '*' ? null : Number(port) };
}

export const importNetstat: Importer = (buf, name) => {
  const lines = decodeText(buf).split(/\r?\n/);
  const records: Record<string, unknown>[] = [];
  const warnings: string[] = [];
  let last: Record<string, unknown> | undefined;
  let header = false;
  // Without -o there is no PID column; known from the header, or from the rows when it is absent.
  let withPid: boolean | null = null;
  lines.forEach((raw, i) => {
    const line = raw.trim();
    if (!line) return;
    if (/^Proto\s+Local Address/i.test(line)) {
      header = true;
      withPid = /\bPID\s*$/i.test(line);
      return;
    }
    const f = line.split(/\s+/);
    const proto = f[0].toUpperCase();
    if ((proto === 'TCP' || proto === 'UDP') && f.length >= 3) {
      const local = splitEndpoint(f[1]);
      const remote = splitEndpoint(f[2]);
      const isTcp = proto === 'TCP';
      const stateText = isTcp ? (f[3] ?? null) : null;
      const pidText = f[isTcp ? 4 : 3];
      withPid ??= pidText !== undefined;
      const pid = withPid ? Number(pidText) : null;
      if ((withPid && !Number.isInteger(pid)) || (!withPid && pidText !== undefined) || (isTcp && !stateText) || local.port === null) {
        warnings.push(`${name}:${i + 1}: not a netstat row, skipped`);
        return;
      }
      last = {
        protocol: isTcp ? 'tcp' : 'udp',
        localAddress: local.address,
        localPort: local.port,
        remoteAddress: isTcp ? remote.address : null,
        remotePort: isTcp ? remote.port : null,
        state: stateText ? STATES[stateText.toUpperCase()] ?? stateText : null,
        pid,
        processName: null,
      };
      records.push(last);
      return;
    }
    // -b: the owning executable in brackets, a service name, or a refusal, under the row.
    const exe = /^\[(.+)\]$/.exec(line);
    if (exe && last) {
      last.processName = exe[1];
      return;
    }
    if (/^Can ?not obtain ownership information$/i.test(line) || /^Active Connections$/i.test(line)) return;
    if (last && /^[\w.-]+$/.test(line)) {
      last.service = line;
      return;
    }
    warnings.push(`${name}:${i + 1}: unrecognised line, skipped`);
  });
  if (!header && !records.length) throw new InputError('not netstat -ano output: no "Proto  Local Address" header and no TCP/UDP rows', { file: name });
  if (withPid === false && records.length) warnings.unshift(`${name}: netstat ran without -o, so the ${records.length} connections have no owning process; netstat -ano gives owners`);
  return { kind: 'connection', records, warnings };
};
