import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { encodeJson, isJsonObject, isStorableText, JsonEncodeError, MAX_JSON_DEPTH, storableText } from '../../src/queue/json.js';

/** The JsonEncodeError encodeJson throws for `value`; fails the test when it throws nothing else. */
function encodeError(value: unknown, root?: string): JsonEncodeError {
  try {
    encodeJson(value, root);
  } catch (error) {
    if (error instanceof JsonEncodeError) return error;
    throw new Error(`expected a JsonEncodeError, got ${String(error)}`);
  }
  throw new Error(`expected a JsonEncodeError, got ${encodeJson(value, root)}`);
}

/** Strings of the code units that matter here: plain, NUL, both surrogate halves (alone or paired). */
const edgyText = fc.string({ unit: fc.constantFrom('a', 'é', '\u0000', '\ud83d', '\ude00', '\ufffd'), maxLength: 12 });

function nested(depth: number): unknown {
  let value: unknown = 'leaf';
  for (let i = 0; i < depth; i++) value = i % 2 === 0 ? [value] : { v: value };
  return value;
}

describe('encodeJson', () => {
  it.each([
    ['null', null],
    ['a boolean', true],
    ['numbers', [0, -1.5, 1e21, Number.MAX_SAFE_INTEGER]],
    ['text with a surrogate pair', 'héllo 😀'],
    ['an empty string', ''],
    ['nested objects and arrays', { a: { b: [1, 'two', null, { c: false }] }, d: [] }],
  ])('encodes %s as JSON.stringify does', (_name, value) => {
    expect(encodeJson(value)).toBe(JSON.stringify(value));
  });

  it('encodes any JSON value of storable text exactly as JSON.stringify does', () => {
    const values = fc.jsonValue({ stringUnit: 'grapheme' }).filter((v) => !JSON.stringify(v).includes('\\u0000'));
    fc.assert(
      fc.property(values, (value) => {
        expect(encodeJson(value)).toBe(JSON.stringify(value));
      }),
    );
  });

  it('makes undefined null at the top, drops it from objects and makes it null in arrays, as JSON does', () => {
    expect(encodeJson(undefined)).toBe('null');
    expect(encodeJson({ a: undefined, b: 1 })).toBe('{"b":1}');
    expect(encodeJson([undefined, 1])).toBe('[null,1]');
    expect(encodeJson([, 1])).toBe('[null,1]');
  });

  it('encodes a Date, or anything with toJSON, as what toJSON returns', () => {
    const at = new Date('2030-01-02T03:04:05.678Z');
    expect(encodeJson({ at })).toBe('{"at":"2030-01-02T03:04:05.678Z"}');
    expect(encodeJson({ money: { toJSON: () => ({ cents: 150 }) } })).toBe('{"money":{"cents":150}}');
    expect(encodeError({ money: { toJSON: () => 10n } }).path).toBe('$.money');
  });

  it('refuses a BigInt with its path, from the root it is given', () => {
    expect(encodeError(1n).path).toBe('$');
    expect(encodeError({ a: [1, 2n] }).path).toBe('$.a[1]');
    expect(encodeError([1, 2n], 'args').path).toBe('args[1]');
    expect(encodeError({ x: 1n }, 'kwargs').path).toBe('kwargs.x');
  });

  it.each([
    ['NaN', Number.NaN],
    ['Infinity', Number.POSITIVE_INFINITY],
    ['-Infinity', Number.NEGATIVE_INFINITY],
    ['a function', () => 1],
    ['a symbol', Symbol('s')],
  ])('refuses %s, which JSON.stringify would turn into null or drop', (_name, bad) => {
    expect(encodeError({ ok: 1, list: ['x', bad] }).path).toBe('$.list[1]');
  });

  it('refuses a cycle, naming where it refers back, but not a value shared twice', () => {
    const object: Record<string, unknown> = { a: { b: 1 } };
    (object.a as Record<string, unknown>).back = object;
    expect(encodeError(object).path).toBe('$.a.back');
    const array: unknown[] = [1];
    array.push(array);
    expect(encodeError(array).path).toBe('$[1]');
    const shared = { n: 1 };
    expect(encodeJson({ a: shared, b: [shared] })).toBe('{"a":{"n":1},"b":[{"n":1}]}');
  });

  it.each([
    ['a NUL character', 'a\u0000b'],
    ['a lone high surrogate', 'a\ud83d'],
    ['a lone low surrogate', '\ude00b'],
    ['a pair in the wrong order', '\ude00\ud83d'],
  ])('refuses text with %s (PostgreSQL cannot store it), in a value or a key', (_name, text) => {
    expect(encodeError({ list: [text] }).path).toBe('$.list[0]');
    expect(encodeError({ [text]: 1 }).path).toBe(`$.${text}`);
  });

  it('turns a throwing toJSON, a throwing getter or a revoked proxy into a JsonEncodeError at the root', () => {
    const getter = Object.defineProperty({}, 'x', {
      enumerable: true,
      get() {
        throw new Error('no');
      },
    });
    const { proxy, revoke } = Proxy.revocable({}, {});
    revoke();
    for (const value of [{ toJSON: () => { throw new Error('no'); } }, { nested: getter }, [proxy]]) {
      const error = encodeError(value, 'args');
      expect(error.path).toBe('args');
      expect(error.name).toBe('JsonEncodeError');
    }
  });

  it(`encodes values deeper than the fast check goes, up to ${MAX_JSON_DEPTH} levels, and refuses deeper ones naming the limit`, () => {
    const deep = nested(MAX_JSON_DEPTH);
    expect(encodeJson(deep)).toBe(JSON.stringify(deep));
    for (const depth of [MAX_JSON_DEPTH + 1, 5000, 200_000]) {
      const error = encodeError(nested(depth), 'returnValue');
      expect(error.message).toMatch(/^returnValue[[\].v0]+… is nested deeper than 1000 levels/);
      expect(error.message).not.toMatch(/call stack/);
      expect(error.message.length).toBeLessThan(300);
      // The field names the outermost member it is in, not a path of a thousand segments.
      expect(error.path).toMatch(/^returnValue(\[0\]|\.v)$/);
    }
  });

  it.each([
    ['a Map', new Map([['a', 1]]), /is a Map, which JSON.stringify stores as \{\}/],
    ['a Set', new Set([1]), /is a Set/],
    ['a WeakMap', new WeakMap(), /is a WeakMap/],
    ['a WeakSet', new WeakSet(), /is a WeakSet/],
    ['an Error', new Error('boom'), /is an Error \(Error\)/],
    ['an Error subclass', new (class MyError extends Error {})('boom'), /is an Error \(MyError\)/],
    ['a Uint8Array', new Uint8Array([1, 2]), /is a Uint8Array, which JSON.stringify stores as an object of indexes/],
    ['a Float64Array', new Float64Array(2), /is a Float64Array/],
    ['a DataView', new DataView(new ArrayBuffer(2)), /is a DataView/],
    ['an ArrayBuffer', new ArrayBuffer(2), /is an ArrayBuffer/],
    ['a Buffer (despite its toJSON)', Buffer.from('hi'), /is a Buffer, .*base64/],
    ['a Promise', Promise.resolve(1), /is a Promise/],
    ['a RegExp', /x/, /is a RegExp/],
  ])('refuses %s, which JSON.stringify would store as something else, naming the path and the kind', (_name, bad, message) => {
    const error = encodeError({ ok: 1, list: ['x', bad] }, 'returnValue');
    expect(error.path).toBe('returnValue.list[1]');
    expect(error.message).toMatch(/^returnValue\.list\[1\] is /);
    expect(error.message).toMatch(message);
    expect(encodeError(bad).path).toBe('$');
  });

  it('encodes class instances by their fields, and a Map or Error that defines toJSON by it', () => {
    class Point {
      constructor(
        readonly x: number,
        readonly y: number,
      ) {}
      norm(): number {
        return Math.hypot(this.x, this.y);
      }
    }
    expect(encodeJson({ p: new Point(3, 4) })).toBe('{"p":{"x":3,"y":4}}');
    class JsonMap extends Map<string, number> {
      toJSON(): Record<string, number> {
        return Object.fromEntries(this);
      }
    }
    expect(encodeJson([new JsonMap([['a', 1]])])).toBe('[{"a":1}]');
    const error = Object.assign(new Error('boom'), { toJSON: () => ({ message: 'boom' }) });
    expect(encodeJson({ error })).toBe('{"error":{"message":"boom"}}');
  });

  it('calls toJSON once, with its key as JSON.stringify does, and encodes what that call returned', () => {
    const keyed = { d: { toJSON: (key: string) => (key === 'd' ? 'ok' : { bad: 1n }) } };
    expect(JSON.stringify(keyed)).toBe('{"d":"ok"}');
    expect(encodeJson(keyed)).toBe('{"d":"ok"}');
    const keys: string[] = [];
    const spy = { toJSON: (key: string) => (keys.push(key), key) };
    expect(encodeJson([spy, { k: spy }])).toBe('["0",{"k":"k"}]');
    expect(encodeJson(spy)).toBe('""');
    expect(keys).toEqual(['0', 'k', '']);
    let calls = 0;
    const changing = { toJSON: () => (++calls === 1 ? 'first' : 'later') };
    expect(encodeJson({ a: changing, b: [1, new Date(0)] })).toBe('{"a":"first","b":[1,"1970-01-01T00:00:00.000Z"]}');
    expect(calls).toBe(1);
  });

  it('keeps every key beside a toJSON value, __proto__ included, and does not call the result\'s own toJSON', () => {
    const value = JSON.parse('{"__proto__": {"x": 1}, "b": 2}') as Record<string, unknown>;
    value.at = new Date(0);
    expect(encodeJson(value)).toBe('{"__proto__":{"x":1},"b":2,"at":"1970-01-01T00:00:00.000Z"}');
    class Wrapped {
      constructor(readonly n: number) {}
      toJSON(): unknown {
        return this.n === 1 ? new Wrapped(2) : 'called again';
      }
    }
    expect(JSON.stringify({ w: new Wrapped(1) })).toBe('{"w":{"n":2}}');
    expect(encodeJson({ w: new Wrapped(1) })).toBe('{"w":{"n":2}}');
  });

  it('encodes large values whole: a 1 MiB string and 200,000 numbers', () => {
    const text = 'x'.repeat(1_048_576);
    expect(encodeJson(text)).toHaveLength(1_048_576 + 2);
    const numbers = Array.from({ length: 200_000 }, (_, i) => i * 1.5);
    expect(encodeJson(numbers)).toBe(JSON.stringify(numbers));
  });
});

