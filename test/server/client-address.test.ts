import type { IncomingMessage } from 'node:http';
import { describe, expect, it } from 'vitest';
import { clientAddresses } from '../../src/server/client-address.js';

/** A request as the address resolver reads it: its peer and its headers. */
const request = (peer: string | undefined, forwardedFor?: string | string[]): IncomingMessage =>
  ({ socket: { remoteAddress: peer }, headers: forwardedFor === undefined ? {} : { 'x-forwarded-for': forwardedFor } }) as unknown as IncomingMessage;

/** A request through proxies that append to RFC 7239 `Forwarded` (and a client's own X-Forwarded-For). */
const viaForwarded = (peer: string, forwarded: string | string[], forwardedFor?: string): IncomingMessage =>
  ({ socket: { remoteAddress: peer }, headers: { forwarded, ...(forwardedFor === undefined ? {} : { 'x-forwarded-for': forwardedFor }) } }) as unknown as IncomingMessage;

describe('clientAddresses', () => {
  it('is the TCP peer without trusted proxies, whatever X-Forwarded-For says', () => {
    const of = clientAddresses([]);
    expect(of(request('10.0.0.5', '203.0.113.1'))).toBe('10.0.0.5');
    expect(of(request(undefined))).toBe('local');
    expect(of(undefined)).toBe('local');
  });

  it('behind trusted proxies, is the rightmost forwarded address that is not one of them', () => {
    const of = clientAddresses(['10.0.0.0/8', '127.0.0.1', 'fd00::/8']);
    expect(of(request('10.0.0.5', '203.0.113.1'))).toBe('203.0.113.1');
    // Two proxies: the client's is left of the inner proxy's.
    expect(of(request('10.0.0.5', '203.0.113.1, 10.1.2.3'))).toBe('203.0.113.1');
    // What a client wrote itself, left of the address a proxy appended, is not believed.
    expect(of(request('10.0.0.5', '198.51.100.7, 203.0.113.1'))).toBe('203.0.113.1');
    // Repeated headers read as one list; IPv4 on a dual-stack socket; IPv6 ranges.
    expect(of(request('10.0.0.5', ['198.51.100.7', '203.0.113.1, 10.9.9.9']))).toBe('203.0.113.1');
    expect(of(request('::ffff:127.0.0.1', '2001:db8::1'))).toBe('2001:db8::1');
    expect(of(request('fd00::5', '::ffff:203.0.113.4'))).toBe('203.0.113.4');
  });

  it("is the peer when it is not a trusted proxy, or when the header names no one else", () => {
    const of = clientAddresses(['10.0.0.0/8']);
    expect(of(request('203.0.113.9', '198.51.100.7'))).toBe('203.0.113.9');
    expect(of(request('10.0.0.5'))).toBe('10.0.0.5');
    expect(of(request('10.0.0.5', '10.0.0.6, 10.0.0.7'))).toBe('10.0.0.5');
    // A hop that is no address (a proxy's `unknown`) ends the walk: it stands for that client.
    expect(of(request('10.0.0.5', '203.0.113.1, unknown'))).toBe('unknown');
  });

  it('with TRUSTED_PROXY_HEADER=forwarded, reads the for= nodes of Forwarded (ports, brackets, quotes) and no X-Forwarded-For', () => {
    const of = clientAddresses(['10.0.0.0/8', 'fd00::/8'], 'forwarded');
    expect(of(viaForwarded('10.0.0.5', 'for=203.0.113.1'))).toBe('203.0.113.1');
    // Other parameters, a port, case, two proxies, and what the client wrote itself further left.
    expect(of(viaForwarded('10.0.0.5', 'for=198.51.100.7, For="203.0.113.1:4711";proto=https;by=10.0.0.5, for=10.1.2.3'))).toBe('203.0.113.1');
    expect(of(viaForwarded('10.0.0.5', 'for="[2001:db8:cafe::17]:4711"'))).toBe('2001:db8:cafe::17');
    expect(of(viaForwarded('fd00::5', ['for="[2001:db8::1]"', 'for="[fd00::9]"']))).toBe('2001:db8::1');
    // A quoted comma or semicolon does not split; an empty element is no hop.
    expect(of(viaForwarded('10.0.0.5', 'for=203.0.113.1;host="a,b;c", , for=10.0.0.6'))).toBe('203.0.113.1');
    // unknown, an obfuscated node, an element without for=: the chain stops there.
    expect(of(viaForwarded('10.0.0.5', 'for=203.0.113.1, for=unknown'))).toBe('unknown');
    expect(of(viaForwarded('10.0.0.5', 'for=203.0.113.1, for=_hidden'))).toBe('_hidden');
    expect(of(viaForwarded('10.0.0.5', 'for=203.0.113.1, proto=https'))).toBe('unknown');
    // X-Forwarded-For is whatever the client sent: not read. No header: the proxy's own request.
    expect(of(viaForwarded('10.0.0.5', 'for=203.0.113.1', '198.51.100.99'))).toBe('203.0.113.1');
    expect(of(request('10.0.0.5', '198.51.100.99'))).toBe('10.0.0.5');
    // Not from a trusted proxy: the peer, whatever Forwarded says.
    expect(of(viaForwarded('203.0.113.9', 'for=198.51.100.7'))).toBe('203.0.113.9');
  });

  it('with the default header, does not read Forwarded', () => {
    expect(clientAddresses(['10.0.0.0/8'])(viaForwarded('10.0.0.5', 'for=203.0.113.1'))).toBe('10.0.0.5');
  });
});
