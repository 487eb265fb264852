import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { loadConfig } from '../../src/config.js';
import { describeUrl } from '../../src/db/doctor.js';
import { postgresTarget, readPostgresUrl } from '../../src/postgres-url.js';
import { ConfigError } from '../../src/errors.js';

// libpq's spellings of a connection (a Unix socket above all), read into postgres.js's options;
// test/db/unix-socket.test.ts connects with each.
describe('a PostgreSQL URL in libpq forms', () => {
  it('takes ?host= (a socket directory), ?port=, ?user=, ?password= and ?dbname= out of the query as options', () => {
    const target = postgresTarget('postgresql:///app?host=/var/run/postgresql&port=5433&user=me&password=s%20cret&dbname=other&sslmode=disable&application_name=x');
    // No TLS on a socket (libpq ignores sslmode there; PostgreSQL refuses TLS on one).
    expect(target.options).toEqual({ host: '/var/run/postgresql', port: 5433, user: 'me', password: 's cret', database: 'other', ssl: false });
    // What postgres.js would otherwise send PostgreSQL as settings is gone; the rest stays.
    const query = new URL(target.url).searchParams;
    expect([...query.keys()]).toEqual(['application_name']);
    // Over TCP, sslmode becomes Node's TLS options (below).
    expect(postgresTarget('postgres://db/app?sslmode=require&user=me')).toEqual({ url: 'postgres://db/app', options: { user: 'me', ssl: { rejectUnauthorized: false, host: 'db', servername: 'db' } } });
  });

  it('reads a user with no host before ?host= (no WHATWG URL), and a %2F-encoded socket directory as the host', () => {
    const withUser = readPostgresUrl('postgres://app:pw@/appdb?host=/tmp/sockets');
    expect(withUser).toMatchObject({ target: { options: { host: '/tmp/sockets' } }, parts: { host: '/tmp/sockets', port: 5432, user: 'app', database: 'appdb' } });
    const parsed = new URL((withUser as { target: { url: string } }).target.url);
    expect([parsed.username, parsed.password, parsed.pathname, parsed.search]).toEqual(['app', 'pw', '/appdb', '']);

    const encoded = readPostgresUrl('postgresql://app@%2Fvar%2Frun%2Fpostgresql:6432/appdb');
    expect(encoded).toMatchObject({ target: { url: 'postgresql://app@%2Fvar%2Frun%2Fpostgresql:6432/appdb', options: { host: '/var/run/postgresql' } }, parts: { host: '/var/run/postgresql', port: 6432 } });
  });

  it('reads the query as libpq does: a + stays a +, an escaped database name is decoded, blanks around the URL are dropped', () => {
    expect(postgresTarget('postgresql:///app?host=/run/pg&password=a+b%2Bc&user=x+y').options).toMatchObject({ password: 'a+b+c', user: 'x+y' });
    expect(postgresTarget('postgres://u@db/my%20db').options).toEqual({ database: 'my db' });
    expect(readPostgresUrl('  postgres://u@db/app \n')).toMatchObject({ target: { url: 'postgres://u@db/app' }, parts: { host: 'db', database: 'app' } });
  });

  it('refuses what it cannot connect to as written: several hosts or an IPv6 address in ?host=, a user and no host, a bad escape', () => {
    expect(readPostgresUrl('postgresql:///app?host=/a,/b')).toEqual({ problem: expect.stringMatching(/several hosts/) });
    expect(readPostgresUrl('postgresql:///app?host=db:5433')).toEqual({ problem: expect.stringMatching(/holds a `:` but is no IPv6 address/) });
    expect(readPostgresUrl('postgresql://u:pw@/app')).toEqual({ problem: expect.stringMatching(/names no host after its @/) });
    expect(readPostgresUrl('postgresql://u:p%zz@/app?host=/run/pg')).toEqual({ problem: expect.stringMatching(/^its password has a % that is not a percent-escape/) });
    expect(readPostgresUrl('postgresql:///app?host=/run/pg&password=%zz')).toEqual({ problem: expect.stringMatching(/^its \?password= has a % that is not a percent-escape/) });
  });

  it('gives postgres.js an IPv6 address, from the host or ?host=, as a list it does not cut at its first `:`', () => {
    expect(readPostgresUrl('postgres://u:pw@[::1]:5433/app')).toMatchObject({ target: { options: { host: ['::1'], port: [5433] } }, parts: { host: '[::1]', port: 5433 } });
    expect(readPostgresUrl('postgresql:///app?host=fe80::1&port=6000')).toMatchObject({ target: { options: { host: ['fe80::1'], port: [6000] } }, parts: { host: 'fe80::1' } });
  });

  it('leaves an ordinary URL to postgres.js exactly as written', () => {
    const text = 'postgres://app:p%40ss@db.internal:6543/app?application_name=x';
    expect(postgresTarget(text)).toEqual({ url: text, options: {} });
    expect(describeUrl(text)).toBe('db.internal:6543/app');
    expect(describeUrl('postgresql:///app?host=/run/pg')).toBe('/run/pg:5432/app');
  });

  it('is accepted by the configuration in each form, and a bad parameter is refused naming the variable', () => {
    for (const url of ['postgresql:///app?host=/run/pg', 'postgres://app:pw@/app?host=/run/pg&port=5433', 'postgresql://%2Frun%2Fpg/app']) {
      expect(loadConfig({ DATABASE_URL: url }).databaseUrl).toBe(url);
    }
    for (const [url, why] of [
      ['postgresql:///app?host=/run/pg&port=99999', /DATABASE_URL.*port= must be a port/s],
      ['postgresql:///app?host=/a&host=/b', /DATABASE_URL.*names \?host= more than once/s],
      ['mysql://db/app', /DATABASE_URL.*must be a postgres:\/\/ or postgresql:\/\/ URL/s],
    ] as const) {
      let error: unknown;
      try {
        loadConfig({ DATABASE_URL: url });
      } catch (e) {
        error = e;
      }
      expect(error).toBeInstanceOf(ConfigError);
      expect((error as Error).message).toMatch(why);
    }
  });
});

