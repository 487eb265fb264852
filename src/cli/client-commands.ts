import {
  ConnectionError,
  RequestError,
  TaskCancelledError,
  TaskFailedError,
  TaskwireClientError,
  type Task,
} from '../client/index.js';
import { MAX_TIMER_MS } from '../client/options.js';
import type { ClientConfig } from '../client-config.js';
import { MAX_RESULT_TTL_MS } from '../queue/dates.js';
import { backoffOption, CLI_CODES, dateTimeOption, EXIT, intOption, jsonOption, parseCommand, secondsOption, takePositionals, usageText, UsageError } from './args.js';
import { COMMON, json, reportUnsuccessful, withClient, type Context } from './client-context.js';
import type { ClientCommand } from './commands.js';
import { createProgressView, errorJson, statsTable, tasksTable, visible, wantsJson, type ErrorReport, type Io } from './output.js';
import { enqueueFromJsonl, JsonlBatchError, JsonlInterrupted, MAX_JSONL_BATCH } from './enqueue-jsonl.js';
import { logs, status } from './watch-commands.js';
import { feed } from './feed-command.js';
import { TASK_FILTER_OPTIONS, taskFilterOf } from './task-filter.js';
import { workflow } from './workflow-command.js';
import { parseBulkFilter, runBulk } from './bulk-command.js';
import { schedules } from './schedules-command.js';
import { queues } from './queues-command.js';

/** The server's answers that mean "what you asked for is wrong": usage errors, exit 2. */
const USAGE_CODES = new Set(['UNKNOWN_TASK', 'INVALID_ARGUMENTS', 'BAD_USER_INPUT', 'GRAPHQL_VALIDATION_FAILED', 'GRAPHQL_PARSE_FAILED']);

class Interrupted extends Error {}

/** Runs one client command; returns its exit code. Never throws. */
export async function runClientCommand(command: ClientCommand, args: string[], io: Io, config: ClientConfig): Promise<number> {
  const interrupt = new AbortController();
  const onSigint = (): void => interrupt.abort(new Interrupted('interrupted'));
  process.once('SIGINT', onSigint);
  try {
    return await COMMANDS[command](args, { io, config, signal: interrupt.signal });
  } catch (error) {
    // Ctrl-C closes the client: whatever was in flight fails, and that is not worth a message
    // (but for enqueue --from-jsonl, which stops between batches and says where to go on).
    if (interrupt.signal.aborted && !(error instanceof JsonlInterrupted)) return EXIT.interrupted;
    const failure = failureOf(command, error);
    io.err(wantsJson(args) ? errorJson(failure) : failure.text);
    return failure.exit;
  } finally {
    process.off('SIGINT', onSigint);
  }
}

/** A failed command as reported: with --json its code, message and field; else its text, one line (two for hints). */
interface Failure extends ErrorReport {
  exit: number;
  text: string;
}

