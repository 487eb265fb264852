import type postgres from 'postgres';
import { autoExplain, type AutoExplainOptions, type PlanNode } from '../../bench/lib/auto-explain.js';

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

/**
 * The plans auto_explain logs while `run` runs (bench/lib/auto-explain.ts), each as its nodes:
 * nested statements (a SQL function's body) first, the caller's statement last. For the tests that
 * check what a cached-plan function (taskwire_claim, taskwire_enqueue, taskwire_complete) plans on a
 * table with and without statistics.
 */
export async function explainedPlans(url: string, run: (c: postgres.ReservedSql) => Promise<unknown>, options: AutoExplainOptions = {}): Promise<string[][]> {
  return (await autoExplain(url, run, options)).map((p) => nodes(p.plan));
}
