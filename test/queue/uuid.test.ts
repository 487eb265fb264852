import { describe, expect, it } from 'vitest';
import { isUuid, uuidv7 } from '../../src/queue/uuid.js';

describe('uuidv7', () => {
  it('makes strictly increasing ids in a tight loop', () => {
    const ids = Array.from({ length: 50_000 }, () => uuidv7());
    for (let i = 1; i < ids.length; i++) {
      if (!((ids[i - 1] as string) < (ids[i] as string))) throw new Error(`id ${i} (${ids[i]}) is not after ${ids[i - 1]}`);
    }
    expect(new Set(ids).size).toBe(ids.length);
  });

  it('keeps increasing when the clock goes backwards or stands still', () => {
    const now = Date.now() + 10_000;
    const ids = [uuidv7(now), uuidv7(now - 5000), uuidv7(now - 5000), uuidv7(now), ...Array.from({ length: 5000 }, () => uuidv7(now))];
    expect([...ids].sort()).toEqual(ids);
    expect(new Set(ids).size).toBe(ids.length);
  });

  it('writes the time, version 7 and the RFC 9562 variant', () => {
    const at = Date.UTC(2031, 0, 2, 3, 4, 5, 678);
    const id = uuidv7(at);
    expect(isUuid(id)).toBe(true);
    expect(id[14]).toBe('7');
    expect(['8', '9', 'a', 'b']).toContain(id[19]);
    expect(parseInt(id.replace(/-/g, '').slice(0, 12), 16)).toBe(at);
  });
});
