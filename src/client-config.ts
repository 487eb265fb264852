import { ConfigError } from './errors.js';
import { describeValue } from './masking.js';

// Apart from config.ts, whose zod schema is most of what a client command would load otherwise
// (~830 KB of JavaScript, against ~350 KB for the command itself): `taskwire status`, run by
// scripts in loops, starts without it.

/** What the CLI's client commands (enqueue, status, tasks …) need: where the running server is. */
export interface ClientConfig {
  /** TASKWIRE_URL: the server's GraphQL endpoint (default http://127.0.0.1:4000/graphql). */
  readonly url: string;
  /**
   * TASKWIRE_TOKEN: the credential sent as `Authorization: Bearer …` to a server with auth on (an
   * API key, a JWT or a read token); undefined: none. An environment variable, not a flag, so that
   * it stays out of shell history and process lists.
   */
  readonly token: string | undefined;
}

/**
 * Reads TASKWIRE_URL and TASKWIRE_TOKEN only, so that a client command works whatever the server's own variables hold.
 * @throws ConfigError when it is not an http(s) URL.
 */
export function loadClientConfig(env: Record<string, string | undefined> = process.env): ClientConfig {
  const url = env.TASKWIRE_URL?.trim() || 'http://127.0.0.1:4000/graphql';
  if (!URL.canParse(url) || !/^https?:$/.test(new URL(url).protocol)) {
    // One that does not parse at all is most often a port past 65535 or a host with a space, not a scheme.
    const why = URL.canParse(url) ? 'must be an http:// or https:// URL' : 'is not a URL (its port must be 0 to 65535, its host a name or address)';
    throw new ConfigError(`Invalid configuration:\n  ${describeValue('TASKWIRE_URL', url)}: ${why}`, { field: 'TASKWIRE_URL' });
  }
  const { username, password } = new URL(url);
  if (username !== '' || password !== '') {
    // Not a server that cannot be reached (exit 3): fetch refuses such a URL at every request.
    throw new ConfigError(`Invalid configuration:\n  ${describeValue('TASKWIRE_URL', url)}: must not carry a user or password (fetch refuses it); send the key as TASKWIRE_TOKEN`, { field: 'TASKWIRE_URL' });
  }
  const token = env.TASKWIRE_TOKEN?.trim() || undefined;
  return Object.freeze({ url, token });
}
