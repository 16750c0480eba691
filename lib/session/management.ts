// The session's own TCP connection as the traffic-capture step needs it to leave it out:
// `RESPONDER-ADDRESS TARGET-ADDRESS TARGET-PORT`, as this side of the socket sees it. Behind NAT
// the target sees another responder address; its SSH_CONNECTION, where set, wins on Linux.
import { isIP } from 'node:net';

interface SocketLike {
  localAddress?: string;
  remoteAddress?: string;
  remotePort?: number;
}

export function managementOf(sock: SocketLike | undefined): string | undefined {
  if (!sock?.localAddress || !sock.remoteAddress || !sock.remotePort) return undefined;
  const plain = (a: string) => a.replace(/^::ffff:(\d+\.\d+\.\d+\.\d+)$/, '$1');
  const local = plain(sock.localAddress);
  const remote = plain(sock.remoteAddress);
  if (!isIP(local) || !isIP(remote)) return undefined;
  return `${local} ${remote} ${sock.remotePort}`;
}
