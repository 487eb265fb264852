import type { IncomingMessage } from 'node:http';
import { BlockList, isIP } from 'node:net';

/** The header trusted proxies append the client's address to (TRUSTED_PROXY_HEADER). */
export type ForwardingHeader = 'x-forwarded-for' | 'forwarded';

/** The address a request comes from, as the failed-auth throttle and the auth logs see it. */
export type ClientAddressOf = (req: IncomingMessage | undefined) => string;

/**
 * The client's address of a request. Without trusted proxies, its TCP peer. Behind proxies
 * (TRUSTED_PROXIES), every request's peer is a proxy: counted by the peer, ten bad keys from anyone
 * would throttle every client behind it, good keys included. So when the peer is trusted, the
 * client is the rightmost address of the forwarding header (TRUSTED_PROXY_HEADER: `X-Forwarded-For`
 * or RFC 7239 `Forwarded`'s `for=`) that is not a trusted proxy (each proxy appends the peer it saw;
 * what is left of the last untrusted one could be made up by the client and is never believed). A
 * request that names no untrusted address is the proxy's own. `local` for `yoga.fetch`, which has
 * no socket.
 */
export function clientAddresses(trustedProxies: readonly string[], header: ForwardingHeader = 'x-forwarded-for'): ClientAddressOf {
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
  const hopsOf = header === 'forwarded' ? forwardedFor : xForwardedFor;
  return (req) => {
    const from = peer(req);
    if (!req || !isTrusted(from)) return from;
    const value = req.headers[header];
    const hops = hopsOf(Array.isArray(value) ? value.join(',') : (value ?? ''));
    for (let i = hops.length - 1; i >= 0; i--) {
      const hop = unmapped(hops[i] as string);
      // Not an address (a proxy's `unknown`, an obfuscated `_node`): the chain cannot be followed past it.
      if (isIP(hop) === 0) return hop.slice(0, 64);
      if (!isTrusted(hop)) return hop;
    }
    return from;
  };
}

/** The hops of an `X-Forwarded-For` value, leftmost first. */
function xForwardedFor(value: string): string[] {
  return value
    .split(',')
    .map((s) => s.trim())
    .filter((s) => s.length > 0);
}

/**
 * The hops of a `Forwarded` value (RFC 7239), leftmost first: each element's `for=` node, without
 * its port (`192.0.2.43:47011`, `"[2001:db8::17]:4711"`). An element without `for` is `unknown`.
 * Commas and semicolons inside quoted strings do not split.
 */
function forwardedFor(value: string): string[] {
  const hops: string[] = [];
  let node: string | undefined;
  let pair = '';
  let quoted = false;
  // Whether the element so far has anything in it: an empty one (`a, , b`) is no hop.
  let filled = false;
  const endPair = (): void => {
    const eq = pair.indexOf('=');
    if (eq > 0 && pair.slice(0, eq).trim().toLowerCase() === 'for') node = unquoted(pair.slice(eq + 1).trim());
    if (pair.trim().length > 0) filled = true;
    pair = '';
  };
  const endElement = (): void => {
    endPair();
    if (filled) hops.push(node === undefined ? 'unknown' : withoutPort(node));
    node = undefined;
    filled = false;
  };
  for (let i = 0; i < value.length; i++) {
    const c = value[i] as string;
    if (quoted) {
      pair += c;
      if (c === '\\' && i + 1 < value.length) pair += value[++i];
      else if (c === '"') quoted = false;
    } else if (c === '"') {
      quoted = true;
      pair += c;
    } else if (c === ';') {
      endPair();
    } else if (c === ',') {
      endElement();
    } else {
      pair += c;
    }
  }
  endElement();
  return hops;
}

/** A token or a quoted string's content (its backslash escapes undone). */
function unquoted(v: string): string {
  return v.length >= 2 && v.startsWith('"') && v.endsWith('"') ? v.slice(1, -1).replace(/\\(.)/g, '$1') : v;
}

/**
 * A host or node without its port, as a Host header or a `Forwarded` `for=` writes it:
 * `[2001:db8::17]:4711` → `2001:db8::17`, `192.0.2.43:47011` → `192.0.2.43`, `localhost:4000` →
 * `localhost`. One colon is `name:port` or `ipv4:port` (an IPv6 address with a port is bracketed),
 * so more colons are an IPv6 address, left whole. The colons are counted rather than asked of
 * isIP: `isIP('127.0.0.1:4000')` tries node's IPv6 pattern, whose first use compiles it (8 ms on a
 * quiet machine, ~50 ms on a busy one: a fresh server's first request waited for it).
 */
export function withoutPort(value: string): string {
  if (value.startsWith('[')) {
    const end = value.indexOf(']');
    return end > 0 ? value.slice(1, end) : value;
  }
  const colon = value.indexOf(':');
  return colon > 0 && value.indexOf(':', colon + 1) === -1 ? value.slice(0, colon) : value;
}

/** `::ffff:10.1.2.3` (an IPv4 peer on a dual-stack socket) as `10.1.2.3`, so IPv4 ranges match it. */
function unmapped(address: string): string {
  return address.startsWith('::ffff:') && isIP(address.slice(7)) === 4 ? address.slice(7) : address;
}
