import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { loadConfig } from '../../src/config.js';
import { createDatabaseClock } from '../../src/db/database-clock.js';
import { createDeps } from '../../src/deps.js';
import { createTestDatabase, type TestDatabase } from '../helpers/database.js';
import { captureLog } from '../helpers/log-capture.js';

// The database's clock as a process keeps it (expiries, waiting reasons), and the line a process
// says at start when its own clock is off by more than a second.
let database: TestDatabase;
const captured = captureLog('debug');
beforeAll(async () => {
  database = await createTestDatabase();
});
afterAll(async () => {
  vi.useRealTimers();
  await database?.drop();
});

async function databaseNow(): Promise<number> {
  const [row] = (await database.db.sql`SELECT (extract(epoch FROM clock_timestamp()) * 1000)::float8 AS ms`) as unknown as [{ ms: number }];
  return Number(row.ms);
}

describe('the database clock', () => {
  it('keeps the database\'s time whatever this process\'s wall clock says, and is said at start when that is off', async () => {
    // Only Date is faked: this host's wall clock 30 s ahead of the database's.
    vi.useFakeTimers({ toFake: ['Date'], shouldAdvanceTime: true, now: Date.now() + 30_000 });
    try {
      const clock = createDatabaseClock(database.db.sql);
      const reading = await clock.read();
      expect(reading!.offsetMs).toBeLessThan(-29_000);
      expect(reading!.offsetMs).toBeGreaterThan(-31_000);
      expect(Math.abs(clock.now() - (await databaseNow()))).toBeLessThan(500);
      // A step of the wall clock does not move it.
      vi.setSystemTime(Date.now() - 120_000);
      expect(Math.abs(clock.now() - (await databaseNow()))).toBeLessThan(500);

      const deps = await createDeps(loadConfig({ DATABASE_URL: database.url }), { databaseUrl: database.url, log: captured.log });
      await deps.close();
      const said = captured.lines.find((l) => typeof l.msg === 'string' && l.msg.startsWith("this process's clock is"));
      expect(said?.msg).toMatch(/^this process's clock is 9\d\.\d s behind the database's: /);
      expect(said?.level).toBe(40);
    } finally {
      vi.useRealTimers();
    }
  });

  it('says when a later reading finds the clock gone off, and when it is back; a scrape\'s reading is never older than the interval', async () => {
    captured.lines.length = 0;
    const deps = await createDeps(loadConfig({ DATABASE_URL: database.url }), { databaseUrl: database.url, log: captured.log });
    try {
      const said = (): string[] => captured.lines.map((l) => String(l.msg)).filter((m) => m.startsWith("this process's clock"));
      expect(said()).toEqual([]);
      vi.useFakeTimers({ toFake: ['Date'], shouldAdvanceTime: true, now: Date.now() - 45_000 });
      await deps.clock.read();
      await deps.clock.read();
      vi.useRealTimers();
      await deps.clock.read();
      expect(said()).toEqual([expect.stringMatching(/^this process's clock is 4\d\.\d s behind the database's: /), "this process's clock is within a second of the database's again"]);
    } finally {
      vi.useRealTimers();
      await deps.close();
    }
    const clock = createDatabaseClock(database.db.sql, { intervalMs: 0 });
    const first = await clock.fresh();
    const second = await clock.fresh();
    expect(second!.monotonicMs).toBeGreaterThan(first!.monotonicMs);
    const kept = createDatabaseClock(database.db.sql, { intervalMs: 60_000 });
    const a = await kept.fresh();
    expect(await kept.fresh()).toBe(a);
  });
});
