import type postgres from 'postgres';
import { createDb } from '../../src/db/client.js';

/** A plan node as auto_explain logs it with `log_format = json`. */
export interface PlanNode {
  'Node Type': string;
  'Index Name'?: string;
  'Relation Name'?: string;
  'Subplan Name'?: string;
  'Parent Relationship'?: string;
  'Actual Total Time'?: number;
  Filter?: string;
  /** With `buffers`: the blocks the node and those under it found in shared buffers, and read. */
  'Shared Hit Blocks'?: number;
  'Shared Read Blocks'?: number;
  Plans?: PlanNode[];
}

/** One statement's logged plan and, as auto_explain reports it, its duration (ms). */
export interface LoggedPlan {
  ms: string | undefined;
  plan: PlanNode;
}

export interface AutoExplainOptions {
  /** Runs first in the same transaction, before auto_explain is on (its plans are not logged). */
  before?: (c: postgres.ReservedSql) => Promise<unknown>;
  /** auto_explain's log_analyze (default off). */
  analyze?: boolean;
  /** auto_explain's log_buffers (with analyze; default off): blocks each node touched. */
  buffers?: boolean;
}

/**
 * The plans auto_explain logs while `run` runs, in one transaction on a connection of its own that
 * is rolled back (auto_explain LOADed for that session only; its messages reach the client at
 * client_min_messages = log): nested statements (a SQL function's body) first, the caller's
 * statement last, as PostgreSQL logs them. For the claim probe (bench (n)) and the tests of what the
 * cached-plan functions (taskwire_claim, taskwire_enqueue, taskwire_complete) plan.
 */
export async function autoExplain(url: string, run: (c: postgres.ReservedSql) => Promise<unknown>, options: AutoExplainOptions = {}): Promise<LoggedPlan[]> {
  const messages: string[] = [];
  const db = createDb(url, { max: 1, onNotice: (n) => messages.push(String(n.message)) });
  try {
    const c = await db.sql.reserve();
    try {
      await c`BEGIN`;
      await options.before?.(c);
      await c`LOAD 'auto_explain'`;
      const settings = [
        'log_min_duration = 0',
        'log_nested_statements = on',
        'log_format = json',
        ...(options.analyze || options.buffers ? ['log_analyze = on'] : []),
        ...(options.buffers ? ['log_buffers = on'] : []),
      ];
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
    .map((m) => ({ ms: /duration: ([\d.]+) ms/.exec(m)?.[1], plan: (JSON.parse(m.slice(m.indexOf('{'))) as { Plan: PlanNode }).Plan }));
}
