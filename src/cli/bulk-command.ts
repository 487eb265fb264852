import { TaskwireClientError, type BulkAction, type TaskFilter, type TaskwireClient } from '../client/index.js';
import { CLI_CODES, dateTimeOption, EXIT, jsonOption, secondsOption, UsageError } from './args.js';
import { errorJson, visible } from './output.js';
import { followSignal, json, type Context } from './client-context.js';

/** The TaskFilter fields `--filter` takes (the GraphQL input's); anything else is a usage error, not a silent no-op. */
const FILTER_FIELDS = ['status', 'name', 'queue', 'workflowId', 'enqueuedAfter', 'enqueuedBefore'] as const;
/** Those of them that are DateTimes: checked as `--run-after` is (null: no bound, as the server takes it). */
const DATE_FIELDS = ['enqueuedAfter', 'enqueuedBefore'] as const;

/**
 * `--filter '{"status":"FAILED","name":"x"}'` as a TaskFilter (a lone status is taken as a list of
 * one); a field it does not know, or a date the server's DateTime would refuse, is a usage error.
 */
export function parseBulkFilter(command: string, text: string, all = false): TaskFilter {
  const raw = jsonOption(command, '--filter', text, 'object') as Record<string, unknown>;
  // A filter that names nothing matches every task the credential can see: said on purpose only.
  if (!all && Object.values(raw).every((v) => v === null || (Array.isArray(v) && v.length === 0))) {
    throw new UsageError(command, `--filter ${text.trim()} matches every task; add --all to ${command} them all`, '--filter');
  }
  const unknown = Object.keys(raw).filter((k) => !(FILTER_FIELDS as readonly string[]).includes(k));
  if (unknown.length > 0) throw new UsageError(command, `--filter does not know ${unknown.join(', ')} (it takes ${FILTER_FIELDS.join(', ')})`, '--filter');
  for (const key of DATE_FIELDS) if (raw[key] !== null) dateTimeOption(command, `--filter.${key}`, raw[key]);
  const filter = { ...raw } as Record<string, unknown>;
  if (typeof filter.status === 'string') filter.status = [filter.status];
  // Any case, as `tasks --status` takes it.
  if (Array.isArray(filter.status)) filter.status = filter.status.map((s: unknown) => (typeof s === 'string' ? s.toUpperCase() : s));
  return filter as TaskFilter;
}

/**
 * `STATUS [####----] processed/matched processed, N cancelled or asked to stop[, M left alone (…)]`: a
 * running task's cancel is a request (it may still end SUCCEEDED); a target no longer in a state the
 * change applies to is processed, not changed.
 */
export function bulkProgressLine(a: BulkAction, width = 30): string {
  const share = a.matched > 0 ? a.processed / a.matched : 1;
  const filled = Math.round(Math.min(1, share) * width);
  return `${a.status} [${'#'.repeat(filled)}${'-'.repeat(width - filled)}] ${a.processed}/${a.matched} processed, ${a.changed} ${a.kind === 'CANCEL' ? 'cancelled or asked to stop' : 'retried'}${
    a.processed > a.changed ? `, ${a.processed - a.changed} left alone (${a.kind === 'CANCEL' ? 'finished already' : 'not failed or cancelled any more'})` : ''
  }`;
}

/**
 * `taskwire cancel|retry --filter JSON`: creates the bulk action (cancelTasks / retryTasks), then
 * follows it (bulkActionChanged) to its end, the progress on stderr (one line redrawn on a
 * terminal, a line per version otherwise; --json: one JSON line per version on stdout). Exit 0
 * when it is DONE, 1 when it FAILED.
 */
export async function runBulk(kind: 'CANCEL' | 'RETRY', client: TaskwireClient, filter: TaskFilter, ctx: Context, o: { json: boolean; timeout?: string }): Promise<number> {
  const command = kind === 'CANCEL' ? 'cancel' : 'retry';
  const timeoutMs = secondsOption(command, '--timeout', o.timeout);
  const created = kind === 'CANCEL' ? await client.cancelTasks(filter) : await client.retryTasks(filter);
  // On stderr even with --json: stdout holds only the JSON lines.
  ctx.io.err(`bulk action ${created.id}: ${created.matched} matching tasks\n`);
  const signal = followSignal(ctx, timeoutMs);
  let last: BulkAction = created;
  const show = (a: BulkAction): void => {
    if (o.json) ctx.io.out(json(a));
    else if (ctx.io.errIsTTY) ctx.io.err(`\r\x1b[2K${bulkProgressLine(a)}`);
    else ctx.io.err(`${bulkProgressLine(a)}\n`);
  };
  try {
    if (created.status !== 'RUNNING') show(created);
    else for await (const state of client.watchBulkAction(created.id, { signal })) {
      last = state;
      show(state);
    }
  } catch (error) {
    if (signal.aborted && !ctx.signal.aborted) {
      throw new TaskwireClientError('WAIT_TIMEOUT', `Bulk action ${created.id} did not finish within ${timeoutMs ?? 0} ms (${last.processed}/${last.matched} processed); it goes on`);
    }
    throw error;
  }
  if (!o.json && ctx.io.errIsTTY) ctx.io.err('\n');
  if (last.status === 'FAILED') {
    const message = `bulk action ${last.id} FAILED: ${last.error ?? 'no reason given'}`;
    ctx.io.err(o.json ? errorJson({ code: CLI_CODES.bulkActionFailed, message }) : `taskwire: ${visible(message)}\n`);
    return EXIT.failed;
  }
  return EXIT.ok;
}
