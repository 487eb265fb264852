import type postgres from 'postgres';
import { autoExplain, type AutoExplainOptions, type PlanNode } from '../../bench/lib/auto-explain.js';

/** A plan's nodes, depth first. */
export function planNodes(n: PlanNode | undefined): PlanNode[] {
  return n ? [n, ...(n.Plans ?? []).flatMap(planNodes)] : [];
}

/** The indexes the nodes of these plans walk, in plan order (repeats kept). */
export function indexesOf(plans: readonly PlanNode[]): string[] {
  return plans.flatMap((plan) => planNodes(plan).flatMap((n) => (n['Index Name'] ? [n['Index Name']] : [])));
}

/** The blocks a plan's statement touched, found in shared buffers or read (auto_explain with `buffers`). */
export function blocksOf(plan: PlanNode | undefined): number {
  return (plan?.['Shared Hit Blocks'] ?? 0) + (plan?.['Shared Read Blocks'] ?? 0);
}

/**
 * A plan's nodes, depth first, each its type with the index it walks (`Index Scan using tasks_pkey`)
 * or, for another scan, the table it reads (`Seq Scan on tasks`).
 */
function nodes(plan: PlanNode): string[] {
  return planNodes(plan).map((n) => {
    const on = n['Index Name'] ? ` using ${n['Index Name']}` : n['Relation Name'] && n['Node Type'].endsWith('Scan') ? ` on ${n['Relation Name']}` : '';
    return `${n['Node Type']}${on}`;
  });
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
