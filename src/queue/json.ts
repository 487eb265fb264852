import { types } from 'node:util';

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
 * How deep values may nest (arrays and objects within each other), counted from the top: past it
 * encodeJson refuses. PostgreSQL's jsonb parses recursively and, at its default `max_stack_depth`
 * (2 MB), refuses somewhere between 10,000 and 20,000 levels; 1,000 keeps far from that (and from
 * the stack of a JavaScript reader walking the value) while no real result comes near it.
 */
export const MAX_JSON_DEPTH = 1000;

/**
 * Strict JSON encoding: where JSON.stringify would silently drop or mangle a value
 * (BigInt throws, NaN becomes null, functions vanish, a Map or a typed array becomes `{}` or an
 * object of indexes, cycles throw without a path), this fails with the path of the offending
 * value. `undefined` at the top becomes null. Objects with `toJSON` (Date, class instances that
 * define one) are encoded the usual way, toJSON called once, with its key as JSON.stringify does.
 * Strings PostgreSQL's jsonb cannot store (a NUL character, a lone surrogate) fail here too, rather
 * than as a database error, and so does nesting deeper than MAX_JSON_DEPTH.
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
  // Anything else (a Date, undefined, a cycle, bad text) takes the checking path below, which
  // gives back what to encode: toJSON's results in place, so that JSON.stringify calls none again
  // (a toJSON with side effects, or one that answers differently per call, runs once).
  const checked = isPlainJson(value, 0) ? value : checkValue(value, '', root, new Set<object>(), 0);
  return JSON.stringify(checked === undefined ? null : checked);
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
      // A Map, a Set, an Error, a typed array … would be stored as {} or an object of indexes: only
      // plain objects (asked about first: they are nearly all) and class instances pass here.
      const proto: unknown = Object.getPrototypeOf(v);
      if (proto !== Object.prototype && proto !== null && refusedKind(v) !== undefined) return false;
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

/**
 * What JSON.stringify would store as something else, and what to do instead. Buffer is refused
 * although it has a toJSON: `{"type":"Buffer","data":[…]}` reads back as an object, not a Buffer,
 * and bytes are better stored as base64 (`buf.toString('base64')`).
 */
function refusedKind(v: object): string | undefined {
  if (types.isMap(v)) return 'a Map, which JSON.stringify stores as {} (pass Object.fromEntries(map) or [...map])';
  if (types.isSet(v)) return 'a Set, which JSON.stringify stores as {} (pass [...set])';
  if (types.isWeakMap(v)) return 'a WeakMap, which JSON cannot represent';
  if (types.isWeakSet(v)) return 'a WeakSet, which JSON cannot represent';
  if (types.isPromise(v)) return 'a Promise, which JSON cannot represent (await it first)';
  if (types.isRegExp(v)) return 'a RegExp, which JSON.stringify stores as {} (pass its source)';
  if (v instanceof Error || types.isNativeError(v)) {
    return `an Error (${describeClass(v, 'Error')}), which JSON.stringify stores as {} (pass { name, message })`;
  }
  if (Buffer.isBuffer(v)) return "a Buffer, which JSON.stringify stores as {type, data} (pass buf.toString('base64'))";
  if (types.isArrayBufferView(v)) {
    return `a ${describeClass(v, 'typed array')}, which JSON.stringify stores as an object of indexes (pass Array.from(it) or base64)`;
  }
  if (types.isAnyArrayBuffer(v)) return `an ${describeClass(v, 'ArrayBuffer')}, which JSON.stringify stores as {} (pass an array or base64)`;
  return undefined;
}

function describeClass(v: object, fallback: string): string {
  const name = (v as { constructor?: { name?: unknown } }).constructor?.name;
  return typeof name === 'string' && name !== '' ? name : fallback;
}

/**
 * The outermost member of `path` below its root (`args[0]` of `args[0][0][0]…`): what a value
 * nested too deep is named by in `field` (its full path ran to 1,000 segments, ~3 KB).
 */
