import type { Sql } from '../db/client.js';
import type { JsonValue } from '../queue/json.js';
import { createMicroBatcher } from '../queue/micro-batcher.js';
import type { Task } from '../queue/task.js';

/** A workflow step's parents' results by step ref (`ctx.dependencies`); null for a parent that did not succeed. */
export type Dependencies = Readonly<Record<string, JsonValue | null>>;

const NONE: Dependencies = Object.freeze({});

/** Reads what `ctx.dependencies` holds for a starting attempt. */
export interface DependencyReader {
  /** Empty at once for a task without parents (no query); otherwise read with the other attempts starting now. */
  read(task: Task): Promise<Dependencies>;
}

/**
 * Parents' results for the attempts a worker starts: the attempts of one claim start in the
 * same turn, so their reads share one query (micro-batched, by primary key over every parent
 * id). A parent's result is kept while its workflow runs (the cleaner skips its steps),
 * so it is there to read; a FAILED or CANCELLED parent (a RUN_ANYWAY step's) reads as null.
 * The result is in return_value_json, or return_value for one recorded before drizzle/0042.
 */
export function createDependencyReader(sql: Sql): DependencyReader {
  const batcher = createMicroBatcher<readonly string[], Map<string, { ref: string; value: JsonValue | null }>>({
    flush: async (batches) => {
      const ids = [...new Set(batches.flat())];
      const rows = await sql`
        SELECT id, step_ref, CASE WHEN status = 'SUCCEEDED' THEN coalesce(return_value_json, return_value::json) END AS value
        FROM tasks WHERE id = ANY(${ids}::uuid[])`;
      const byId = new Map(rows.map((r) => [String(r.id), { ref: String(r.stepRef), value: (r.value ?? null) as JsonValue | null }]));
      return batches.map(() => byId);
    },
  });
  return {
    async read(task) {
      if (task.dependsOn.length === 0) return NONE;
      const byId = await batcher.add(task.dependsOn);
      const result: Record<string, JsonValue | null> = {};
      for (const id of task.dependsOn) {
        const parent = byId.get(id);
        // A parent deleted meanwhile (its workflow ended long ago, then was retried): no result.
        if (parent) result[parent.ref] = parent.value;
      }
      return Object.freeze(result);
    },
  };
}
