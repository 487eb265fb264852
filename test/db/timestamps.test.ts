import { describe, expect, it } from 'vitest';
import { createDb } from '../../src/db/client.js';
import { useQueueTestApp } from '../helpers/factories.js';

// Times come back as the instant that went in, for every time the DateTime scalar takes (years
// 1–9999), whatever the database's own TimeZone: src/db/client.ts (TimeZone=UTC, parseTimestamp).
const env = useQueueTestApp();

describe('timestamps read from PostgreSQL', () => {
  it('are the instants stored, from year 1 to 9999', async () => {
    // No runner here: the tasks stay PENDING with the runAfter they were given.
    const { queue } = env.app.deps;
    for (const iso of ['0001-03-04T05:06:07.890Z', '0012-12-03T00:00:00.000Z', '0099-07-01T23:59:59.999Z', '0100-01-01T00:00:00.000Z', '1850-06-01T00:00:00.000Z', '9999-12-31T23:59:59.999Z']) {
      const task = await queue.enqueue({ name: 'demo.echo', runAfter: new Date(iso) });
      expect((await queue.getTask(task.id))?.runAfter.toISOString()).toBe(iso);
    }
  });

  it('are read right in a database whose TimeZone writes local mean time before 1900', async () => {
    const { sql, database } = env.app;
    const [db] = await sql`SELECT current_database() AS name`;
    // The default of sessions that do not set their own: what initdb takes from a machine in Paris.
    await sql.unsafe(`ALTER DATABASE "${String(db?.name)}" SET timezone = 'Europe/Paris'`);
    const other = createDb(database.url, { max: 1 });
    try {
      const [bare] = await other.sql.unsafe(`SELECT current_setting('TimeZone') AS tz`);
      expect(bare?.tz).toBe('UTC');
      const [row] = await other.sql`SELECT ${'1850-06-01T00:00:00.000Z'}::timestamptz AS at, '1850-06-01 00:09:21+00:09:21'::timestamptz AS lmt`;
      expect((row?.at as Date).toISOString()).toBe('1850-06-01T00:00:00.000Z');
      expect((row?.lmt as Date).toISOString()).toBe('1850-06-01T00:00:00.000Z');
    } finally {
      await other.close();
      await sql.unsafe(`ALTER DATABASE "${String(db?.name)}" RESET timezone`);
    }
  });
});