describe('isStorableText', () => {
  it('accepts text PostgreSQL stores as it is and refuses NUL and lone surrogates', () => {
    expect(['', 'plain', 'héllo 😀', '\ufffd'].map(isStorableText)).toEqual([true, true, true, true]);
    expect(['a\u0000', '\ud800', 'x\udc00', '😀\ud83d'].map(isStorableText)).toEqual([false, false, false, false]);
  });

  it('agrees with encodeJson on strings mixing plain text, NUL and surrogate halves', () => {
    fc.assert(
      fc.property(edgyText, (text) => {
        let encoded = true;
        try {
          encodeJson(text);
        } catch (error) {
          if (!(error instanceof JsonEncodeError)) throw error;
          encoded = false;
        }
        expect(encoded).toBe(isStorableText(text));
      }),
    );
  });
});

describe('storableText', () => {
  it('returns storable text unchanged', () => {
    const text = 'héllo 😀';
    expect(storableText(text)).toBe(text);
  });

  it('replaces each NUL and lone surrogate with U+FFFD, keeping pairs', () => {
    expect(storableText('a\u0000b\ud800c\udc00')).toBe('a\ufffdb\ufffdc\ufffd');
    expect(storableText('\ud83d\ude00\ud83d')).toBe('\ud83d\ude00\ufffd');
  });

  it('always gives text that encodes', () => {
    fc.assert(
      fc.property(edgyText, (text) => {
        const fixed = storableText(text);
        expect(isStorableText(fixed)).toBe(true);
        expect(fixed).toHaveLength(text.length);
        expect(JSON.parse(encodeJson(fixed))).toBe(fixed);
      }),
    );
  });
});

describe('isJsonObject', () => {
  it('is true for objects only: not arrays, null or primitives', () => {
    expect([{}, { a: 1 }].map(isJsonObject)).toEqual([true, true]);
    expect([[], null, undefined, 'x', 1, true].map(isJsonObject)).toEqual([false, false, false, false, false, false]);
  });
});
