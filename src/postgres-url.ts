import { createPrivateKey, X509Certificate } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { isIP } from 'node:net';
import { createSecureContext, type ConnectionOptions } from 'node:tls';

/**
 * A PostgreSQL URL as libpq reads it, handed to postgres.js. postgres.js reads the user, password,
 * host, port and database from the URL's parts only: libpq's other spellings of them failed. A
 * Unix socket (`postgresql:///app?host=/var/run/postgresql`, the form psql and most deploy guides
 * give) had its `host` sent to PostgreSQL as a setting, which refused the connection
 * (`unrecognized configuration parameter "host"`); the same URL with a user
 * (`postgresql://app@/app?host=…`) is no WHATWG URL at all; and a percent-encoded socket directory
 * as the host (`postgresql://%2Fvar%2Frun%2Fpostgresql/app`) was looked up in DNS as written. Here
 * each becomes postgres.js's own option, and the parameter leaves the URL (docs/deploy.md, the
 * DATABASE_URL row). libpq's TLS parameters likewise (sslmode, sslrootcert, sslcert, sslkey, …):
 * postgres.js read only sslmode, and sent the others to PostgreSQL as settings, which refused the
 * connection, so a URL verifying the server against its CA (`?sslmode=verify-full&sslrootcert=…`,
 * what managed PostgreSQL services document) could not connect at all (docs/deploy.md "TLS to
 * PostgreSQL"). Everything else in the query (application_name, a setting, postgres.js's own
 * options) is left to postgres.js as before.
 */

/** libpq's connection parameters that postgres.js takes as options, not from the query. */
const PARAMETERS = ['host', 'hostaddr', 'port', 'user', 'password', 'dbname'] as const;
/** libpq's TLS parameters, read into Node's TLS options (`tlsOptions`). */
const TLS_PARAMETERS = ['sslmode', 'sslrootcert', 'sslcert', 'sslkey', 'sslpassword', 'sslcrl', 'sslsni', 'ssl_min_protocol_version', 'ssl_max_protocol_version'] as const;
/** libpq's TCP keepalive parameters that postgres.js has an option for (`keep_alive`, in s). */
const KEEPALIVE_PARAMETERS = ['keepalives', 'keepalives_idle'] as const;
/**
 * libpq's parameters with nothing to do at the values listed (undefined: any value), taken out so
 * that PostgreSQL is not sent them as settings: no GSSAPI or channel binding is attempted, which is
 * what `disable` and `prefer` allow; the others tune what Node does not expose.
 */
