import { BlockList, isIP } from 'node:net';
import { ConfigError } from '../errors.js';
import { withoutPort } from './client-address.js';

const LOOPBACK = new BlockList();
LOOPBACK.addSubnet('127.0.0.0', 8, 'ipv4');
LOOPBACK.addAddress('::1', 'ipv6');

/**
 * Whether `host` names this machine only: `localhost` (and `*.localhost`, RFC 6761), an IPv4
 * address in 127.0.0.0/8 (also IPv4-mapped, `::ffff:127.x.x.x`) or `::1`. Brackets around an
 * IPv6 address and a `:port` after a name are ignored.
 */
export function isLoopbackHost(host: string): boolean {
  let h = withoutPort(host.trim().toLowerCase());
  if (h.endsWith('.')) h = h.slice(0, -1);
  if (h === 'localhost' || h.endsWith('.localhost')) return true;
  if (h.startsWith('::ffff:')) h = h.slice('::ffff:'.length);
  const family = isIP(h);
  return family !== 0 && LOOPBACK.check(h, family === 4 ? 'ipv4' : 'ipv6');
}

/**
 * The start-up rule of DESIGN Part 2 §B: with AUTH_MODE=off the server may listen only on a
 * loopback address. Anything else would let whoever reaches the port enqueue, cancel and read
 * every task, so the process refuses to start and says how to fix it (one line).
 * @throws ConfigError (the CLI prints its message and exits with 2).
 */
export function assertSafeToServe(authMode: 'off' | 'on', host: string): void {
  if (authMode === 'on' || isLoopbackHost(host)) return;
  throw new ConfigError(
    `refusing to serve on HOST=${host} with AUTH_MODE=off: anyone who reaches the port could enqueue, cancel and read every task. ` +
      'Set AUTH_MODE=on and give clients a credential (taskwire keys create, or JWT_SECRET / JWT_JWKS_URL), or listen on HOST=127.0.0.1 (docs/auth.md#start-up-rule).',
    { field: 'HOST' },
  );
}