/** What `error` is to the user, and the exit code that goes with it. */
function failureOf(command: string, error: unknown): Failure {
  if (error instanceof JsonlBatchError) {
    // The batch's error as for one enqueue, said of the line it names (`inputs[3].args` → line, `.args`;
    // the batch's own numbering taken out of the message, which names the line instead).
    const inner = failureOf(command, error.cause);
    const where = error.line === undefined ? `--from-jsonl lines ${error.batch.first}–${error.batch.last}` : `--from-jsonl line ${error.line}`;
    const fieldOf = (line: number | undefined, field: string | undefined): string | undefined =>
      line === undefined ? undefined : `--from-jsonl:${line}${field?.replace(/^inputs\[\d+\]\.?/, '.') ?? ''}`;
    // The other invalid lines of the batch, when the server listed them: all mended in one go.
    const others = error.invalid.lines.slice(1);
    const more = error.invalid.count - 1;
    const unnumbered = (text: string): string => text.replace(/ \(inputs\[\d+\]\)/g, '').replace(/\binputs\[\d+\]\.?/g, '');
    const said = unnumbered(
      inner.message.replace(/ \(and \d+ more invalid inputs?: details\.invalidInputs\)/, more > 0 ? ` (and ${more} more invalid line${more === 1 ? '' : 's'}, below)` : ''),
    );
    const message = `${where}: ${said}; ${error.progress}`;
    const field = fieldOf(error.line, inner.field);
    const hints = inner.text.split('\n').slice(1).join('\n');
    const unlisted = error.invalid.count - error.invalid.lines.length;
    const list =
      others.map((o) => `  line ${o.line ?? '?'}: ${visible(unnumbered(o.message))}\n`).join('') +
      (unlisted > 0 ? `  and ${unlisted} more not listed\n` : '');
    const invalid = error.invalid.lines.length > 1
      ? { invalid: error.invalid.lines.map((o) => ({ line: o.line ?? null, field: fieldOf(o.line, o.field) ?? null, code: o.code, message: unnumbered(o.message) })), invalidCount: error.invalid.count }
      : {};
    return { ...inner, message, field, ...invalid, text: `taskwire: ${inner.code}: ${visible(message)}\n${list}${hints}` };
  }
  if (error instanceof JsonlInterrupted) {
    return { code: CLI_CODES.interrupted, message: error.message, exit: EXIT.interrupted, text: `taskwire: ${visible(error.message)}\n` };
  }
  if (error instanceof UsageError) {
    return { code: CLI_CODES.usage, message: error.message, field: error.field, exit: EXIT.usage, text: usageText(error) };
  }
  if (error instanceof ConnectionError) {
    const hint = error.code === 'CONNECTION_FAILED' ? 'Is the server running (npm start, taskwire serve)? ' : '';
    const text = `taskwire: ${error.code}: ${visible(error.message)}\n${hint}Point at it with --url or TASKWIRE_URL.\n`;
    return { code: error.code, message: error.message, exit: EXIT.unreachable, text };
  }
  if (error instanceof TaskwireClientError) {
    // A RequestError is the server's answer; the rest (WAIT_TIMEOUT, NOT_FOUND of a lookup …) the client's.
    // The server answered, but its database did not: as unreachable as a server that does not answer.
    const exit =
      error instanceof RequestError && USAGE_CODES.has(error.code) ? EXIT.usage : error.code === 'DATABASE_UNAVAILABLE' ? EXIT.unreachable : EXIT.failed;
    const hint = error.code === 'UNAUTHENTICATED' ? 'Set TASKWIRE_TOKEN to an API key (taskwire keys create) or another credential the server accepts.\n' : '';
    return { code: error.code, message: error.message, field: error.field, exit, text: `taskwire: ${error.code}: ${visible(error.message)}\n${hint}` };
  }
  // Not expected: one line, no stack trace.
  const message = error instanceof Error ? error.message : String(error);
  return { code: CLI_CODES.unexpected, message, exit: EXIT.failed, text: `taskwire ${command}: unexpected error: ${visible(message)}\n` };
}

