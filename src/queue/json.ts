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

function encodeStrict(value: unknown, root: string): string {
  const seen = new Set<object>();
  const checkString = (text: string, path: string, what: string): void => {
    if (NOT_STORABLE.test(text)) {
      throw new JsonEncodeError(`${path} ${what} a NUL character or a lone surrogate, which PostgreSQL cannot store`, path);
    }
  };
  const check = (v: unknown, path: string): void => {
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
        if (typeof withToJson.toJSON === 'function') return check(withToJson.toJSON(), path);
        if (seen.has(v)) throw new JsonEncodeError(`${path} refers back to itself (a cycle)`, path);
        seen.add(v);
        if (Array.isArray(v)) v.forEach((item, i) => check(item, `${path}[${i}]`));
        else {
          for (const [key, item] of Object.entries(v)) {
            checkString(key, `${path}.${key}`, 'is a key with');
            check(item, `${path}.${key}`);
          }
        }
        seen.delete(v);
        return;
      }
    }
  };
  check(value, root);
  return JSON.stringify(value === undefined ? null : value);
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
