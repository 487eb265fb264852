/**
 * A PostgreSQL URL as libpq reads it, handed to postgres.js. postgres.js reads the user, password,
 * host, port and database from the URL's parts only: libpq's other spellings of them failed. A
 * Unix socket (`postgresql:///app?host=/var/run/postgresql`, the form psql and most deploy guides
 * give) had its `host` sent to PostgreSQL as a setting, which refused the connection
 * (`unrecognized configuration parameter "host"`); the same URL with a user
 * (`postgresql://app@/app?host=…`) is no WHATWG URL at all; and a percent-encoded socket directory
 * as the host (`postgresql://%2Fvar%2Frun%2Fpostgresql/app`) was looked up in DNS as written. Here
 * each becomes postgres.js's own option, and the parameter leaves the URL (docs/deploy.md
 * "DATABASE_URL"). Everything else in the query (sslmode, application_name, a setting) is left to
 * postgres.js as before.
 */

/** libpq's connection parameters that postgres.js takes as options, not from the query. */
const PARAMETERS = ['host', 'port', 'user', 'password', 'dbname'] as const;

/** What postgres.js is given for one URL: the URL (what it can read) and options that override it. */
export interface PostgresTarget {
  url: string;
  options: {
    /** A host name, an address, or a Unix socket's directory (an absolute path); several, comma-separated. */
    host?: string;
    port?: number;
    user?: string;
    password?: string;
    database?: string;
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
export function readPostgresUrl(text: string): { target: PostgresTarget; parts: PostgresUrlParts } | { problem: string } {
  const scheme = /^postgres(?:ql)?:\/\//i.exec(text)?.[0];
  if (scheme === undefined) return { problem: 'must be a postgres:// or postgresql:// URL' };
  // The authority as postgres.js cuts it: up to the first `/`, `?` or `#` after `://`.
  const authority = text.slice(scheme.length).split(/[?/#]/)[0] ?? '';
  // `user@` and no host: libpq's way of naming a user with the host in `?host=`. A WHATWG URL needs a
  // host after `@`, so the placeholder `localhost` is parsed instead (postgres.js's default anyway).
  const parsable = authority.endsWith('@') ? `${scheme}${authority}localhost${text.slice(scheme.length + authority.length)}` : text;
  if (!URL.canParse(parsable)) return { problem: 'is not a URL (its port must be 0 to 65535, its host a name, an address or a %2F-encoded socket directory)' };
  const url = new URL(parsable);
  const options: PostgresTarget['options'] = {};
  let rewritten = parsable !== text;
  for (const name of PARAMETERS) {
    const values = url.searchParams.getAll(name);
    if (values.length === 0) continue;
    if (values.length > 1) return { problem: `names ?${name}= more than once` };
    const value = values[0] as string;
    url.searchParams.delete(name);
    rewritten = true;
    if (name === 'port') {
      if (!/^\d{1,5}$/.test(value) || Number(value) < 1 || Number(value) > 65535) return { problem: `its ?port= must be a port, 1 to 65535 (not ${JSON.stringify(value)})` };
      options.port = Number(value);
    } else if (name === 'dbname') options.database = value;
    else options[name] = value;
  }
  // A host written as a percent-encoded path (`%2Fvar%2Frun%2Fpostgresql`): a socket's directory.
  if (options.host === undefined && /^%2f/i.test(url.hostname)) options.host = decoded(url.hostname);
  if (options.host !== undefined && options.host.split(',').some((h) => h.trim() === '')) return { problem: 'its ?host= names an empty host' };
  const parts: PostgresUrlParts = {
    host: options.host ?? (url.hostname === '' ? 'localhost' : decoded(url.hostname)),
    port: options.port ?? (url.port === '' ? 5432 : Number(url.port)),
    user: options.user ?? decoded(url.username),
    database: options.database ?? decoded(url.pathname.slice(1)),
  };
  // postgres.js is given the text as it was unless a parameter was taken out of it (or a placeholder
  // host put in): its options override what the URL says.
  return { target: { url: rewritten ? url.href : text, options }, parts };
}

/** `text` percent-decoded; as written when it cannot be (the configuration refuses that, naming the part). */
function decoded(text: string): string {
  try {
    return decodeURIComponent(text);
  } catch {
    return text;
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
  if (!('parts' in read)) return 'an unreadable URL';
  return `${read.parts.host}:${read.parts.port}/${read.parts.database}`;
}