const DROPPED: Record<string, readonly string[] | undefined> = {
  gssencmode: ['disable', 'prefer'],
  channel_binding: ['disable', 'prefer'],
  fallback_application_name: undefined,
  keepalives_interval: undefined,
  keepalives_count: undefined,
  tcp_user_timeout: undefined,
  sslcompression: undefined,
};
/** libpq's parameters taskwire cannot honour, and why: refused rather than sent to PostgreSQL as settings. */
const REFUSED: Record<string, string> = {
  gssencmode: 'GSSAPI encryption is not supported (use TLS: ?sslmode=)',
  channel_binding: 'channel binding is not supported (verify the server with ?sslmode=verify-full&sslrootcert= instead)',
  require_auth: 'it is not supported',
  passfile: 'no password file is read: put the password in the URL or ?password=',
  service: 'no service file is read: write the connection in the URL',
  requirepeer: 'it is not supported',
  krbsrvname: 'Kerberos is not supported',
  gsslib: 'GSSAPI is not supported',
  gssdelegation: 'GSSAPI is not supported',
  sslcrldir: 'give one file as ?sslcrl= instead',
  sslcertmode: 'a client certificate is sent when ?sslcert= and ?sslkey= are given',
  sslkeylogfile: 'it is not supported',
  load_balance_hosts: 'one host only',
  replication: 'taskwire needs an ordinary connection',
};
type Parameter = (typeof PARAMETERS)[number] | (typeof TLS_PARAMETERS)[number] | (typeof KEEPALIVE_PARAMETERS)[number];
/** Node's TLS options as postgres.js passes them to `tls.connect`, plus the certificates' paths for messages. */
export type TlsSettings = ConnectionOptions;

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
    /**
     * false: no TLS (on a Unix socket whatever `sslmode` says: libpq ignores it there, and PostgreSQL
     * refuses TLS on one); 'prefer': TLS if the server offers it, unverified; an object: TLS or no
     * connection, with Node's options (CA, client certificate, whether and how to verify).
     */
    ssl?: false | 'prefer' | TlsSettings;
    /** TCP keepalive's idle time in s, or false for none (libpq's `keepalives`, `keepalives_idle`). */
    keep_alive?: number | null;
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
export function readPostgresUrl(original: string): { target: PostgresTarget; parts: PostgresUrlParts } | { problem: string } {
  // As a WHATWG URL is read, and as postgres.js read it before: blanks around it are not part of it.
  const text = original.trim();
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
  const given = taken.values;
  for (const [name, value] of given) {
    if (name === 'port') {
      if (!/^\d{1,5}$/.test(value) || Number(value) < 1 || Number(value) > 65535) return { problem: `its ?port= must be a port, 1 to 65535 (not ${JSON.stringify(value)})` };
      options.port = Number(value);
    } else if (name === 'dbname') options.database = value;
    else if (name === 'host' || name === 'user' || name === 'password') options[name] = value;
  }
  const keepAlive = readKeepAlive(given);
  if (keepAlive !== null && typeof keepAlive === 'object') return keepAlive;
  if (keepAlive !== undefined) options.keep_alive = keepAlive;
  if (options.host !== undefined) {
    // postgres.js makes one socket path of a list, and cuts each host at its first `:` (IPv6 below).
    if (options.host.trim() === '') return { problem: 'its ?host= is empty' };
    if (options.host.includes(',')) return { problem: 'its ?host= names several hosts: give one (a name, an IP address or a socket directory)' };
    if (options.host.includes(':') && isIP(options.host) !== 6) return { problem: 'its ?host= holds a `:` but is no IPv6 address: give a port as ?port=' };
  } else if (/^%2f/i.test(url.hostname)) {
    // A host written as a percent-encoded path (`%2Fvar%2Frun%2Fpostgresql`): a socket's directory.
    options.host = decoded(url.hostname);
  } else if (noHost && !given.has('hostaddr')) {
    return { problem: 'names no host after its @: give one, or a Unix socket\'s directory as ?host=/path' };
  }
  // postgres.js takes the database from the path as written; libpq decodes it.
  const path = decoded(url.pathname.slice(1)) as string;
  if (options.database === undefined && path !== url.pathname.slice(1)) options.database = path;
  const socket = options.host?.startsWith('/') === true;
  // The name the server's certificate is checked against (and sent as SNI): the host, even when
  // ?hostaddr= says which address to connect to (libpq's meaning of the two).
  const hostName = options.host ?? (url.hostname === '' || noHost ? 'localhost' : (decoded(url.hostname) as string).replace(/^\[(.*)\]$/, '$1'));
  const hostaddr = given.get('hostaddr');
  if (hostaddr !== undefined) {
    if (isIP(hostaddr) === 0) return { problem: `its ?hostaddr= must be an IP address (not ${JSON.stringify(hostaddr)})` };
    if (socket) return { problem: 'names both a Unix socket (?host=/dir) and ?hostaddr=: give one' };
    options.host = hostaddr;
  }
  if (socket) {
    options.ssl = false;
    url.searchParams.delete('sslmode');
    url.searchParams.delete('ssl');
  } else {
    const tls = readTls(given, hostName);
    if ('problem' in tls) return tls;
    if (tls.ssl !== undefined) {
      options.ssl = tls.ssl;
      // postgres.js's own spelling would be read too, and a stale one is confusing.
      url.searchParams.delete('ssl');
    }
  }
  const parts: PostgresUrlParts = {
    host: hostaddr !== undefined ? `${hostName} (${hostaddr})` : (options.host ?? (url.hostname === '' ? 'localhost' : (decoded(url.hostname) as string))),
    port: options.port ?? (url.port === '' ? 5432 : Number(url.port)),
    user: options.user ?? (decoded(url.username) as string),
    database: options.database ?? path,
  };
  // An IPv6 address: postgres.js cuts a host string at its first `:` (it reads `host:port` lists) and
  // connected to `[` or to nothing; given arrays, it takes them as they are (its types say string).
  const bare = (options.host ?? parts.host).replace(/^\[(.*)\]$/, '$1');
  const ipv6 = isIP(bare) === 6 ? bare : undefined;
  if (ipv6 !== undefined) {
    options.host = [ipv6] as unknown as string;
    options.port = [parts.port] as unknown as number;
  }
  // postgres.js is given the text as it was unless something was taken out of it (or a placeholder
  // host put in): its options override what the URL says.
  const rewritten = noHost || given.size > 0 || taken.dropped || text !== original || options.ssl === false || ipv6 !== undefined;
  return { target: { url: rewritten ? url.href : text, options }, parts };
}

