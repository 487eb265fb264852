import { loadConfig, type Config } from '../../src/config.js';
import { createDeps, type Deps } from '../../src/deps.js';
import { silentLogger } from '../../src/logger.js';
import { createTestDatabase, type TestDatabase } from './database.js';

export interface TestApp {
  database: TestDatabase;
  deps: Deps;
  config: Config;
  close(): Promise<void>;
}

/**
 * A private database plus the wired dependencies (queue, registry with the example
 * tasks, runner factory) against it. `env` overrides configuration variables.
 */
export async function createTestApp(env: Record<string, string> = {}): Promise<TestApp> {
  const database = await createTestDatabase();
  const config = loadConfig({ LOG_LEVEL: 'silent', ...env });
  const deps = await createDeps(config, { databaseUrl: database.url, log: silentLogger });
  return {
    database,
    deps,
    config,
    async close() {
      await deps.close();
      await database.drop();
    },
  };
}
