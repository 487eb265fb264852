/**
 * How configuration values and URLs are shown where people read them (errors, logs, `taskwire
 * doctor`): a secret by its length, a URL with its password as `***`. Apart from config.ts so that
 * what a client command loads (client-config.ts, the CLI's arguments) does not load zod.
 */

/** Variables whose whole value is a secret: a configuration error gives their length, never their value. */
const SECRET_VARIABLES: ReadonlySet<string> = new Set(['JWT_SECRET', 'READ_TOKEN_SECRET', 'METRICS_TOKEN']);
/** URL variables that may carry a password (`user:password@`, `?password=`): an error shows them masked. */
const URL_VARIABLES: ReadonlySet<string> = new Set(['DATABASE_URL', 'DATABASE_LISTEN_URL', 'JWT_JWKS_URL', 'TASKWIRE_URL']);

/**
 * How a configuration error shows the variable `name` holding `value`: `NAME="value"`, except that a
 * secret variable shows only its length (`METRICS_TOKEN (6 characters, not shown)`) and a URL its
 * password masked (`DATABASE_URL="postgres://app:***@db/app"`). Error messages reach terminals, CI
 * logs and log collectors, where a secret must not go.
 */
export function describeValue(name: string, value: string): string {
  if (SECRET_VARIABLES.has(name)) return `${name} (${value.length} characters, not shown)`;
  if (URL_VARIABLES.has(name)) {
    const masked = maskUrlPassword(value);
    return masked === undefined ? `${name} (not shown: it may hold a password)` : `${name}=${JSON.stringify(masked)}`;
  }
  return `${name}=${JSON.stringify(value)}`;
}

/**
 * `value` with its password replaced by `***`: the userinfo's after its first `:` (up to the last `@`,
 * as a password may hold an unescaped `@`) and every `password=` parameter. Undefined when the value has
 * an `@` but no `scheme://`, so that the password cannot be told apart: better not shown at all.
 */
export function maskUrlPassword(value: string): string | undefined {
  // sslpassword: what opens the client key (src/postgres-url.ts).
  const masked = value.replace(/([?&](?:ssl)?password=)[^&#]*/gi, '$1***');
  const scheme = /^[a-z][a-z0-9+.-]*:\/\//i.exec(masked)?.[0];
  if (scheme === undefined) return masked.includes('@') ? undefined : masked;
  const at = masked.lastIndexOf('@');
  if (at < scheme.length) return masked;
  const userinfo = masked.slice(scheme.length, at);
  const colon = userinfo.indexOf(':');
  if (colon < 0) return masked;
  return `${scheme}${userinfo.slice(0, colon)}:***${masked.slice(at)}`;
}

/**
 * `text` (an error message, a stack) with every occurrence of the URL `url` shown as maskUrlPassword
 * shows it. fetch quotes a URL whole in some errors (`Request cannot be constructed from a URL that
 * includes credentials: https://user:password@…`), and such text reaches terminals and log collectors.
 */
export function maskUrlIn(text: string, url: string): string {
  const shown = maskUrlPassword(url) ?? '(a URL, not shown: it may hold a password)';
  // As given and as fetch prints it (WHATWG-serialized: a `/` path added, the host in lower case).
  const forms = new Set([url, ...(URL.canParse(url) ? [new URL(url).href] : [])]);
  let masked = text;
  for (const form of forms) masked = masked.split(form).join(shown);
  return masked;
}
