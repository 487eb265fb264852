import { chmod, chown, copyFile, readFile, stat, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import postgres from 'postgres';
import { waitFor } from './wait.js';

/** The files of the tests' small PKI (test/fixtures/tls, made by its make.sh; public test keys). */
export interface TestPki {
  /** The CA's certificate: what `sslrootcert` names. */
  caCert: string;
  /** The server's certificate (subjectAltName DNS:localhost only, so that 127.0.0.1 does not match it) and key. */
  serverCert: string;
  serverKey: string;
  /** A client certificate for the role `clientUser` (its CN), its key, and the key encrypted with `clientKeyPassword`. */
  clientUser: string;
  clientCert: string;
  clientKey: string;
  clientKeyEncrypted: string;
  clientKeyPassword: string;
  /** Another CA, which signed nothing here: a server verified against it must be refused. */
  otherCaCert: string;
  /** A server certificate for localhost that the CA revoked, its key, and the CA's CRL (PEM and DER). */
  revokedCert: string;
  revokedKey: string;
  crl: string;
  crlDer: string;
}

const DIR = fileURLToPath(new URL('../fixtures/tls/', import.meta.url));

/** A CA, a server certificate for `localhost` and a client certificate for `tls_client`, valid until 2126. */
export const TEST_PKI: TestPki = {
  caCert: path.join(DIR, 'ca.crt'),
  serverCert: path.join(DIR, 'server.crt'),
  serverKey: path.join(DIR, 'server.key'),
  clientUser: 'tls_client',
  clientCert: path.join(DIR, 'client.crt'),
  clientKey: path.join(DIR, 'client.key'),
  clientKeyEncrypted: path.join(DIR, 'client-encrypted.key'),
  clientKeyPassword: 'key pass+word',
  otherCaCert: path.join(DIR, 'other-ca.crt'),
  revokedCert: path.join(DIR, 'revoked.crt'),
  revokedKey: path.join(DIR, 'revoked.key'),
  crl: path.join(DIR, 'ca.crl'),
  crlDer: path.join(DIR, 'ca.crl.der'),
};

/**
 * Turns TLS on in the PostgreSQL that `adminUrl` (a superuser) reaches, with `pki`'s server
 * certificate, and its CA for client certificates: the files are copied into its data directory
 * (owned as that directory is: as root, the server runs as `postgres`), then the configuration is
 * reloaded. `hba` lines go first in pg_hba.conf (e.g. a role that must use a client certificate).
 */
export async function enableServerTls(adminUrl: string, pki: TestPki, hba: string[] = []): Promise<void> {
  const admin = postgres(adminUrl, { max: 1, onnotice: () => undefined });
  try {
    const [row] = await admin<Array<{ dir: string; hba: string }>>`SELECT current_setting('data_directory') AS dir, current_setting('hba_file') AS hba`;
    const { dir, hba: hbaFile } = row!;
    const owner = await stat(dir);
    for (const [from, name] of [
      [pki.serverCert, 'server.crt'],
      [pki.serverKey, 'server.key'],
      [pki.caCert, 'root.crt'],
      // For a test that has the server present a revoked certificate (setServerCertificate).
      [pki.revokedCert, 'revoked.crt'],
      [pki.revokedKey, 'revoked.key'],
    ] as const) {
      const to = path.join(dir, name);
      await copyFile(from, to);
      await chown(to, owner.uid, owner.gid);
      // PostgreSQL refuses a key that others may read.
      await chmod(to, 0o600);
    }
    const before = await readFile(hbaFile, 'utf8');
    await writeFile(hbaFile, `${hba.join('\n')}\n${before}`);
    await admin.unsafe(`ALTER SYSTEM SET ssl = on`);
    await admin.unsafe(`ALTER SYSTEM SET ssl_cert_file = 'server.crt'`);
    await admin.unsafe(`ALTER SYSTEM SET ssl_key_file = 'server.key'`);
    await admin.unsafe(`ALTER SYSTEM SET ssl_ca_file = 'root.crt'`);
    await admin`SELECT pg_reload_conf()`;
  } finally {
    await admin.end();
  }
}

/** Has the server present `name`.crt / `name`.key of its data directory (enableServerTls copied them) from now on. */
export async function setServerCertificate(adminUrl: string, name: 'server' | 'revoked'): Promise<void> {
  const admin = postgres(adminUrl, { max: 1, onnotice: () => undefined });
  try {
    await admin.unsafe(`ALTER SYSTEM SET ssl_cert_file = '${name}.crt'`);
    await admin.unsafe(`ALTER SYSTEM SET ssl_key_file = '${name}.key'`);
    await admin`SELECT pg_reload_conf()`;
  } finally {
    await admin.end();
  }
  // The postmaster reloads (its TLS context too) when it takes the signal: a new session shows when.
  await waitFor(
    async () => {
      const probe = postgres(adminUrl, { max: 1, onnotice: () => undefined });
      try {
        const [row] = await probe<Array<{ file: string }>>`SELECT current_setting('ssl_cert_file') AS file`;
        return row?.file === `${name}.crt`;
      } finally {
        await probe.end();
      }
    },
    { message: `the server to present ${name}.crt` },
  );
}
