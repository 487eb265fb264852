import type { IncomingMessage } from 'node:http';
import { BlockList, isIP } from 'node:net';

/** The address a request comes from, as the failed-auth throttle and the auth logs see it. */
export type ClientAddressOf = (req: IncomingMessage | undefined) => string;

/**
 * The client's address of a request. Without trusted proxies, its TCP peer. Behind proxies
 * (TRUSTED_PROXIES), every request's peer is a proxy: counted by the peer, ten bad keys from anyone
 * would throttle every client behind it, good keys included. So when the peer is trusted, the
 * client is the rightmost `X-Forwarded-For` address that is not a trusted proxy (each proxy
 * appends the peer it saw; what is left of the last untrusted one could be made up by the client
 * and is never believed). A request that names no untrusted address is the proxy's own. `local`
 * for `yoga.fetch`, which has no socket.
 */
export function clientAddresses(trustedProxies: readonly string[]): ClientAddressOf {
  const peer = (req: IncomingMessage | undefined): string => req?.socket.remoteAddress ?? 'local';
  if (trustedProxies.length === 0) return peer;
  const trusted = new BlockList();
  for (const entry of trustedProxies) {
    const [address = '', bits] = entry.split('/');
    const type = isIP(address) === 6 ? 'ipv6' : 'ipv4';
    if (bits === undefined) trusted.addAddress(address, type);
    else trusted.addSubnet(address, Number(bits), type);
  }
  const isTrusted = (address: string): boolean => {
    const plain = unmapped(address);
    const family = isIP(plain);
    return family !== 0 && trusted.check(plain, family === 6 ? 'ipv6' : 'ipv4');
  };
  return (req) => {
    const from = peer(req);
    if (!req || !isTrusted(from)) return from;
    const header = req.headers['x-forwarded-for'];
    const hops = (Array.isArray(header) ? header.join(',') : (header ?? ''))
      .split(',')
      .map((s) => s.trim())
      .filter((s) => s.length > 0);
    for (let i = hops.length - 1; i >= 0; i--) {
      const hop = unmapped(hops[i] as string);
      // Not an address (a proxy's `unknown`, a port): the chain cannot be followed past it.
      if (isIP(hop) === 0) return hop.slice(0, 64);
      if (!isTrusted(hop)) return hop;
    }
    return from;
  };
}

/** `::ffff:10.1.2.3` (an IPv4 peer on a dual-stack socket) as `10.1.2.3`, so IPv4 ranges match it. */
function unmapped(address: string): string {
  return address.startsWith('::ffff:') && isIP(address.slice(7)) === 4 ? address.slice(7) : address;
}