async function enqueue(args: string[], ctx: Context): Promise<number> {
  const { values, positionals } = parseCommand('enqueue', args, {
    ...COMMON,
    args: { type: 'string' },
    kwargs: { type: 'string' },
    queue: { type: 'string' },
    priority: { type: 'string' },
    'max-attempts': { type: 'string' },
    'run-after': { type: 'string' },
    'idempotency-key': { type: 'string' },
    'concurrency-key': { type: 'string' },
    'timeout-ms': { type: 'string' },
    'result-ttl-ms': { type: 'string' },
    backoff: { type: 'string' },
    wait: { type: 'boolean' },
    timeout: { type: 'string' },
    'from-jsonl': { type: 'string' },
    batch: { type: 'string' },
    'start-line': { type: 'string' },
  });
  const source = values['from-jsonl'];
  if (source !== undefined) {
    // Every task's options are on its line: a flag beside them would be ambiguous.
    const taskFlag = Object.keys(values).find((flag) => !['url', 'json', 'from-jsonl', 'batch', 'start-line'].includes(flag));
    if (taskFlag !== undefined) throw new UsageError('enqueue', `--${taskFlag} does not go with --from-jsonl: put each task's options on its line`, `--${taskFlag}`);
    takePositionals('enqueue', positionals, []);
    const batchSize = intOption('enqueue', '--batch', values.batch, 1, MAX_JSONL_BATCH) ?? MAX_JSONL_BATCH;
    const startLine = intOption('enqueue', '--start-line', values['start-line'], 1, Number.MAX_SAFE_INTEGER) ?? 1;
    // Ctrl-C lets the batch in flight land (its ids printed), then stops: the client stays open for it.
    return withClient(
      'enqueue',
      values.url,
      ctx,
      async (client) => {
        await enqueueFromJsonl(client, source, { io: ctx.io, asJson: values.json === true, batchSize, startLine, signal: ctx.signal });
        return EXIT.ok;
      },
      { closeOnInterrupt: false },
    );
  }
  for (const flag of ['batch', 'start-line'] as const) {
    if (values[flag] !== undefined) throw new UsageError('enqueue', `--${flag} goes with --from-jsonl`, `--${flag}`);
  }
  const [name = ''] = takePositionals('enqueue', positionals, ['NAME']);
  const taskArgs = (jsonOption('enqueue', '--args', values.args, 'array') as unknown[] | undefined) ?? [];
  const kwargs = jsonOption('enqueue', '--kwargs', values.kwargs, 'object') as Record<string, unknown> | undefined;
  const priority = intOption('enqueue', '--priority', values.priority, -100, 100);
  const maxAttempts = intOption('enqueue', '--max-attempts', values['max-attempts'], 1, 1000);
  const runAfter = dateTimeOption('enqueue', '--run-after', values['run-after']);
  const taskTimeoutMs = intOption('enqueue', '--timeout-ms', values['timeout-ms'], 1, MAX_TIMER_MS);
  const resultTtlMs = intOption('enqueue', '--result-ttl-ms', values['result-ttl-ms'], 0, MAX_RESULT_TTL_MS);
  const backoff = backoffOption('enqueue', '--backoff', values.backoff);
  const timeoutMs = secondsOption('enqueue', '--timeout', values.timeout);
  if (timeoutMs !== undefined && !values.wait) throw new UsageError('enqueue', '--timeout goes with --wait');

  return withClient('enqueue', values.url, ctx, async (client) => {
    const task = await client.enqueue(name, taskArgs, {
      ...(kwargs === undefined ? {} : { kwargs }),
      ...(values.queue === undefined ? {} : { queue: values.queue }),
      ...(priority === undefined ? {} : { priority }),
      ...(maxAttempts === undefined ? {} : { maxAttempts }),
      ...(runAfter === undefined ? {} : { runAfter }),
      ...(values['idempotency-key'] === undefined ? {} : { idempotencyKey: values['idempotency-key'] }),
      ...(values['concurrency-key'] === undefined ? {} : { concurrencyKey: values['concurrency-key'] }),
      ...(taskTimeoutMs === undefined ? {} : { timeoutMs: taskTimeoutMs }),
      ...(resultTtlMs === undefined ? {} : { resultTtlMs }),
      ...(backoff === undefined ? {} : { backoff }),
    });
    if (!values.wait) {
      ctx.io.out(values.json ? json(task) : `${task.id}\n`);
      return EXIT.ok;
    }
    const view = values.json ? undefined : createProgressView(ctx.io);
    let last = task;
    try {
      // From the version enqueue returned, not from the state when the watch opens: a task whose
      // whole life is shorter than opening the WebSocket (demo.fail: ~150 ms) still shows every
      // transition after ENQUEUED, its first RUNNING included.
      const value = await client.wait(task.id, {
        afterVersion: task.version,
        signal: ctx.signal,
        ...(timeoutMs === undefined ? {} : { timeoutMs }),
        onUpdate: (t) => {
          last = t;
          view?.update(t);
        },
      });
      view?.done();
      ctx.io.out(values.json ? json(last) : json(value));
      return EXIT.ok;
    } catch (error) {
      view?.done();
      if (ctx.signal.aborted) {
        // Ctrl-C ends the wait, not the task: say which one goes on, for a script to inspect or cancel.
        const message = `interrupted; task ${task.id} goes on (taskwire status ${task.id}; taskwire cancel ${task.id})`;
        ctx.io.err(values.json ? errorJson({ code: CLI_CODES.interrupted, message }) : `taskwire: ${message}\n`);
        throw error;
      }
      if (!(error instanceof TaskFailedError || error instanceof TaskCancelledError)) throw error;
      if (values.json) ctx.io.out(json(error.task));
      reportUnsuccessful(ctx.io, error.task, values.json === true);
      return EXIT.failed;
    }
  });
}