/**
 * libpq's parameters in the query, taken out of `url`; those with nothing to do dropped, those that
 * cannot be honoured refused. Read from the raw query, as libpq reads it: a `+` stays a `+`
 * (URLSearchParams would make it a space), and only a name written as such counts (what masking.ts
 * masks is `password=` as written).
 */
function takeParameters(url: URL): { values: Map<Parameter, string>; dropped: boolean } | { problem: string } {
  const values = new Map<Parameter, string>();
  const known: readonly string[] = [...PARAMETERS, ...TLS_PARAMETERS, ...KEEPALIVE_PARAMETERS];
  const dropped: string[] = [];
  for (const pair of url.search.slice(1).split('&')) {
    const eq = pair.indexOf('=');
    const name = eq < 0 ? pair : pair.slice(0, eq);
    const value = decoded(eq < 0 ? '' : pair.slice(eq + 1));
    if (name in DROPPED || name in REFUSED) {
      const allowed = DROPPED[name];
      if (name in DROPPED && (allowed === undefined || allowed.includes(value ?? ''))) {
        dropped.push(name);
        continue;
      }
      return { problem: `its ?${name}= is libpq's and cannot be honoured here: ${REFUSED[name] ?? 'it is not supported'}` };
    }
    if (!known.includes(name)) continue;
    if (values.has(name as Parameter)) return { problem: `names ?${name}= more than once` };
    if (value === undefined) return { problem: `its ?${name}= has a % that is not a percent-escape (%XX, of UTF-8): write a literal % as %25` };
    values.set(name as Parameter, value);
  }
  for (const name of [...values.keys(), ...dropped]) url.searchParams.delete(name);
  return { values, dropped: dropped.length > 0 };
}

/** libpq's `keepalives` (0 turns them off) and `keepalives_idle` (s) as postgres.js's `keep_alive`. */
function readKeepAlive(given: Map<Parameter, string>): number | null | undefined | { problem: string } {
  const on = given.get('keepalives');
  const idle = given.get('keepalives_idle');
  if (on !== undefined && on !== '0' && on !== '1') return { problem: `its ?keepalives= must be 0 or 1 (not ${JSON.stringify(on)})` };
  if (idle !== undefined && !/^[1-9]\d{0,5}$/.test(idle)) return { problem: `its ?keepalives_idle= must be a whole number of seconds, 1 or more (not ${JSON.stringify(idle)})` };
  if (on === '0') return null;
  return idle === undefined ? undefined : Number(idle);
}

const SSL_MODES = ['disable', 'allow', 'prefer', 'require', 'verify-ca', 'verify-full'] as const;
/** Node's TLS (OpenSSL 3 at its default security level) speaks these; libpq's TLSv1 and TLSv1.1 never connect. */
const TLS_VERSIONS = ['TLSv1.2', 'TLSv1.3'] as const;

/**
 * libpq's TLS parameters as postgres.js's `ssl` option (undefined: none given, postgres.js's default
 * of no TLS stands). As libpq: `require` verifies nothing unless `sslrootcert` names a CA, and then
 * verifies as `verify-ca`; `verify-ca` checks the chain, `verify-full` the host name too;
 * `sslrootcert=system` is the system's CAs (with verify-full only, its default then); without
 * `sslmode` another TLS parameter means `prefer`. What libpq reads from ~/.postgresql by default is not read: name each file.
 * The files are read and checked now, so that a wrong path or password is said at start.
 */
