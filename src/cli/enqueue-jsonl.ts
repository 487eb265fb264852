import { createReadStream } from 'node:fs';
import type { Readable } from 'node:stream';
import { setTimeout as delay } from 'node:timers/promises';
import { RateLimitedError, RequestError, type EnqueuedTask, type EnqueueManyItem, type TaskwireClient } from '../client/index.js';
import { exponentialDelayMs } from '../exponential-delay.js';
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

/** How long a batch is tried again after RATE_LIMITED (nothing stored) or, all its lines keyed, a lost answer. */
const RETRY_FOR_MS = 60_000;

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
    /** The first and last lines of the batch that failed. */
    readonly batch: { first: number; last: number },
    /** Tasks stored by the batches before it. */
    readonly stored: number,
    /** Every invalid line of the batch the server listed (the first is `line`'s), and how many it found in all. */
    readonly invalid: { lines: InvalidLine[]; count: number } = { lines: [], count: 0 },
  ) {
    super(cause instanceof Error ? cause.message : String(cause));
    this.name = 'JsonlBatchError';
  }

  /**
   * What was stored: the batches before for sure; this one not, when the server answered it with a
   * refusal (which stores nothing) or could not be reached; otherwise (the answer lost: a connection
   * cut or timed out mid-request, an unexpected server error) it may have been.
   */
  get progress(): string {
    const before = progressText(this.stored, this.batch.first);
    if (!answerLost(this.cause)) return before;
    return `${before}; lines ${this.batch.first}–${this.batch.last} may have been stored too (the answer was lost): check before sending them again, or give every line an idempotencyKey and send them again as they are`;
  }
}

/** `enqueue --from-jsonl` stopped by Ctrl-C between batches: what it stored, and where to go on. */
export class JsonlInterrupted extends Error {
  constructor(
    readonly stored: number,
    /** The first line not sent. */
    readonly nextLine: number,
  ) {
    super(`interrupted: ${progressText(stored, nextLine)}; go on with --start-line ${nextLine}`);
    this.name = 'JsonlInterrupted';
  }
}

function progressText(stored: number, firstUnstoredLine: number): string {
  return stored === 0 ? 'nothing was stored' : `the ${stored} tasks of the lines before line ${firstUnstoredLine} were stored, nothing from it on`;
}

/** Whether a failed batch may have been stored all the same: its request went out and no refusal came back. */
function answerLost(error: unknown): boolean {
  if (error instanceof RequestError) return error.code === 'INTERNAL_SERVER_ERROR';
  const code = (error as { code?: unknown }).code;
  if (code !== 'CONNECTION_FAILED' && code !== 'BAD_RESPONSE') return false;
  return !neverSent(error);
}

/** A connection refused or a name not resolved: the request never left, so nothing of it was stored. */
function neverSent(error: unknown): boolean {
  if ((error as { code?: unknown }).code !== 'CONNECTION_FAILED') return false;
  for (let e: unknown = (error as { cause?: unknown }).cause, depth = 0; e && depth < 5; e = (e as { cause?: unknown }).cause, depth++) {
    const cause = (e as { code?: unknown }).code;
    if (cause === 'ECONNREFUSED' || cause === 'ENOTFOUND' || cause === 'EAI_AGAIN') return true;
    // fetch refuses a port on its blocklist (1, 25, 6000 …) before connecting.
    if ((e as { message?: unknown }).message === 'bad port') return true;
  }
  return false;
}

interface Pending {
  items: EnqueueManyItem[];
  lines: number[];
  bytes: number;
}

export interface JsonlOptions {
  io: Io;
  asJson: boolean;
  batchSize: number;
  /** The first line to send (lines before it are counted, not sent): to go on after a stop. */
  startLine: number;
  /** Ctrl-C: no batch after the one in flight, whose ids are still printed. */
  signal: AbortSignal;
}

