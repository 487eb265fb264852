import { TaskwireClientError } from './errors.js';

/**
 * The request's variables as JSON, refusing what JSON.stringify would send as something else —
 * what the server's own encoding refuses for a library caller (src/queue/json.ts encodeJson):
 * NaN and ±Infinity (sent as null), a BigInt (JSON.stringify throws), a function or a symbol
 * (dropped, or null in an array), a Map, Set, RegExp, Error, typed array or ArrayBuffer (sent as
 * `{}` or an object of indexes), a cycle. `undefined` is let through as JSON.stringify treats it
 * (null in an array, a key dropped), as the server does. Browser-safe: kinds are told by their
 * `Object.prototype.toString` tag, which holds across realms.
 * @throws TaskwireClientError INVALID_ARGUMENTS, `field` the value's path (`input.args[1].x`), as the server names it
 */
export function encodeVariables(variables: unknown): string {
  if (variables !== null && typeof variables === 'object') {
    for (const [name, value] of Object.entries(variables)) check(value, name, new Set());
  }
  try {
    return JSON.stringify(variables ?? null);
  } catch (error) {
    // A throwing toJSON or getter: the caller's value, not the connection.
    throw new TaskwireClientError('INVALID_ARGUMENTS', `The request's variables cannot be sent as JSON: ${error instanceof Error ? error.message : String(error)}`, {
      cause: error,
    });
  }
}

const REFUSED_TAGS: Record<string, string> = {
  '[object Map]': 'a Map, which JSON sends as {} (pass Object.fromEntries(map) or [...map])',
  '[object Set]': 'a Set, which JSON sends as {} (pass [...set])',
  '[object WeakMap]': 'a WeakMap, which JSON cannot represent',
  '[object WeakSet]': 'a WeakSet, which JSON cannot represent',
  '[object Promise]': 'a Promise, which JSON cannot represent (await it first)',
  '[object RegExp]': 'a RegExp, which JSON sends as {} (pass its source)',
  '[object Error]': 'an Error, which JSON sends as {} (pass { name, message })',
  '[object ArrayBuffer]': 'an ArrayBuffer, which JSON sends as {} (pass an array or base64)',
};

function refuse(path: string, what: string): never {
  throw new TaskwireClientError('INVALID_ARGUMENTS', `${path} is ${what}`, { field: path });
}

function check(v: unknown, path: string, seen: Set<object>): void {
  switch (typeof v) {
    case 'number':
      if (!Number.isFinite(v)) refuse(path, `${v}, which JSON cannot represent`);
      return;
    case 'bigint':
      return refuse(path, 'a BigInt, which JSON cannot represent (convert it to a string)');
    case 'function':
    case 'symbol':
      return refuse(path, `a ${typeof v}, which JSON cannot represent`);
    case 'object': {
      if (v === null) return;
      // A Date and other values with toJSON are sent as it answers, as the server encodes them.
      if (typeof (v as { toJSON?: unknown }).toJSON === 'function') return;
      const tag = Object.prototype.toString.call(v);
      const refused = REFUSED_TAGS[tag] ?? (ArrayBuffer.isView(v) ? 'a typed array, which JSON sends as an object of indexes (pass Array.from(it) or base64)' : undefined);
      if (refused) refuse(path, refused);
      if (seen.has(v)) refuse(path, 'a reference back to itself (a cycle)');
      seen.add(v);
      if (Array.isArray(v)) v.forEach((item: unknown, i) => check(item, `${path}[${i}]`, seen));
      else for (const [key, item] of Object.entries(v)) check(item, `${path}.${key}`, seen);
      seen.delete(v);
      return;
    }
    default:
      return;
  }
}
