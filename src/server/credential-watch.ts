import type { Principal } from '../auth/principal.js';
import type { Logger } from '../logger.js';

/**
 * Ends what runs on a credential once it is no longer good (DESIGN Part 2 §B): at its expiry (a
 * timer per holder, to the millisecond) and, for revocation, by asking the authenticator every
 * `intervalMs` whether each credential still holds — one question per credential, however many
 * sockets and streams use it.
 */
export interface CredentialWatch {
  /**
   * Calls `onInvalid` once, when `principal`'s credential expires or is found revoked (never
   * after the returned function is called). Anonymous principals (auth off) are never tracked.
   * @returns untrack: call it when the holder ends first.
   */
  track(principal: Principal, onInvalid: () => void): () => void;
  /** Credentials (not holders) being checked, for tests and metrics. */
  readonly credentials: number;
  /** Stops every timer and forgets every holder: none of them fires afterwards. */
  close(): void;
}

export interface CredentialWatchOptions {
  /** Whether the credential still holds (src/auth/authenticate.ts); a rejection counts as "yes" (logged). */
  stillValid(principal: Principal): Promise<boolean>;
  log: Logger;
  /** Between two rounds of revocation checks, in ms (default 2,000). */
  intervalMs?: number;
  /** Clock in ms (default Date.now). */
  now?: () => number;
}

interface Holder {
  readonly onInvalid: () => void;
  timer?: NodeJS.Timeout;
  done: boolean;
}

interface Credential {
  readonly key: string;
  /** The principal asked about, its expiry left out: expiry is each holder's own timer. */
  readonly principal: Principal;
  readonly holders: Set<Holder>;
}

/** Longest delay setTimeout keeps (about 24.8 days); a later expiry re-arms on the way. */
const MAX_TIMEOUT_MS = 2 ** 31 - 1;

/**
 * One credential, as revocation sees it: a read token is revoked with its issuer (the API key
 * that made it), so every browser holding one of that key's read tokens shares one question.
 */
function credentialKey(p: Principal): string {
  return `${p.kind}\n${p.issuerKind ?? ''}\n${p.tenant}\n${p.id}`;
}

export function createCredentialWatch(o: CredentialWatchOptions): CredentialWatch {
  const now = o.now ?? Date.now;
  const intervalMs = o.intervalMs ?? 2000;
  const credentials = new Map<string, Credential>();
  let interval: NodeJS.Timeout | undefined;
  let checking = false;

  const fire = (credential: Credential, holder: Holder): void => {
    if (holder.done) return;
    holder.done = true;
    clearTimeout(holder.timer);
    credential.holders.delete(holder);
    forget(credential);
    try {
      holder.onInvalid();
    } catch (error) {
      o.log.error({ err: error }, 'ending a holder of an invalid credential failed');
    }
  };

  const arm = (credential: Credential, holder: Holder, expiresAt: number): void => {
    const left = expiresAt - now();
    // At 0 too, not synchronously: the caller is still setting the holder up.
    holder.timer = setTimeout(
      () => {
        if (now() >= expiresAt) fire(credential, holder);
        else arm(credential, holder, expiresAt);
      },
      Math.min(Math.max(left, 0), MAX_TIMEOUT_MS),
    ).unref();
  };

  function forget(credential: Credential): void {
    if (credential.holders.size > 0 || credentials.get(credential.key) !== credential) return;
    credentials.delete(credential.key);
    if (credentials.size === 0) {
      clearInterval(interval);
      interval = undefined;
    }
  }

  const check = async (): Promise<void> => {
    // A round still waiting on the database: the next one would ask the same questions again.
    if (checking) return;
    checking = true;
    try {
      await Promise.all(
        [...credentials.values()].map(async (credential) => {
          let valid = true;
          try {
            valid = await o.stillValid(credential.principal);
          } catch (error) {
            // An outage must not end every open subscription: the next round asks again.
            o.log.warn({ err: error, principal: credential.principal.id, kind: credential.principal.kind }, 'could not re-check a credential');
          }
          if (valid) return;
          o.log.info(
            { principal: credential.principal.id, kind: credential.principal.kind, holders: credential.holders.size },
            'credential revoked: ending what it holds open',
          );
          for (const holder of [...credential.holders]) fire(credential, holder);
        }),
      );
    } finally {
      checking = false;
    }
  };

  return {
    track(principal, onInvalid) {
      const holder: Holder = { onInvalid, done: false };
      if (principal.kind === 'anonymous') return () => undefined;
      const key = credentialKey(principal);
      let credential = credentials.get(key);
      if (!credential) {
        credential = { key, principal: { ...principal, expiresAt: undefined }, holders: new Set() };
        credentials.set(key, credential);
      }
      credential.holders.add(holder);
      if (principal.expiresAt) arm(credential, holder, principal.expiresAt.getTime());
      interval ??= setInterval(() => void check(), intervalMs).unref();
      const owner = credential;
      return () => {
        if (holder.done) return;
        holder.done = true;
        clearTimeout(holder.timer);
        owner.holders.delete(holder);
        forget(owner);
      };
    },
    get credentials() {
      return credentials.size;
    },
    close() {
      clearInterval(interval);
      interval = undefined;
      for (const credential of credentials.values()) {
        for (const holder of credential.holders) {
          holder.done = true;
          clearTimeout(holder.timer);
        }
      }
      credentials.clear();
    },
  };
}