function readTls(given: Map<Parameter, string>, hostName: string): { ssl: PostgresTarget['options']['ssl'] | undefined } | { problem: string } {
  const mode = given.get('sslmode');
  const others = TLS_PARAMETERS.filter((name) => name !== 'sslmode' && given.has(name));
  if (mode === undefined && others.length === 0) return { ssl: undefined };
  if (mode !== undefined && !(SSL_MODES as readonly string[]).includes(mode)) return { problem: `its ?sslmode= must be one of ${SSL_MODES.join(', ')} (not ${JSON.stringify(mode)})` };
  const rootCert = given.get('sslrootcert');
  // libpq 16: the system's CAs make verify-full the default.
  const sslmode = (mode ?? (rootCert === 'system' ? 'verify-full' : 'prefer')) as (typeof SSL_MODES)[number];
  if (sslmode === 'disable') return { ssl: false };
  const certFile = given.get('sslcert');
  const keyFile = given.get('sslkey');
  if ((certFile === undefined) !== (keyFile === undefined)) return { problem: 'gives one of ?sslcert= and ?sslkey=: a client certificate needs both (libpq\'s default files are not read)' };
  if (rootCert === 'system' && sslmode !== 'verify-full') return { problem: `its ?sslrootcert=system needs ?sslmode=verify-full (not ${sslmode}): the system's CAs vouch for names, not for a bare certificate` };
  // The chain alone against the system's CAs would take any publicly trusted certificate, for any name
  // (a tester's find); libpq refuses it too (no root.crt).
  if (sslmode === 'verify-ca' && rootCert === undefined) return { problem: '?sslmode=verify-ca needs ?sslrootcert=/path/ca.pem, the CA that signed the server\'s certificate (to trust the system\'s CAs, use verify-full, which checks the name)' };
  const options: TlsSettings = {};
  for (const [name, key] of [
    ['ssl_min_protocol_version', 'minVersion'],
    ['ssl_max_protocol_version', 'maxVersion'],
  ] as const) {
    const version = given.get(name);
    if (version === undefined) continue;
    if (!(TLS_VERSIONS as readonly string[]).includes(version)) return { problem: `its ?${name}= must be one of ${TLS_VERSIONS.join(', ')} (not ${JSON.stringify(version)})` };
    options[key] = version as (typeof TLS_VERSIONS)[number];
  }
  if (options.minVersion === 'TLSv1.3' && options.maxVersion === 'TLSv1.2') return { problem: 'its ?ssl_min_protocol_version= is above its ?ssl_max_protocol_version=: no TLS version is left' };
  const sni = given.get('sslsni');
  if (sni !== undefined && sni !== '0' && sni !== '1') return { problem: `its ?sslsni= must be 0 or 1 (not ${JSON.stringify(sni)})` };
  if (certFile !== undefined && keyFile !== undefined) {
    const cert = readPem('sslcert', certFile, 'certificate');
    if (typeof cert !== 'string') return cert;
    const key = readPem('sslkey', keyFile, 'key');
    if (typeof key !== 'string') return key;
    const passphrase = given.get('sslpassword');
    try {
      createPrivateKey({ key, ...(passphrase !== undefined ? { passphrase } : {}) });
    } catch {
      const encrypted = /-----BEGIN ENCRYPTED PRIVATE KEY-----|Proc-Type: 4,ENCRYPTED/.test(key);
      return { problem: encrypted ? `its ?sslkey= ${keyFile} is encrypted and ${passphrase === undefined ? 'no ?sslpassword= is given' : '?sslpassword= does not open it'}` : `its ?sslkey= ${keyFile} is not a PEM private key` };
    }
    Object.assign(options, { cert, key }, passphrase !== undefined ? { passphrase } : {});
  }
  // libpq's `prefer` and `allow` (tried in the other order there) never verify: TLS if the server offers
  // it, else none. postgres.js can fall back only with its own 'prefer', which takes no options: with a
  // client certificate, a CRL or a protocol version, TLS is required instead.
  const plain = options.cert === undefined && options.minVersion === undefined && options.maxVersion === undefined && !given.has('sslcrl');
  if ((sslmode === 'prefer' || sslmode === 'allow') && plain) return { ssl: 'prefer' };
  const verify = sslmode === 'verify-full' ? 'full' : sslmode === 'verify-ca' || (sslmode === 'require' && rootCert !== undefined) ? 'chain' : 'none';
  if (verify === 'none') options.rejectUnauthorized = false;
  else {
    options.rejectUnauthorized = true;
    if (rootCert !== undefined && rootCert !== 'system') {
      const ca = readPem('sslrootcert', rootCert, 'certificate');
      if (typeof ca !== 'string') return ca;
      options.ca = ca;
    }
    // The chain only: any name the certificate holds will do.
    if (verify === 'chain') options.checkServerIdentity = () => undefined;
  }
  const crlFile = given.get('sslcrl');
  if (crlFile !== undefined) {
    const crl = readCrl(crlFile);
    if (typeof crl !== 'string') return crl;
    options.crl = crl;
  }
  // What Node builds at each connection, built once now: a key that is not the certificate's, a CRL
  // it cannot parse, threw inside postgres.js at every connect (an unhandled rejection, every process).
  const unusable = secureContextProblem(options, { certFile, keyFile, crlFile });
  if (unusable !== undefined) return { problem: unusable };
  // Checked against the host, never the address connected to (?hostaddr=); SNI for a name only, as
  // libpq sends it (sslsni=0: none).
  options.host = hostName;
  options.servername = given.get('sslsni') === '0' || isIP(hostName) !== 0 ? undefined : hostName;
  return { ssl: options };
}