/**
 * `taskwire enqueue --from-jsonl FILE|-`: one task per line (a JSON object of EnqueueTaskInput's
 * fields; blank lines skipped; lines end at `\n`, as wc, sed and tail count them, a UTF-8 BOM
 * ignored), sent `batchSize` at a time (fewer when their lines pass MAX_JSONL_BATCH_BYTES) through
 * `enqueueMany`, each batch all or nothing. Prints each stored task's id (with `asJson`, the
 * task) in line order as its batch is stored, so that a run stopped half way says what it stored.
 * A batch refused RATE_LIMITED (nothing stored) waits the time the server says and goes again; one
 * refused a connection (never sent) goes again once the server has answered this run (a restart of it
 * mid-file); one whose answer was lost, or that found the database away, goes again when every line
 * of it has an idempotency key (a repeat returns the same tasks); for up to a minute in all.
 * @throws UsageError for a line that is not such an object (after the batches before it were sent);
 *   JsonlBatchError for a batch the server (or the connection) refused; JsonlInterrupted on Ctrl-C
 */
export async function enqueueFromJsonl(client: TaskwireClient, source: string, options: JsonlOptions): Promise<number> {
  const { io, asJson, batchSize, startLine, signal } = options;
  const input = source === '-' ? process.stdin : createReadStream(source);
  // An unreadable file: a usage error, before anything is sent.
  await new Promise<void>((resolve, reject) => {
    if (source === '-') return resolve();
    input.once('open', () => resolve());
    input.once('error', (error: NodeJS.ErrnoException) => reject(new UsageError('enqueue', `--from-jsonl ${source}: cannot read the file (${error.code ?? error.message})`, '--from-jsonl')));
  });
  // Ctrl-C while waiting for stdin: the lines stop, the batch in hand is not sent.
  const stopReading = (): void => void input.destroy();
  signal.addEventListener('abort', stopReading, { once: true });
  let stored = 0;
  let pending: Pending = { items: [], lines: [], bytes: 0 };
  const send = async (): Promise<void> => {
    const { items, lines } = pending;
    pending = { items: [], lines: [], bytes: 0 };
    if (items.length === 0) return;
    const tasks = await sendBatch(client, items, lines, stored, stored > 0, signal);
    io.out(tasks.map((task) => (asJson ? json(task) : `${task.id}\n`)).join(''));
    stored += tasks.length;
  };

  let lineNo = 0;
  /** The first line not stored when Ctrl-C stopped the reading. */
  let stoppedAt: number | undefined;
  try {
    for await (const line of linesOf(input)) {
      lineNo++;
      if (signal.aborted) {
        stoppedAt = pending.lines[0] ?? lineNo;
        break;
      }
      if (lineNo < startLine || line.trim() === '') continue;
      const item = parseLine(line, lineNo, progressText(stored, pending.lines[0] ?? lineNo));
      const bytes = Buffer.byteLength(line) + 1;
      if (pending.bytes + bytes > MAX_JSONL_BATCH_BYTES) await send();
      pending.items.push(item);
      pending.lines.push(lineNo);
      pending.bytes += bytes;
      if (pending.items.length >= batchSize) await send();
    }
  } catch (error) {
    // The stream destroyed by Ctrl-C ends the lines with an error: the interruption is what to say,
    // unless a batch's wait said it already.
    if (!signal.aborted || error instanceof JsonlBatchError || error instanceof JsonlInterrupted) throw error;
  } finally {
    signal.removeEventListener('abort', stopReading);
  }
  if (signal.aborted) throw new JsonlInterrupted(stored, stoppedAt ?? pending.lines[0] ?? lineNo + 1);
  await send();
  if (stored === 0) throw new UsageError('enqueue', `--from-jsonl ${source}: no task in it (one JSON object a line)`, '--from-jsonl');
  if (io.errIsTTY && !asJson) io.err(`taskwire: ${stored} tasks enqueued\n`);
  return stored;
}