// libpq's TLS parameters as Node's TLS options (test/db/tls.test.ts connects with them to a PostgreSQL
// with TLS on, and reads the certificate files; here what needs no file).
/** The tests' CA certificate (test/fixtures/tls): a file to name as sslrootcert. */
const TEST_CA = fileURLToPath(new URL('../fixtures/tls/ca.crt', import.meta.url));

describe("a PostgreSQL URL's TLS parameters, read as libpq reads them", () => {
  const ssl = (url: string): unknown => {
    const read = readPostgresUrl(url);
    if ('problem' in read) throw new Error(read.problem);
    return read.target.options.ssl;
  };
  const problem = (url: string): string => {
    const read = readPostgresUrl(url);
    return 'problem' in read ? read.problem : `accepted: ${JSON.stringify(read.target)}`;
  };

  it('maps each sslmode: no TLS, TLS if offered, TLS unverified, verified with the system CAs', () => {
    expect(ssl('postgres://db/app')).toBeUndefined();
    expect(ssl('postgres://db/app?sslmode=disable')).toBe(false);
    expect(ssl('postgres://db/app?sslmode=prefer')).toBe('prefer');
    expect(ssl('postgres://db/app?sslmode=allow')).toBe('prefer');
    expect(ssl('postgres://db/app?sslmode=require')).toEqual({ rejectUnauthorized: false, host: 'db', servername: 'db' });
    expect(ssl('postgres://db.example.com/app?sslmode=verify-full')).toEqual({ rejectUnauthorized: true, host: 'db.example.com', servername: 'db.example.com' });
    expect(ssl('postgres://db.example.com/app?sslmode=verify-full&sslrootcert=system')).toEqual({ rejectUnauthorized: true, host: 'db.example.com', servername: 'db.example.com' });
    // As libpq 16: the system's CAs make verify-full the default; another TLS parameter, prefer.
    expect(ssl('postgres://db.example.com/app?sslrootcert=system')).toEqual({ rejectUnauthorized: true, host: 'db.example.com', servername: 'db.example.com' });
    expect(ssl('postgres://db/app?sslsni=1')).toBe('prefer');
    // verify-ca checks the chain, not the name.
    const chain = ssl(`postgres://10.0.0.5/app?sslmode=verify-ca&sslrootcert=${encodeURIComponent(TEST_CA)}`) as { checkServerIdentity: () => unknown; rejectUnauthorized: boolean; servername?: string };
    expect([chain.rejectUnauthorized, chain.checkServerIdentity(), chain.servername]).toEqual([true, undefined, undefined]);
    // A socket never takes TLS.
    expect(ssl('postgresql:///app?host=/run/pg&sslmode=verify-full&sslrootcert=/nowhere')).toBe(false);
  });

  it('checks the certificate against the host, not ?hostaddr=, and connects to the address', () => {
    const read = readPostgresUrl('postgres://u@db.example.com:5433/app?hostaddr=10.1.2.3&sslmode=verify-full&sslsni=0&ssl_min_protocol_version=TLSv1.3');
    expect(read).toMatchObject({
      target: { url: 'postgres://u@db.example.com:5433/app', options: { host: '10.1.2.3', ssl: { host: 'db.example.com', servername: undefined, minVersion: 'TLSv1.3' } } },
      parts: { host: 'db.example.com (10.1.2.3)', port: 5433 },
    });
  });

  it('takes out what has nothing to do (GSSAPI and channel binding off or preferred, tuning Node lacks) and maps keepalives', () => {
    const target = postgresTarget('postgres://db/app?gssencmode=disable&channel_binding=prefer&keepalives_interval=5&keepalives_count=3&tcp_user_timeout=100&fallback_application_name=x&keepalives_idle=30&application_name=y');
    expect(target).toEqual({ url: 'postgres://db/app?application_name=y', options: { keep_alive: 30 } });
    expect(postgresTarget('postgres://db/app?keepalives=0').options).toEqual({ keep_alive: null });
  });

  it('refuses what cannot be honoured, or is wrong, naming the parameter', () => {
    for (const [url, why] of [
      ['postgres://db/app?sslmode=verify', /\?sslmode= must be one of disable, allow, prefer, require, verify-ca, verify-full/],
      ['postgres://db/app?sslmode=verify-ca&sslrootcert=system', /sslrootcert=system needs \?sslmode=verify-full/],
      ['postgres://db/app?sslmode=require&sslcert=/etc/c.pem', /one of \?sslcert= and \?sslkey=/],
      ['postgres://db/app?sslmode=verify-full&sslrootcert=/nonexistent/ca.pem', /\?sslrootcert= \/nonexistent\/ca\.pem cannot be read \(no such file\)/],
      ['postgres://db/app?sslmode=verify-full&sslrootcert=ca.pem', /\?sslrootcert= must be an absolute path/],
      ['postgres://db/app?ssl_min_protocol_version=TLS1.2', /ssl_min_protocol_version= must be one of TLSv1.2, TLSv1.3/],
      // Node's TLS never speaks below 1.2: such a URL could only fail at each connection, in OpenSSL's words.
      ['postgres://db/app?ssl_max_protocol_version=TLSv1.1', /ssl_max_protocol_version= must be one of TLSv1.2, TLSv1.3/],
      ['postgres://db/app?ssl_min_protocol_version=TLSv1.3&ssl_max_protocol_version=TLSv1.2', /no TLS version is left/],
      // The chain alone against the system's CAs took any publicly trusted certificate for any name (a tester's find).
      ['postgres://db/app?sslmode=verify-ca', /\?sslmode=verify-ca needs \?sslrootcert=\/path\/ca\.pem/],
      ['postgres://db/app?gssencmode=require', /\?gssencmode= is libpq's and cannot be honoured here: GSSAPI encryption is not supported/],
      ['postgres://db/app?channel_binding=require', /\?channel_binding= is libpq's and cannot be honoured here/],
      ['postgres://db/app?service=prod', /\?service= is libpq's.*no service file is read/],
      ['postgres://db/app?passfile=/root/.pgpass', /\?passfile= is libpq's/],
      ['postgres://db/app?hostaddr=db2', /\?hostaddr= must be an IP address/],
      ['postgres://db/app?keepalives=yes', /\?keepalives= must be 0 or 1/],
      ['postgres://db/app?sslmode=require&sslmode=disable', /names \?sslmode= more than once/],
    ] as const) {
      expect(problem(url), url).toMatch(why);
    }
  });
});
