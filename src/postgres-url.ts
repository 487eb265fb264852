import { isIP } from 'node:net';

/**
 * A PostgreSQL URL as libpq reads it, handed to postgres.js. postgres.js reads the user, password,
 * host, port and database from the URL's parts only: libpq's other spellings of them failed. A
 * Unix socket (`postgresql:///app?host=/var/run/postgresql`, the form psql and most deploy guides
 * give) had its `host` sent to PostgreSQL as a setting, which refused the connection
 * (`unrecognized configuration parameter "host"`); the same URL with a user
 * (`postgresql://app@/app?host=…`) is no WHATWG URL at all; and a percent-encoded socket directory
 * as the host (`postgresql://%2Fvar%2Frun%2Fpostgresql/app`) was looked up in DNS as written. Here
 * each becomes postgres.js's own option, and the parameter leaves the URL (docs/deploy.md, the
 * DATABASE_URL row). Everything else in the query (sslmode, application_name, a setting) is left
 * to postgres.js as before, but sslmode on a socket, which libpq ignores there.
 */

/** libpq's connection parameters that postgres.js takes as options, not from the query. */
const PARAMETERS = ['host', 'port', 'user', 'password', 'dbname'] as const;
type Parameter = (typeof PARAMETERS)[number];

/** What postgres.js is given for one URL: the URL (what it can read) and options that override it. */
export interface PostgresTarget {
  url: string;
  options: {
    /** A host name, an address, or a Unix socket's directory (an absolute path). */
    host?: string;
    port?: number;
    user?: string;
    password?: string;
    database?: string;
    /** No TLS on a Unix socket, whatever `sslmode` says: libpq ignores it there, and PostgreSQL refuses TLS on one. */
    ssl?: false;
  };
}

/** The parts of a URL as the connection will use them, for messages (never the password). */
export interface PostgresUrlParts {
  /** The host, or the socket's directory; `localhost` when the URL names none (postgres.js's default). */
  host: string;
  port: number;
  user: string;
  database: string;
}

/**
 * `text` read as a connection, or a sentence saying why it cannot be (for the configuration's
 * error, which names the variable). Only the forms that can connect are accepted.
 */