function outermost(path: string): string {
  return /^[^[.]*(?:\[\d+\]|\.[^.[]+)?/.exec(path)?.[0] || path;
}

/** A path short enough for a message: the start of one past MAX_JSON_DEPTH runs to kilobytes. */
function pathPrefix(path: string): string {
  return path.length > 120 ? `${path.slice(0, 120)}…` : path;
}

/**
 * Checks `v` (the value under `key` in its parent, '' at the top) and returns what to encode in
 * its place: `v` itself when nothing below it has a toJSON (nothing is copied), else a copy with
 * every toJSON's result in place. The copies have no prototype, so a key named `__proto__` stays
 * a key, and JSON.stringify finds no toJSON on them to call again.
 */
function checkValue(v: unknown, key: string, path: string, seen: Set<object>, depth: number): unknown {
  switch (typeof v) {
    case 'string':
      checkString(v, path, 'contains');
      return v;
    case 'boolean':
      return v;
    case 'number':
      if (!Number.isFinite(v)) throw new JsonEncodeError(`${path} is ${v}, which JSON cannot represent`, path);
      return v;
    case 'bigint':
      throw new JsonEncodeError(`${path} is a BigInt, which JSON cannot represent (convert it to a string)`, path);
    case 'function':
    case 'symbol':
      throw new JsonEncodeError(`${path} is a ${typeof v}, which JSON cannot represent`, path);
    case 'undefined':
      return v;
    case 'object': {
      if (v === null) return v;
      const toJSON = (v as { toJSON?: unknown }).toJSON;
      if (typeof toJSON === 'function' && !Buffer.isBuffer(v)) {
        // As JSON.stringify does: called with its key, and its result encoded without calling
        // the result's own toJSON (only its members').
        const replaced: unknown = toJSON.call(v, key);
        const checked = checkMembers(replaced, path, seen, depth);
        return checked === replaced && hasToJson(replaced) ? copyOf(replaced as object) : checked;
      }
      return checkMembers(v, path, seen, depth);
    }
  }
  return v;
}

/** Like checkValue for a value whose own toJSON (if any) has been dealt with: checks its members. */
function checkMembers(v: unknown, path: string, seen: Set<object>, depth: number): unknown {
  if (typeof v !== 'object' || v === null) return checkValue(v, '', path, seen, depth);
  const kind = refusedKind(v);
  if (kind !== undefined) throw new JsonEncodeError(`${path} is ${kind}`, path);
  if (depth >= MAX_JSON_DEPTH) {
    throw new JsonEncodeError(`${pathPrefix(path)} is nested deeper than ${MAX_JSON_DEPTH} levels, the most taskwire stores`, outermost(path));
  }
  if (seen.has(v)) throw new JsonEncodeError(`${path} refers back to itself (a cycle)`, path);
  seen.add(v);
  let result: unknown = v;
  if (Array.isArray(v)) {
    let copy: unknown[] | undefined;
    for (let i = 0; i < v.length; i++) {
      const item: unknown = v[i];
      const checked = checkValue(item, String(i), `${path}[${i}]`, seen, depth + 1);
      if (checked !== item && !copy) copy = v.slice(0, i);
      copy?.push(checked);
    }
    if (copy) result = copy;
  } else {
    const entries = Object.entries(v);
    let copy: Record<string, unknown> | undefined;
    for (let i = 0; i < entries.length; i++) {
      const [key, item] = entries[i] as [string, unknown];
      checkString(key, `${path}.${key}`, 'is a key with');
      const checked = checkValue(item, key, `${path}.${key}`, seen, depth + 1);
      if (checked !== item && !copy) {
        copy = Object.create(null) as Record<string, unknown>;
        for (let j = 0; j < i; j++) copy[(entries[j] as [string, unknown])[0]] = (entries[j] as [string, unknown])[1];
      }
      if (copy) copy[key] = checked;
    }
    if (copy) result = copy;
  }
  seen.delete(v);
  return result;
}

function hasToJson(v: unknown): boolean {
  return typeof v === 'object' && v !== null && typeof (v as { toJSON?: unknown }).toJSON === 'function';
}

/** A shallow copy without the prototype (and so without its toJSON), for JSON.stringify. */
function copyOf(v: object): unknown {
  if (Array.isArray(v)) return v.slice();
  return Object.assign(Object.create(null) as Record<string, unknown>, v);
}

/**
 * Whether PostgreSQL can store `text` as it is: no NUL character (refused by text and jsonb)
 * and no lone surrogate (silently turned into U+FFFD on the way, so two different strings
 * would be stored as one).
 */
export function isStorableText(text: string): boolean {
  return !NOT_STORABLE.test(text);
}

/** At most `max` UTF-16 code units of `text`, never ending between the two halves of a surrogate pair. */
export function clipText(text: string, max: number): string {
  if (text.length <= max) return text;
  const last = text.charCodeAt(max - 1);
  return text.slice(0, last >= 0xd800 && last <= 0xdbff ? max - 1 : max);
}

/** Makes text storable in jsonb: NUL characters and lone surrogates become U+FFFD. */
export function storableText(text: string): string {
  return NOT_STORABLE.test(text) ? text.replace(new RegExp(NOT_STORABLE.source, 'g'), '\ufffd') : text;
}

export function isJsonObject(value: unknown): value is JsonObject {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}
