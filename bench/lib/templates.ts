import { migrateDatabase } from '../../src/db/migrate.js';
import { migrateGraphileWorker } from '../systems/graphile-worker.js';
import { migratePgBoss } from '../systems/pg-boss.js';
import { templateFor } from '../systems/index.js';
import type { SystemName } from './protocol.js';
import { createDatabase } from './pg.js';

/**
 * Creates one migrated template database per system; every repetition then runs in a
 * fresh `CREATE DATABASE … TEMPLATE` copy, so no run sees another's rows or bloat.
 */
export async function createTemplates(adminUrl: string, systems: readonly SystemName[]): Promise<void> {
  const done = new Set<string>();
  for (const system of systems) {
    const name = templateFor(system);
    if (done.has(name)) continue;
    done.add(name);
    const url = await createDatabase(adminUrl, name);
    if (system === 'taskwire') await migrateDatabase(url);
    else if (system === 'pg-boss') await migratePgBoss(url);
    else await migrateGraphileWorker(url);
  }
}
