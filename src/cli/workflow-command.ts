import { TaskwireClientError, type Workflow } from '../client/index.js';
import { EXIT, parseCommand, secondsOption, takePositionals, UsageError } from './args.js';
import { COMMON, followSignal, json, withClient, type Context } from './client-context.js';
import { formatDuration, shortTime, table, visible } from './output.js';

/** Exit code for a workflow as it stands: 1 once it FAILED or was CANCELLED. */
const exitOfWorkflow = (w: Workflow): number => (w.status === 'FAILED' || w.status === 'CANCELLED' ? EXIT.failed : EXIT.ok);

/** The `taskwire workflow` view: a header line, then one row per step in the order they were given. */
export function workflowBlock(w: Workflow): string {
  const finished = w.finishedAt ? ` · finished ${shortTime(w.finishedAt)}` : '';
  const head = `workflow ${w.id}${w.name ? ` (${visible(w.name)})` : ''}: ${w.status} · version ${w.version} · ${w.stepCounts.total} steps, ${w.stepCounts.finished} ended, ${w.stepCounts.succeeded} succeeded${finished}\n`;
  const rows = w.steps.map((s) => [s.ref, s.task.status, s.task.name, dependsOnCell(s.dependsOn), s.task.id, formatDuration(s.task.durationMs)]);
  return head + table(['STEP', 'STATUS', 'TASK', 'DEPENDS ON', 'TASK ID', 'DURATION'], rows);
}

/** Parents shown in the table; the rest counted. --json has them all. */
const DEPENDS_SHOWN = 3;

/**
 * A step's parents for the table: the first few and a count of the rest. The column is as wide as
 * its widest cell, so the join of a 200-wide chord's callback made every row ~960 characters.
 */
export function dependsOnCell(refs: readonly string[]): string {
  if (refs.length === 0) return '-';
  if (refs.length <= DEPENDS_SHOWN) return refs.join(',');
  return `${refs.slice(0, DEPENDS_SHOWN).join(',')},… (+${refs.length - DEPENDS_SHOWN})`;
}

/** What changed from `before` to `after`, one line each: the workflow's status and every step whose state moved. */
export function workflowChanges(before: Workflow | undefined, after: Workflow): string[] {
  const lines: string[] = [];
  const was = new Map(before?.steps.map((s) => [s.ref, s.task.status]));
  for (const s of after.steps) {
    const old = was.get(s.ref);
    if (old !== s.task.status) lines.push(`v${after.version}  ${visible(s.ref)}  ${old ? `${old} → ` : ''}${s.task.status}`);
  }
  if (before?.status !== after.status) lines.push(`v${after.version}  workflow ${before ? `${before.status} → ` : ''}${after.status}`);
  return lines;
}

/**
 * `taskwire workflow ID [--watch]`: the workflow and its steps; with --watch, each change (a step's
 * state, the workflow's status) as a line on stderr until it is finished, then the final view.
 */
export async function workflow(args: string[], ctx: Context): Promise<number> {
  const { values, positionals } = parseCommand('workflow', args, { ...COMMON, watch: { type: 'boolean' }, timeout: { type: 'string' } });
  const [id = ''] = takePositionals('workflow', positionals, ['ID']);
  const timeoutMs = secondsOption('workflow', '--timeout', values.timeout);
  if (timeoutMs !== undefined && !values.watch) throw new UsageError('workflow', '--timeout goes with --watch');

  return withClient('workflow', values.url, ctx, async (client) => {
    // Over HTTP first: an unknown id or an unreachable server answers at once, without WebSocket retries.
    const current = await client.workflow(id);
    if (!current) throw new TaskwireClientError('NOT_FOUND', `no workflow ${id}`);
    if (!values.watch || current.status !== 'RUNNING') {
      ctx.io.out(values.json ? json(current) : workflowBlock(current));
      return exitOfWorkflow(current);
    }
    const signal = followSignal(ctx, timeoutMs);
    let last: Workflow | undefined;
    try {
      for await (const state of client.watchWorkflow(id, { signal })) {
        if (values.json) ctx.io.out(json(state));
        else for (const line of workflowChanges(last, state)) ctx.io.err(`${line}\n`);
        last = state;
      }
    } catch (error) {
      if (signal.aborted && !ctx.signal.aborted) throw new TaskwireClientError('WAIT_TIMEOUT', `Workflow ${id} did not finish within ${timeoutMs ?? 0} ms${last ? ` (last seen ${last.status})` : ''}`);
      throw error;
    }
    const final = last ?? current;
    if (!values.json) ctx.io.out(workflowBlock(final));
    return exitOfWorkflow(final);
  });
}
