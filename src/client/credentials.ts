/**
 * Where the client's credential comes from, for both transports: `getToken()` (asked before
 * every HTTP request and at every graphql-ws (re)connect, so a refreshed token is picked up
 * without a new client), else an `authorization` entry of the static `headers`.
 */

/** Gives the token to send (an API key, a JWT or a read token); undefined: send none. */
export type TokenSource = () => string | undefined | Promise<string | undefined>;

export interface Credentials {
  /** The `Authorization` value to send now (`Bearer …`), or undefined for none. */
  authorization(): Promise<string | undefined>;
}

/** `Bearer <token>`; a token that already starts with a scheme (`Bearer …`) is sent as given. */
export function toAuthorization(token: string | undefined): string | undefined {
  const trimmed = token?.trim();
  if (!trimmed) return undefined;
  return /^bearer\s/i.test(trimmed) ? trimmed : `Bearer ${trimmed}`;
}

/** The `authorization` entry of a header record, whatever its case. */
function headerAuthorization(headers: Record<string, string> | undefined): string | undefined {
  if (!headers) return undefined;
  for (const [name, value] of Object.entries(headers)) if (name.toLowerCase() === 'authorization') return value;
  return undefined;
}

/** getToken first; without it, the static header (so `headers: { authorization }` reaches graphql-ws too). */
export function createCredentials(getToken: TokenSource | undefined, headers: Record<string, string> | undefined): Credentials {
  const fixed = headerAuthorization(headers);
  return {
    async authorization() {
      return getToken ? toAuthorization(await getToken()) : fixed;
    },
  };
}