export function readPostgresUrl(given: string): { target: PostgresTarget; parts: PostgresUrlParts } | { problem: string } {
  // As a WHATWG URL is read, and as postgres.js read it before: blanks around it are not part of it.
  const text = given.trim();
  const scheme = /^postgres(?:ql)?:\/\//i.exec(text)?.[0];
  if (scheme === undefined) return { problem: 'must be a postgres:// or postgresql:// URL' };
  // The authority as postgres.js cuts it: up to the first `/`, `?` or `#` after `://`.
  const authority = text.slice(scheme.length).split(/[?/#]/)[0] ?? '';
  // `user@` and no host: libpq's way of naming a user with the host in `?host=`. A WHATWG URL needs a
  // host after `@`, so the placeholder `localhost` is parsed instead (postgres.js's default anyway).
  const noHost = authority.endsWith('@');
  const parsable = noHost ? `${scheme}${authority}localhost${text.slice(scheme.length + authority.length)}` : text;
  if (!URL.canParse(parsable)) return { problem: 'is not a URL (its port must be 0 to 65535, its host a name, an address or a %2F-encoded socket directory)' };
  const url = new URL(parsable);
  // postgres.js decodes the user, the password and the host with decodeURIComponent, which throws on a
  // `%` not followed by two hex digits (or on bytes that are not UTF-8); libpq decodes the path too.
  const undecodable = (
    [
      ['user name', url.username],
      ['password', url.password],
      ['path', url.pathname],
      ['host', authority],
    ] as const
  ).find(([, part]) => decoded(part) === undefined);
  if (undecodable) return { problem: `its ${undecodable[0]} has a % that is not a percent-escape (%XX, of UTF-8): write a literal % as %25` };

  const options: PostgresTarget['options'] = {};
  const taken = takeParameters(url);
  if ('problem' in taken) return taken;
  for (const [name, value] of taken.values) {
    if (name === 'port') {
      if (!/^\d{1,5}$/.test(value) || Number(value) < 1 || Number(value) > 65535) return { problem: `its ?port= must be a port, 1 to 65535 (not ${JSON.stringify(value)})` };
      options.port = Number(value);
    } else if (name === 'dbname') options.database = value;
    else options[name] = value;
  }
  if (options.host !== undefined) {
    // postgres.js makes one socket path of a list, and cuts each host at its first `:` (IPv6 below).
    if (options.host.trim() === '') return { problem: 'its ?host= is empty' };
    if (options.host.includes(',')) return { problem: 'its ?host= names several hosts: give one (a name, an IP address or a socket directory)' };
    if (options.host.includes(':') && isIP(options.host) !== 6) return { problem: 'its ?host= holds a `:` but is no IPv6 address: give a port as ?port=' };
  } else if (/^%2f/i.test(url.hostname)) {
    // A host written as a percent-encoded path (`%2Fvar%2Frun%2Fpostgresql`): a socket's directory.
    options.host = decoded(url.hostname);
  } else if (noHost) {
    return { problem: 'names no host after its @: give one, or a Unix socket\'s directory as ?host=/path' };
  }
  // postgres.js takes the database from the path as written; libpq decodes it.
  const path = decoded(url.pathname.slice(1)) as string;
  if (options.database === undefined && path !== url.pathname.slice(1)) options.database = path;
  if (options.host?.startsWith('/')) {
    options.ssl = false;
    url.searchParams.delete('sslmode');
    url.searchParams.delete('ssl');
  }
  const parts: PostgresUrlParts = {
    host: options.host ?? (url.hostname === '' ? 'localhost' : (decoded(url.hostname) as string)),
    port: options.port ?? (url.port === '' ? 5432 : Number(url.port)),
    user: options.user ?? (decoded(url.username) as string),
    database: options.database ?? path,
  };
  // An IPv6 address: postgres.js cuts a host string at its first `:` (it reads `host:port` lists) and
  // connected to `[` or to nothing; given arrays, it takes them as they are (its types say string).
  const bare = parts.host.replace(/^\[(.*)\]$/, '$1');
  const ipv6 = isIP(bare) === 6 ? bare : undefined;
  if (ipv6 !== undefined) {
    options.host = [ipv6] as unknown as string;
    options.port = [parts.port] as unknown as number;
  }
  // postgres.js is given the text as it was unless something was taken out of it (or a placeholder
  // host put in): its options override what the URL says.
  const rewritten = noHost || taken.values.length > 0 || text !== given || options.ssl === false || ipv6 !== undefined;
  return { target: { url: rewritten ? url.href : text, options }, parts };
}

/**
 * libpq's parameters in the query, taken out of `url`. Read from the raw query, as libpq reads it: a
 * `+` stays a `+` (URLSearchParams would make it a space), and only a name written as such counts
 * (what masking.ts masks is `password=` as written).
 */
function takeParameters(url: URL): { values: Array<[Parameter, string]> } | { problem: string } {
  const values: Array<[Parameter, string]> = [];
  for (const pair of url.search.slice(1).split('&')) {
    const eq = pair.indexOf('=');
    const name = (eq < 0 ? pair : pair.slice(0, eq)) as Parameter;
    if (!PARAMETERS.includes(name)) continue;
    if (values.some(([seen]) => seen === name)) return { problem: `names ?${name}= more than once` };
    const value = decoded(eq < 0 ? '' : pair.slice(eq + 1));
    if (value === undefined) return { problem: `its ?${name}= has a % that is not a percent-escape (%XX, of UTF-8): write a literal % as %25` };
    values.push([name, value]);
  }
  for (const [name] of values) url.searchParams.delete(name);
  return { values };
}

/** `text` percent-decoded, or undefined when it cannot be. */
function decoded(text: string): string | undefined {
  try {
    return decodeURIComponent(text);
  } catch {
    return undefined;
  }
}

/** The target of a URL the configuration has accepted; a URL it refuses is passed on as it is. */
export function postgresTarget(text: string): PostgresTarget {
  const read = readPostgresUrl(text);
  return 'target' in read ? read.target : { url: text, options: {} };
}

/** `host:port/database` (a socket as its directory), never the password; for messages. */
export function describePostgresUrl(text: string): string {
  const read = readPostgresUrl(text);
  return 'parts' in read ? describeParts(read.parts) : 'an unreadable URL';
}

/** describePostgresUrl of a URL already read. */
export function describeParts(parts: PostgresUrlParts): string {
  return `${parts.host}:${parts.port}/${parts.database}`;
}