async function tasks(args: string[], ctx: Context): Promise<number> {
  const { values, positionals } = parseCommand('tasks', args, { ...COMMON, ...TASK_FILTER_OPTIONS, limit: { type: 'string' }, after: { type: 'string' } });
  takePositionals('tasks', positionals, []);
  const filter = taskFilterOf('tasks', values);
  const limit = intOption('tasks', '--limit', values.limit, 1, 1_000_000) ?? 20;

  return withClient('tasks', values.url, ctx, async (client) => {
    const found: Task[] = [];
    let total: number | undefined;
    // Where the next page begins, when the limit stopped the listing before the last task.
    let next: string | null = null;
    const after = values.after ?? null;
    for await (const page of client.list(filter, { pageSize: Math.min(limit, 100), limit, ...(after === null ? {} : { after }), count: !values.json, signal: ctx.signal })) {
      found.push(...page.tasks);
      total ??= page.totalCount;
      next = page.hasNextPage ? page.endCursor : null;
    }
    // The rows alone on stdout (`| awk 'NR>1 {print $1}'` reads ids, `| jq` the array); what is said
    // about them on stderr: how many there are, and the cursor that lists the next ones.
    const more = next === null ? '' : `; the next ones: --after ${next}`;
    if (values.json) {
      ctx.io.out(json(found));
      if (next !== null) ctx.io.err(`more tasks: --after ${next}\n`);
      return EXIT.ok;
    }
    if (found.length === 0) {
      ctx.io.err(after === null ? 'no tasks\n' : 'no more tasks\n');
      return EXIT.ok;
    }
    ctx.io.out(tasksTable(found));
    if (total !== undefined && (next !== null || after !== null)) ctx.io.err(`${found.length} ${after === null ? '' : 'more '}of ${total} tasks${more}\n`);
    return EXIT.ok;
  });
}

async function cancel(args: string[], ctx: Context): Promise<number> {
  const { values, positionals } = parseCommand('cancel', args, { ...COMMON, filter: { type: 'string' }, all: { type: 'boolean' }, timeout: { type: 'string' } });
  if (values.filter !== undefined) {
    takePositionals('cancel', positionals, []);
    const filter = parseBulkFilter('cancel', values.filter, values.all === true);
    return withClient('cancel', values.url, ctx, (client) => runBulk('CANCEL', client, filter, ctx, { json: values.json === true, timeout: values.timeout }));
  }
  const [id = ''] = takePositionals('cancel', positionals, ['ID']);
  return withClient('cancel', values.url, ctx, async (client) => {
    // The line shows the state alone, so it asks for no payload: a key with tasks:cancel but not
    // tasks:read can use it on others' tasks (docs/auth.md). --json prints the whole task.
    const task = await client.cancel(id, { payload: values.json === true });
    const note = task.status === 'CANCELLED' ? '' : ' (cancel requested: its handler is being aborted)';
    ctx.io.out(values.json ? json(task) : `${task.id} ${task.status}${note}\n`);
    return EXIT.ok;
  });
}

async function retry(args: string[], ctx: Context): Promise<number> {
  const { values, positionals } = parseCommand('retry', args, { ...COMMON, filter: { type: 'string' }, all: { type: 'boolean' }, timeout: { type: 'string' } });
  if (values.filter !== undefined) {
    takePositionals('retry', positionals, []);
    const filter = parseBulkFilter('retry', values.filter, values.all === true);
    return withClient('retry', values.url, ctx, (client) => runBulk('RETRY', client, filter, ctx, { json: values.json === true, timeout: values.timeout }));
  }
  const [id = ''] = takePositionals('retry', positionals, ['ID']);
  return withClient('retry', values.url, ctx, async (client) => {
    const task = await client.retry(id, { payload: values.json === true });
    ctx.io.out(values.json ? json(task) : `${task.id} ${task.status} (attempts ${task.attempts}/${task.maxAttempts})\n`);
    return EXIT.ok;
  });
}

async function runNow(args: string[], ctx: Context): Promise<number> {
  const { values, positionals } = parseCommand('run-now', args, COMMON);
  const [id = ''] = takePositionals('run-now', positionals, ['ID']);
  return withClient('run-now', values.url, ctx, async (client) => {
    const task = await client.runNow(id, { payload: values.json === true });
    ctx.io.out(values.json ? json(task) : `${task.id} ${task.status} (due ${task.runAfter})\n`);
    return EXIT.ok;
  });
}

async function stats(args: string[], ctx: Context): Promise<number> {
  const { values, positionals } = parseCommand('stats', args, COMMON);
  takePositionals('stats', positionals, []);
  return withClient('stats', values.url, ctx, async (client) => {
    const queues = await client.queueStats();
    if (values.json) ctx.io.out(json(queues));
    else ctx.io.out(queues.length === 0 ? 'no tasks\n' : statsTable(queues));
    return EXIT.ok;
  });
}

const COMMANDS: Record<ClientCommand, (args: string[], ctx: Context) => Promise<number>> = { enqueue, status, logs, feed, tasks, cancel, retry, 'run-now': runNow, stats, workflow, schedules, queues };