/** One batch through enqueueMany, tried again while that is safe (see enqueueFromJsonl); a JsonlBatchError otherwise. */
async function sendBatch(
  client: TaskwireClient,
  items: EnqueueManyItem[],
  lines: number[],
  stored: number,
  answered: boolean,
  signal: AbortSignal,
): Promise<EnqueuedTask[]> {
  const until = Date.now() + RETRY_FOR_MS;
  const keyed = items.every((item) => typeof item.idempotencyKey === 'string');
  for (let attempt = 1; ; attempt++) {
    try {
      return await client.enqueueMany(items);
    } catch (error) {
      // Safe to send again: a refusal that stored nothing and says when; a request that never left, once
      // the server has answered this run (a restart of it mid-file; a wrong URL still fails at once); and
      // for a batch whose every line has a key, an answer lost or a database away (a repeat returns the same tasks).
      const safe = neverSent(error) ? answered : keyed && (answerLost(error) || (error instanceof RequestError && error.code === 'DATABASE_UNAVAILABLE'));
      const again = error instanceof RateLimitedError ? error.retryAfterMs ?? 1000 : safe ? exponentialDelayMs(attempt, { baseMs: 250, maxMs: 5000 }) : undefined;
      const failed = (): JsonlBatchError =>
        new JsonlBatchError(error, lineOf(error, lines), { first: lines[0] as number, last: lines.at(-1) as number }, stored, invalidLines(error, lines));
      if (again === undefined || Date.now() + again > until) throw failed();
      // Ctrl-C while waiting: stop there, saying what is known of this batch.
      const interrupted = await delay(again, false, { signal }).catch(() => true);
      if (interrupted) throw answerLost(error) ? failed() : new JsonlInterrupted(stored, lines[0] as number);
    }
  }
}

/** The lines of `input` as wc, sed and tail count them: ended by `\n` (a `\r` before it dropped), a leading UTF-8 BOM left out. */
async function* linesOf(input: Readable): AsyncGenerator<string> {
  input.setEncoding('utf8');
  let rest = '';
  let first = true;
  for await (const chunk of input as AsyncIterable<string>) {
    let text = rest + chunk;
    if (first && text.length > 0) {
      if (text.charCodeAt(0) === 0xfeff) text = text.slice(1);
      first = false;
    }
    const parts = text.split('\n');
    rest = parts.pop() as string;
    for (const part of parts) yield part.endsWith('\r') ? part.slice(0, -1) : part;
  }
  if (rest !== '') yield rest.endsWith('\r') ? rest.slice(0, -1) : rest;
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
  return lineOfField((error as { field?: unknown }).field, lines);
}

function lineOfField(field: unknown, lines: readonly number[]): number | undefined {
  const i = typeof field === 'string' ? /^inputs\[(\d+)\]/.exec(field)?.[1] : undefined;
  return i === undefined ? undefined : lines[Number(i)];
}

/** An invalid line of a refused batch, as the server listed it: its field and message still name `inputs[i]`. */
export interface InvalidLine {
  line: number | undefined;
  field: string | undefined;
  code: string;
  message: string;
}

/** The invalid items a refusal lists (`details.invalidInputs`, `details.invalidCount`), by line. */
function invalidLines(error: unknown, lines: readonly number[]): { lines: InvalidLine[]; count: number } {
  const details = error instanceof RequestError ? error.details : undefined;
  const listed = details?.invalidInputs;
  if (!Array.isArray(listed)) return { lines: [], count: 0 };
  const invalid = listed.flatMap((item: unknown): InvalidLine[] => {
    if (typeof item !== 'object' || item === null) return [];
    const { field, code, message } = item as { field?: unknown; code?: unknown; message?: unknown };
    return [{ line: lineOfField(field, lines), field: typeof field === 'string' ? field : undefined, code: String(code), message: String(message) }];
  });
  const count = typeof details?.invalidCount === 'number' ? details.invalidCount : invalid.length;
  return { lines: invalid, count };
}
