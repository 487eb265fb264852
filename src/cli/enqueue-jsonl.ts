import { createReadStream } from 'node:fs';
import { createInterface } from 'node:readline';
import type { EnqueuedTask, EnqueueManyItem, TaskwireClient } from '../client/index.js';
import { UsageError } from './args.js';
import { json } from './client-context.js';
import type { Io } from './output.js';

/** What one line may hold: EnqueueTaskInput's fields (schema/schema.graphql). */
const FIELDS = new Set(['name', 'args', 'kwargs', 'queue', 'priority', 'runAfter', 'maxAttempts', 'idempotencyKey', 'concurrencyKey', 'timeoutMs', 'resultTtlMs', 'backoff']);

/** The most tasks one request carries (the server's enqueueTasks bound, MAX_ENQUEUE_BATCH). */
export const MAX_JSONL_BATCH = 1000;

/**
 * The most bytes of lines one request carries: the server refuses a body over 1 MiB
 * (PAYLOAD_TOO_LARGE), and 1,000 lines of 2 KB arguments are twice that. What is left is for the
 * query and the JSON around the inputs.
 */
export const MAX_JSONL_BATCH_BYTES = 900 * 1024;

/**
 * A batch of `enqueue --from-jsonl` failed: the error of the line at fault, and what earlier
 * batches stored (each batch is all or nothing; the ones before it stay).
 */
export class JsonlBatchError extends Error {
  constructor(
    /** The server's or the client's error, as for a single enqueue. */
    override readonly cause: unknown,
    /** The input line at fault, when the error names one (1-based). */
    readonly line: number | undefined,
    /** The first line of the batch that failed: nothing from it on was stored. */
    readonly firstUnstoredLine: number,
    /** Tasks stored by the batches before it. */
    readonly stored: number,
  ) {
    super(cause instanceof Error ? cause.message : String(cause));
    this.name = 'JsonlBatchError';
  }

  /** What was stored before: said after the error's own message. */
  get progress(): string {
    return progressText(this.stored, this.firstUnstoredLine);
  }
}

function progressText(stored: number, firstUnstoredLine: number): string {
  return stored === 0 ? 'nothing was stored' : `the ${stored} tasks of the lines before line ${firstUnstoredLine} were stored, nothing from it on`;
}

interface Pending {
  items: EnqueueManyItem[];
  lines: number[];
  bytes: number;
}

/**
 * `taskwire enqueue --from-jsonl FILE|-`: one task per line (a JSON object of EnqueueTaskInput's
 * fields; blank lines skipped), sent `batchSize` at a time (fewer when their lines pass
 * MAX_JSONL_BATCH_BYTES) through `enqueueMany`, each batch all or nothing. Prints each stored task's id (with `asJson`, the task) in line order as its batch is
 * stored, so that a run stopped half way says what it stored.
 * @throws UsageError for a line that is not such an object (after the batches before it were sent);
 *   JsonlBatchError for a batch the server (or the connection) refused
 */
export async function enqueueFromJsonl(client: TaskwireClient, source: string, options: { io: Io; asJson: boolean; batchSize: number }): Promise<number> {
  const { io, asJson, batchSize } = options;
  const input = source === '-' ? process.stdin : createReadStream(source);
  // An unreadable file: a usage error, before anything is sent.
  const opened = new Promise<void>((resolve, reject) => {
    if (source === '-') return resolve();
    input.once('open', () => resolve());
    input.once('error', (error: NodeJS.ErrnoException) => reject(new UsageError('enqueue', `--from-jsonl ${source}: cannot read the file (${error.code ?? error.message})`, '--from-jsonl')));
  });
  await opened;
  let stored = 0;
  let pending: Pending = { items: [], lines: [], bytes: 0 };
  const send = async (): Promise<void> => {
    const { items, lines } = pending;
    pending = { items: [], lines: [], bytes: 0 };
    if (items.length === 0) return;
    let tasks: EnqueuedTask[];
    try {
      tasks = await client.enqueueMany(items);
    } catch (error) {
      throw new JsonlBatchError(error, lineOf(error, lines), lines[0] as number, stored);
    }
    io.out(tasks.map((task) => (asJson ? json(task) : `${task.id}\n`)).join(''));
    stored += tasks.length;
  };

  let lineNo = 0;
  for await (const line of createInterface({ input, crlfDelay: Number.POSITIVE_INFINITY })) {
    lineNo++;
    if (line.trim() === '') continue;
    const item = parseLine(line, lineNo, progressText(stored, pending.lines[0] ?? lineNo));
    const bytes = Buffer.byteLength(line) + 1;
    if (pending.bytes + bytes > MAX_JSONL_BATCH_BYTES) await send();
    pending.items.push(item);
    pending.lines.push(lineNo);
    pending.bytes += bytes;
    if (pending.items.length >= batchSize) await send();
  }
  await send();
  if (stored === 0) throw new UsageError('enqueue', `--from-jsonl ${source}: no task in it (one JSON object a line)`, '--from-jsonl');
  if (io.errIsTTY && !asJson) io.err(`taskwire: ${stored} tasks enqueued\n`);
  return stored;
}

/** One line as an item, or a UsageError naming the line and saying what was stored before it (`progress`). */
function parseLine(line: string, lineNo: number, progress: string): EnqueueManyItem {
  const refuse = (what: string): never => {
    throw new UsageError('enqueue', `--from-jsonl line ${lineNo}: ${what}; ${progress}`, `--from-jsonl:${lineNo}`);
  };
  let value: unknown;
  try {
    value = JSON.parse(line);
  } catch (error) {
    return refuse(`not JSON (${(error as Error).message})`);
  }
  if (typeof value !== 'object' || value === null || Array.isArray(value)) return refuse('must be a JSON object, e.g. {"name": "demo.echo", "args": [1]}');
  const unknown = Object.keys(value).find((key) => !FIELDS.has(key));
  if (unknown !== undefined) return refuse(`unknown field "${unknown}" (one of ${[...FIELDS].join(', ')})`);
  if (typeof (value as { name?: unknown }).name !== 'string') return refuse('"name" must be a task name (a string)');
  return value as EnqueueManyItem;
}

/** The line an error names: its field's `inputs[i]` is the batch's i-th item. */
function lineOf(error: unknown, lines: readonly number[]): number | undefined {
  const field = (error as { field?: unknown }).field;
  const i = typeof field === 'string' ? /^inputs\[(\d+)\]/.exec(field)?.[1] : undefined;
  return i === undefined ? undefined : lines[Number(i)];
}
