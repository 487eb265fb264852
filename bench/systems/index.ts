import type { SystemName } from '../lib/protocol.js';
import type { QueueSystem } from './types.js';

/** Opens `system` against `url`; each adapter is imported only when used. */
export async function openSystem(system: SystemName, url: string): Promise<QueueSystem> {
  switch (system) {
    case 'taskwire':
      return (await import('./taskwire.js')).createTaskwireSystem(url);
    case 'graphile-worker':
      return (await import('./graphile-worker.js')).createGraphileSystem(url, false);
    case 'graphile-worker-batched':
      return (await import('./graphile-worker.js')).createGraphileSystem(url, true);
    case 'pg-boss':
      return (await import('./pg-boss.js')).createPgBossSystem(url);
  }
}

/** Template database holding each system's migrated schema. */
export function templateFor(system: SystemName): string {
  switch (system) {
    case 'taskwire':
      return 'bench_tpl_taskwire';
    case 'graphile-worker':
    case 'graphile-worker-batched':
      return 'bench_tpl_graphile';
    case 'pg-boss':
      return 'bench_tpl_pgboss';
  }
}
