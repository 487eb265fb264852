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

/**
 * Strict JSON encoding: where JSON.stringify would silently drop or mangle a value
 * (BigInt throws, NaN becomes null, functions vanish, cycles throw without a path),
 * this fails with the path of the offending value. `undefined` at the top becomes null.
 * Objects with `toJSON` (Date) are encoded the usual way.
 * @throws JsonEncodeError
 */
export function encodeJson(value: unknown, root = '$'): string {
  const seen = new Set<object>();
  const check = (v: unknown, path: string): void => {
    switch (typeof v) {
      case 'string':
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
        else for (const [key, item] of Object.entries(v)) check(item, `${path}.${key}`);
        seen.delete(v);
        return;
      }
    }
  };
  check(value, root);
  return JSON.stringify(value === undefined ? null : value);
}

export function isJsonObject(value: unknown): value is JsonObject {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}
