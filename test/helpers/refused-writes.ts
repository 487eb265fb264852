import type { Sql } from '../../src/db/client.js';

export interface RefusedWrites {
  /** From now on the database refuses those writes. */
  block(): Promise<void>;
  /** And takes them again. */
  unblock(): Promise<void>;
  /** Removes the trigger and its switch. */
  drop(): Promise<void>;
}

/**
 * Makes the database refuse `event` on `table` for the rows where `when` holds (a trigger
 * `refuse_<name>` on NEW), with `sqlState` and `message` — a full disk (53100), a database going
 * away (57P03) — while its switch `block_<name>` is on; other writes go through. Starts unblocked.
 */
export async function refusedWrites(
  sql: Sql,
  o: { name: string; table: 'tasks' | 'task_events'; event: 'INSERT' | 'UPDATE'; when: string; sqlState: string; message?: string },
): Promise<RefusedWrites> {
  const message = (o.message ?? `${o.name} refused by the test`).replace(/'/g, "''");
  await sql.unsafe(`
    CREATE TABLE IF NOT EXISTS block_${o.name} (on_ boolean NOT NULL);
    CREATE OR REPLACE FUNCTION refuse_${o.name}() RETURNS trigger LANGUAGE plpgsql AS $$
    BEGIN
      IF (${o.when}) AND EXISTS (SELECT 1 FROM block_${o.name} WHERE on_) THEN
        RAISE EXCEPTION '${message}' USING ERRCODE = '${o.sqlState}';
      END IF;
      RETURN NEW;
    END $$;
    CREATE OR REPLACE TRIGGER refuse_${o.name} BEFORE ${o.event} ON ${o.table} FOR EACH ROW EXECUTE FUNCTION refuse_${o.name}();
    DELETE FROM block_${o.name};`);
  return {
    block: async () => void (await sql.unsafe(`INSERT INTO block_${o.name} VALUES (true)`)),
    unblock: async () => void (await sql.unsafe(`DELETE FROM block_${o.name}`)),
    drop: async () => void (await sql.unsafe(`DROP TRIGGER IF EXISTS refuse_${o.name} ON ${o.table}; DROP TABLE IF EXISTS block_${o.name}`)),
  };
}
