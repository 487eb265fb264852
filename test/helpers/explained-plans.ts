import type postgres from 'postgres';
import { createDb } from '../../src/db/client.js';

/** A plan node as auto_explain logs it with `log_format = json`. */
interface PlanNode {
  'Node Type': string;
  'Index Name'?: string;
  'Relation Name'?: string;
  Plans?: PlanNode[];
}

/**
 * A plan's nodes, depth first, each its type with the index it walks (`Index Scan using tasks_pkey`)
 * or, for another scan, the table it reads (`Seq Scan on tasks`).
 */
function nodes(n: PlanNode, out: string[] = []): string[] {
  const on = n['Index Name'] ? ` using ${n['Index Name']}` : n['Relation Name'] && n['Node Type'].endsWith('Scan') ? ` on ${n['Relation Name']}` : '';
  out.push(`${n['Node Type']}${on}`);
  for (const child of n.Plans ?? []) nodes(child, out);
  return out;
}

export interface ExplainOptions {
  /** Runs first in the same transaction, before auto_explain is on (its plans are not logged). */
  before?: (c: postgres.ReservedSql) => Promise<unknown>;
  /** auto_explain's log_analyze (default off). */
  analyze?: boolean;
}

/**
 * The plans auto_explain logs while `run` runs, in one transaction on a connection of its own that
 * is rolled back: nested statements (a SQL function's body) first, the caller's statement last, as
 * PostgreSQL logs them. For the tests that check what a cached-plan function (taskwire_claim,
 * taskwire_enqueue, taskwire_complete) plans on a table with and without statistics.
 */
export async function explainedPlans(url: string, run: (c: postgres.ReservedSql) => Promise<unknown>, options: ExplainOptions = {}): Promise<string[][]> {
  const messages: string[] = [];
  const db = createDb(url, { max: 1, onNotice: (n) => messages.push(String(n.message)) });
  try {
    const c = await db.sql.reserve();
    try {
      await c`BEGIN`;
      await options.before?.(c);
      await c`LOAD 'auto_explain'`;
      const settings = ['log_min_duration = 0', 'log_nested_statements = on', 'log_format = json', ...(options.analyze ? ['log_analyze = on'] : [])];
      for (const s of settings) await c.unsafe(`SET LOCAL auto_explain.${s}`);
      await c`SET LOCAL client_min_messages = log`;
      await run(c);
      await c`ROLLBACK`;
    } finally {
      c.release();
    }
  } finally {
    await db.close();
  }
  return messages
    .filter((m) => m.includes('"Plan"'))
    .map((m) => nodes((JSON.parse(m.slice(m.indexOf('{'))) as { Plan: PlanNode }).Plan));
}