/** Why Node cannot build a TLS context of `options` (naming the parameter at fault), or undefined. */
function secureContextProblem(options: TlsSettings, files: { certFile?: string | undefined; keyFile?: string | undefined; crlFile?: string | undefined }): string | undefined {
  try {
    createSecureContext({ ca: options.ca, cert: options.cert, key: options.key, passphrase: options.passphrase, crl: options.crl, minVersion: options.minVersion, maxVersion: options.maxVersion });
    return undefined;
  } catch (error) {
    const message = String((error as Error).message);
    if (/key values mismatch/i.test(message)) return `its ?sslkey= ${files.keyFile} is not the key of its ?sslcert= ${files.certFile}`;
    if (/CRL/i.test(message)) return `its ?sslcrl= ${files.crlFile} is not a certificate revocation list (PEM or DER)`;
    return `its TLS parameters cannot be used together (${message.split('\n')[0]})`;
  }
}

/** A CRL file (PEM, or DER as most CAs publish it: wrapped as PEM for Node), or why it cannot be used. */
function readCrl(file: string): string | { problem: string } {
  const text = readFile('sslcrl', file, 'latin1');
  if (typeof text !== 'string') return text;
  if (text.includes('-----BEGIN X509 CRL-----')) return text;
  if (text.includes('-----BEGIN')) return { problem: `its ?sslcrl= ${file} is not a certificate revocation list (PEM or DER)` };
  const base64 = Buffer.from(text, 'latin1').toString('base64').replace(/.{64}/g, '$&\n');
  return `-----BEGIN X509 CRL-----\n${base64}\n-----END X509 CRL-----\n`;
}

/** The text of a file a TLS parameter names, or why it cannot be used. */
function readFile(parameter: string, file: string, encoding: BufferEncoding = 'utf8'): string | { problem: string } {
  if (!file.startsWith('/')) return { problem: `its ?${parameter}= must be an absolute path (not ${JSON.stringify(file)})` };
  try {
    return readFileSync(file, encoding);
  } catch (error) {
    const code = (error as NodeJS.ErrnoException).code;
    return { problem: `its ?${parameter}= ${file} cannot be read (${code === 'ENOENT' ? 'no such file' : code === 'EACCES' ? 'permission denied' : (code ?? String(error))})` };
  }
}

/** readFile of a PEM certificate (the first one is parsed) or key. */
function readPem(parameter: string, file: string, kind: 'certificate' | 'key'): string | { problem: string } {
  const text = readFile(parameter, file);
  if (typeof text !== 'string') return text;
  if (kind === 'key') return /-----BEGIN [A-Z ]*PRIVATE KEY-----/.test(text) ? text : { problem: `its ?${parameter}= ${file} is not a PEM private key` };
  try {
    new X509Certificate(text);
    return text;
  } catch {
    return { problem: `its ?${parameter}= ${file} is not a PEM certificate` };
  }
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
