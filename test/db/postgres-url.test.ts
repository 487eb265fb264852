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
    // Over TCP, sslmode is postgres.js's to read, as before.
    expect(postgresTarget('postgres://db/app?sslmode=require&user=me')).toEqual({ url: 'postgres://db/app?sslmode=require', options: { user: 'me' } });
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
    const text = 'postgres://app:p%40ss@db.internal:6543/app?sslmode=require';
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
