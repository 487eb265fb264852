import { randomBytes } from 'node:crypto';

let lastMs = 0;
let counter = 0;

// One randomBytes call per 256 ids instead of one per id (a crypto call per id showed in bulk-enqueue profiles).
const POOL_IDS = 256;
let pool = Buffer.alloc(0);
let poolOffset = 0;

/** The next 16 random bytes: a view of the pool, never handed out twice (so free to overwrite). */
function random16(): Buffer {
  if (poolOffset + 16 > pool.length) {
    pool = randomBytes(16 * POOL_IDS);
    poolOffset = 0;
  }
  const bytes = pool.subarray(poolOffset, poolOffset + 16);
  poolOffset += 16;
  return bytes;
}

/**
 * A UUID v7 (RFC 9562): 48 bits of Unix ms, then a 12-bit counter that keeps ids made in
 * the same millisecond by this process in order (method 1 of §6.2), then random bits.
 * Task ids are made here rather than by PostgreSQL so that PostgreSQL 14–17 work too, and rather
 * than by the `uuid` package's v7 because that is ~20× slower per id (docs/decisions.md).
 */
export function uuidv7(now = Date.now()): string {
  if (now > lastMs) {
    lastMs = now;
    counter = random16().readUInt16BE() & 0x3ff; // leave headroom before the counter overflows
  } else {
    counter += 1;
    if (counter > 0xfff) {
      // Counter exhausted in this millisecond: borrow the next one, keeping the order.
      lastMs += 1;
      counter = 0;
    }
  }
  const bytes = random16();
  const ms = lastMs;
  bytes[0] = Math.floor(ms / 2 ** 40) & 0xff;
  bytes[1] = Math.floor(ms / 2 ** 32) & 0xff;
  bytes[2] = (ms >>> 24) & 0xff;
  bytes[3] = (ms >>> 16) & 0xff;
  bytes[4] = (ms >>> 8) & 0xff;
  bytes[5] = ms & 0xff;
  bytes[6] = 0x70 | (counter >>> 8);
  bytes[7] = counter & 0xff;
  bytes[8] = 0x80 | ((bytes[8] ?? 0) & 0x3f);
  const hex = bytes.toString('hex');
  return `${hex.slice(0, 8)}-${hex.slice(8, 12)}-${hex.slice(12, 16)}-${hex.slice(16, 20)}-${hex.slice(20)}`;
}

const UUID_RE = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;

export function isUuid(value: string): boolean {
  return UUID_RE.test(value);
}
