/** A value that survives a JSON round trip unchanged. */
export type JsonValue = null | boolean | number | string | JsonValue[] | { [key: string]: JsonValue };
export type JsonObject = { [key: string]: JsonValue };

export class JsonEncodeError extends Error {
  constructor(
    message: string,
    readonly path: string,
  ) {
    super(message);
    this.name = 'JsonEncodeError';
  }
}

// PostgreSQL's jsonb rejects what its text type cannot hold: the NUL character (22P05) and
// UTF-16 halves of a surrogate pair without their other half (22P02).
const NOT_STORABLE = /\u0000|[\ud800-\udbff](?![\udc00-\udfff])|(?<![\ud800-\udbff])[\udc00-\udfff]/;

/**
 * Strict JSON encoding: where JSON.stringify would silently drop or mangle a value
 * (BigInt throws, NaN becomes null, functions vanish, cycles throw without a path),
 * this fails with the path of the offending value. `undefined` at the top becomes null.
 * Objects with `toJSON` (Date) are encoded the usual way. Strings PostgreSQL's jsonb cannot
 * store (a NUL character, a lone surrogate) fail here too, rather than as a database error.
 * @throws JsonEncodeError, also for a `toJSON` or getter that throws
 */
export function encodeJson(value: unknown, root = '$'): string {
  try {
    return encodeStrict(value, root);
  } catch (error) {
    if (error instanceof JsonEncodeError) throw error;
    // A throwing toJSON or getter, a revoked Proxy: not JSON either, and said so.
    const reason = error instanceof Error ? error.message : String(error);
    throw new JsonEncodeError(`${root} could not be encoded as JSON: ${reason}`, root);
  }
}

// Module-level functions rather than closures made per call: under tsx (the dev server, the
// benchmarks) every closure creation also runs esbuild's `__name` helper, which cost bulk
// enqueues of 20,000 tasks about 60 ms.
function encodeStrict(value: unknown, root: string): string {
  // Most arguments are plain JSON already: checked without a Set or a path string per value.
  // Anything else (a Date, undefined, a cycle, bad text) takes the checking path below.
  if (!isPlainJson(value, 0)) checkValue(value, root, new Set<object>());
  return JSON.stringify(value === undefined ? null : value);
}

/** Deeper than this is not "plain" (it also stops a cycle); the checking path decides then. */
const PLAIN_DEPTH = 32;

/** Whether `v` is made only of what JSON.stringify encodes as it is and PostgreSQL stores. */
function isPlainJson(v: unknown, depth: number): boolean {
  switch (typeof v) {
    case 'string':
      return !NOT_STORABLE.test(v);
    case 'boolean':
      return true;
    case 'number':
      return Number.isFinite(v);
    case 'object': {
      if (v === null) return true;
      // JSON.stringify calls a toJSON (a Date's, or one set on an array) and encodes what it returns.
      if (depth >= PLAIN_DEPTH || typeof (v as { toJSON?: unknown }).toJSON === 'function') return false;
      if (Array.isArray(v)) {
        for (let i = 0; i < v.length; i++) if (!isPlainJson(v[i], depth + 1)) return false;
        return true;
      }
      for (const key of Object.keys(v)) {
        if (NOT_STORABLE.test(key) || !isPlainJson((v as Record<string, unknown>)[key], depth + 1)) return false;
      }
      return true;
    }
    default:
      return false;
  }
}

function checkString(text: string, path: string, what: string): void {
  if (NOT_STORABLE.test(text)) {
    throw new JsonEncodeError(`${path} ${what} a NUL character or a lone surrogate, which PostgreSQL cannot store`, path);
  }
}

function checkValue(v: unknown, path: string, seen: Set<object>): void {
  switch (typeof v) {
    case 'string':
      checkString(v, path, 'contains');
      return;
    case 'boolean':
      return;
    case 'number':
      if (!Number.isFinite(v)) throw new JsonEncodeError(`${path} is ${v}, which JSON cannot represent`, path);
      return;
    case 'bigint':
      throw new JsonEncodeError(`${path} is a BigInt, which JSON cannot represent (convert it to a string)`, path);
    case 'function':
    case 'symbol':
      throw new JsonEncodeError(`${path} is a ${typeof v}, which JSON cannot represent`, path);
    case 'undefined':
      return;
    case 'object': {
      if (v === null) return;
      const withToJson = v as { toJSON?: () => unknown };
      if (typeof withToJson.toJSON === 'function') return checkValue(withToJson.toJSON(), path, seen);
      if (seen.has(v)) throw new JsonEncodeError(`${path} refers back to itself (a cycle)`, path);
      seen.add(v);
      if (Array.isArray(v)) {
        for (let i = 0; i < v.length; i++) checkValue(v[i], `${path}[${i}]`, seen);
      } else {
        for (const [key, item] of Object.entries(v)) {
          checkString(key, `${path}.${key}`, 'is a key with');
          checkValue(item, `${path}.${key}`, seen);
        }
      }
      seen.delete(v);
      return;
    }
  }
}

/**
 * Whether PostgreSQL can store `text` as it is: no NUL character (refused by text and jsonb)
 * and no lone surrogate (silently turned into U+FFFD on the way, so two different strings
 * would be stored as one).
 */
export function isStorableText(text: string): boolean {
  return !NOT_STORABLE.test(text);
}

/** Makes text storable in jsonb: NUL characters and lone surrogates become U+FFFD. */
export function storableText(text: string): string {
  return NOT_STORABLE.test(text) ? text.replace(new RegExp(NOT_STORABLE.source, 'g'), '\ufffd') : text;
}

export function isJsonObject(value: unknown): value is JsonObject {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}
