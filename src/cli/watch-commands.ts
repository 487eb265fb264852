import { ConnectionError, STATE_EVENT_TYPES, TaskwireClientError, WaitTimeoutError, type Task, type TaskEvent, type TaskwireClient } from '../client/index.js';
import { applyEvent, numberRuns, RUN_EVENT_TYPES } from '../client/task-state.js';
import { EXIT, parseCommand, secondsOption, takePositionals, UsageError } from './args.js';
import { COMMON, exitOf, followSignal, json, reportUnsuccessful, withClient, type Context } from './client-context.js';
import { createEventView, createOutputPrinter, taskBlock } from './output.js';

/**
 * The task over HTTP first: an unreachable server or an unknown id answers at once, without
 * WebSocket retries. An unknown id is a NOT_FOUND (exit 1), reported as every error is.
 */
async function getOrFail(client: TaskwireClient, id: string): Promise<Task> {
  const task = await client.get(id);
  // Worded as the server and the client's streams word it, with the field it names.
  if (!task) throw new TaskwireClientError('NOT_FOUND', `Task "${id}" was not found`, { field: 'id' });
  return task;
}

/**
 * Runs `each` over a stream of events until it ends; a --timeout that fires first is a
 * WaitTimeoutError (exit 1), Ctrl-C the caller's to handle.
 */
async function consume<E extends TaskEvent>(events: AsyncIterable<E>, each: (e: E) => void, o: { id: string; ctx: Context; signal: AbortSignal; timeoutMs: number | undefined }): Promise<void> {
  try {
    for await (const event of events) each(event);
  } catch (error) {
    if (o.signal.aborted && !o.ctx.signal.aborted) throw new WaitTimeoutError(o.id, o.timeoutMs ?? 0, undefined);
    throw error;
  }
}

/** `taskwire status ID [--watch]`: the task; with --watch its timeline, one line per event, until it ends. */
export async function status(args: string[], ctx: Context): Promise<number> {
  const { values, positionals } = parseCommand('status', args, { ...COMMON, watch: { type: 'boolean' }, timeout: { type: 'string' } });
  const [id = ''] = takePositionals('status', positionals, ['ID']);
  const timeoutMs = secondsOption('status', '--timeout', values.timeout);
  if (timeoutMs !== undefined && !values.watch) throw new UsageError('status', '--timeout goes with --watch');

  return withClient('status', values.url, ctx, async (client) => {
    const current = await getOrFail(client, id);
    if (!values.watch) {
      ctx.io.out(values.json ? json(current) : taskBlock(current));
      return exitOf(current);
    }
    // The whole timeline from ENQUEUED, then live: what led here is worth seeing too. Output is
    // left to `taskwire logs`.
    const view = values.json ? undefined : createEventView(ctx.io);
    const signal = followSignal(ctx, timeoutMs);
    // The task as the events after `current` tell it (the client's own fold): the ending, should the final read fail.
    let seen = current;
    try {
      await consume(
        client.events(id, { types: STATE_EVENT_TYPES, signal }),
        (event) => {
          if (event.version > seen.version) seen = applyEvent(seen, event);
          if (view) view.update(event);
          else ctx.io.out(json(event));
        },
        { id, ctx, signal, timeoutMs },
      );
    } finally {
      view?.done();
    }
    const final = await finalState(client, current, seen, ctx);
    if (!values.json) ctx.io.out(taskBlock(final));
    return exitOf(final);
  });
}

/**
 * The task as it ended: read once more (the return value, expiresAt). When the server went away
 * right after the last event (its process stopping: `npm start`'s Ctrl-C), or the task was deleted
 * at its end (a retention shorter than this read), the ending is known from the events all the
 * same (`seen`, `current` with them applied): said on stderr, and the exit code follows it rather
 * than the connection or the state read before the events (a FAILED task deleted at once exited 0
 * as the RUNNING it had been: a tester's find).
 */
export async function finalState(client: TaskwireClient, current: Task, seen: Task, ctx: Context): Promise<Task> {
  let read: Task | null;
  try {
    read = await client.get(current.id);
  } catch (error) {
    if (!(error instanceof ConnectionError) || seen.version <= current.version) throw error;
    ctx.io.err(`taskwire: the server went away after the task's last event (${error.code}); its state from the events (no return value):\n`);
    return seen;
  }
  if (read) return read;
  if (!seen.isFinished) throw new TaskwireClientError('NOT_FOUND', `Task "${current.id}" was deleted before its end was seen`, { field: 'id' });
  ctx.io.err(`taskwire: the task was deleted right after its end (its resultTtlMs); its state from the events (no return value):\n`);
  return seen;
}

/** The events after which a task may have ended (the rescuer's RESCUED when no attempt is left). */
const ENDS = ['SUCCEEDED', 'FAILED', 'CANCELLED', 'RESCUED'] as const;

/** `taskwire logs ID [--follow]`: the task's output; with --follow, live until it ends. */
export async function logs(args: string[], ctx: Context): Promise<number> {
  const { values, positionals } = parseCommand('logs', args, { ...COMMON, follow: { type: 'boolean', short: 'f' }, timeout: { type: 'string' } });
  const [id = ''] = takePositionals('logs', positionals, ['ID']);
  const timeoutMs = secondsOption('logs', '--timeout', values.timeout);
  if (timeoutMs !== undefined && !values.follow) throw new UsageError('logs', '--timeout goes with --follow');

  return withClient('logs', values.url, ctx, async (client) => {
    const current = await getOrFail(client, id);
    // A finished task's output is all in its log: pages over HTTP, no subscription needed.
    const follow = values.follow === true && !current.isFinished;
    const printer = values.json ? undefined : createOutputPrinter(ctx.io);
    const signal = followSignal(ctx, timeoutMs);
    // Following, the ending too (not printed): the task's end when its row is deleted at once.
    let seen = current;
    try {
      // Read from the first event: the runs are counted from the task's first STARTED.
      await consume(
        numberRuns(client.events(id, { types: follow ? [...RUN_EVENT_TYPES, ...ENDS] : RUN_EVENT_TYPES, follow, signal })),
        (event) => {
          if (event.type !== 'OUTPUT') {
            if (event.version > seen.version) seen = applyEvent(seen, event);
          } else if (printer) printer.chunk(event);
          else ctx.io.out(json(event));
        },
        { id, ctx, signal, timeoutMs },
      );
    } finally {
      printer?.done();
    }
    const final = follow ? await finalState(client, current, seen, ctx) : current;
    if (final.status === 'FAILED' || final.status === 'CANCELLED') reportUnsuccessful(ctx.io, final, values.json === true);
    return exitOf(final);
  });
}
