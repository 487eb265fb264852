import { performance } from 'node:perf_hooks';
import { setTimeout as delay } from 'node:timers/promises';
import { afterEach, describe, expect, it } from 'vitest';
import { settledOrRefused } from '../../src/db/client.js';
import { startSilentDatabase, type SilentDatabase } from '../helpers/silent-database.js';

// What the stops wait with (the worker's claim, the maintenance rounds, the listeners) and the pool's
// end, against a database that accepts connections and says nothing, then refuses them
// (helpers/silent-database.ts).
describe('a wait on statements of a pool whose database refuses connections', () => {
  let silent: SilentDatabase | undefined;
  afterEach(async () => {
    await silent?.close();
    silent = undefined;
  });

  it('waits while the database accepts connections, stops waiting once it refuses them, and the pool then ends at once', async () => {
    silent = await startSilentDatabase();
    const { db } = silent;
    const statement = db.sql`SELECT 1`.then(
      () => 'answered',
      (error: Error) => error.message,
    );
    // Accepting, unanswered: the wait goes on, to its own bound or for ever.
    expect(await settledOrRefused(statement, db.sql, { atMostMs: 600 })).toBe('too long');
    const waiting = settledOrRefused(statement, db.sql);
    expect(await Promise.race([waiting, delay(800).then(() => 'still waiting')])).toBe('still waiting');
    silent.stopListening();
    // The statement's connection stays open and silent; new ones are refused.
    const looking = performance.now();
    expect(await waiting).toBe('refused');
    expect(performance.now() - looking).toBeLessThan(3000);
    const closing = performance.now();
    await db.close();
    // The end's own timeout is 5 s: past it, the close waited for the statement.
    expect(performance.now() - closing).toBeLessThan(3000);
    expect(await statement).toMatch(/CONNECTION_DESTROYED/);
  });

  it('returns as soon as the statements are answered, without looking', async () => {
    silent = await startSilentDatabase();
    expect(await settledOrRefused(Promise.resolve(), silent.db.sql)).toBe('settled');
    expect(await settledOrRefused(Promise.reject(new Error('failed')), silent.db.sql)).toBe('settled');
  });
});
