import { exponentialDelayMs } from '../exponential-delay.js';
import { setTimeout as delay } from 'node:timers/promises';
import type { Sql } from '../db/client.js';
import { withDeadline } from '../db/deadline.js';
import type { Logger } from '../logger.js';
import { encodeJson } from '../queue/json.js';
import { createMicroBatcher } from '../queue/micro-batcher.js';
import { appendOutput, outputBytesAfter, TRUNCATED_MARKER, type OutputAppend } from '../queue/sql/append-output.js';
import type { Task } from '../queue/task.js';
import { givesUp, type WriteRetryPolicy } from './write-retry.js';

/**
 * Least time between two output statements of a worker while it streams, in ms (10). A handler
 * writing thousands of chunks a second then costs ~100 statements a second, each with its
 * commit, its NOTIFY and every server's read of it, rather than one per round trip (~500 a
 * second at 2,000 chunks/s, bench (j)); a chunk waits at most this long for its statement. A
 * worker that wrote nothing for that long stores a chunk at once.
 */
export const OUTPUT_FLUSH_INTERVAL_MS = 10;

/** Largest output chunk, in bytes of JSON (64 KiB). */
export const MAX_OUTPUT_CHUNK_BYTES = 65_536;

/** Thrown by `ctx.output(chunk)` when the chunk is over MAX_OUTPUT_CHUNK_BYTES of JSON: nothing of it is stored. */
export class OutputChunkTooLargeError extends Error {
  override name = 'OutputChunkTooLargeError';
  readonly code = 'OUTPUT_CHUNK_TOO_LARGE';

  constructor(
    /** The chunk's size, in bytes of JSON. */
    readonly bytes: number,
    readonly limitBytes: number,
  ) {
    super(`An output chunk is ${bytes} bytes of JSON, over the limit of ${limitBytes}; split it`);
  }
}

/**
 * Thrown by `ctx.output(chunk)` for a chunk equal to the truncation marker `{"truncated": true}`:
 * readers take that chunk to mean the task reached MAX_OUTPUT_BYTES and nothing follows, so a
 * handler writing it would fake the end of its own output. Nothing of it is stored.
 */
export class OutputChunkReservedError extends Error {
  override name = 'OutputChunkReservedError';
  readonly code = 'OUTPUT_CHUNK_RESERVED';

  constructor() {
    super(`An output chunk may not be ${TRUNCATED_MARKER}: that chunk marks an output cut at MAX_OUTPUT_BYTES; write another value (e.g. with a second key)`);
  }
}

/** `retryForMs`: past it (WriteRetryPolicy) an attempt's output stops. */
/**
 * A chunk of `ctx.output` as its JSON, checked as the writer checks it at the call.
 * @throws JsonEncodeError, OutputChunkTooLargeError, OutputChunkReservedError (see TaskContext.output)
 */
export function encodeOutputChunk(chunk: unknown): string {
  const json = encodeJson(chunk, 'output');
  const size = Buffer.byteLength(json);
  if (size > MAX_OUTPUT_CHUNK_BYTES) throw new OutputChunkTooLargeError(size, MAX_OUTPUT_CHUNK_BYTES);
  // encodeJson writes {truncated: true} (one key) as exactly this text, however it was built.
  if (json === TRUNCATED_MARKER) throw new OutputChunkReservedError();
  return json;
}

export interface OutputWriterOptions extends WriteRetryPolicy {
  sql: Sql;
  workerId: string;
  log: Logger;
  /** Most output of one task, over all its attempts, in bytes of JSON; then one truncation marker, and nothing more. */
  maxOutputBytes: number;
  /** Least time between two output statements, in ms (default OUTPUT_FLUSH_INTERVAL_MS). */
  flushIntervalMs?: number;
  /** Longest wait for one try's answer, in ms (none by default); then it is tried again (src/db/deadline.ts). */
  writeTimeoutMs?: number;
}

/** The output of one attempt: its `ctx.output`, and the end of it. */
export interface AttemptOutput {
  /**
   * Stores one chunk after the attempt's earlier ones; resolves once it is stored (or dropped:
   * the attempt is over, or the task's output reached its cap). A handler may await it or not.
   * @throws JsonEncodeError (synchronously) when the chunk is not JSON
   * @throws OutputChunkTooLargeError (synchronously) when it is over MAX_OUTPUT_CHUNK_BYTES
   * @throws OutputChunkReservedError (synchronously) when it is the truncation marker
   */
  write(chunk: unknown): Promise<void>;
  /** The attempt is over: later chunks are dropped. Resolves once every chunk written before is settled. Never rejects. */
  close(): Promise<void>;
  /** Whether later chunks are dropped: the cap reached, a write given up, the attempt over (`ctx.outputEnded`). */
  readonly ended: boolean;
}

export interface OutputWriter {
  forAttempt(task: Task): AttemptOutput;
}

interface AttemptState {
  id: string;
  attempt: number;
  /** No more chunks are taken: the attempt ended, its output reached the cap, or a write failed for good. */
  ended: boolean;
  /**
   * A write of it failed for good, or found the attempt no longer running here: the chunks it had
   * queued behind that write are dropped too, or they would be stored after a gap.
   */
  cutOff: boolean;
  /** The task's output bytes as stored so far (its count at the claim, then each append's): what the next append says it comes after. */
  storedBytes: number;
}

interface PendingChunk {
  state: AttemptState;
  /** The chunk's JSON, or null for the truncation marker. */
  json: string | null;
}

const settled = (): undefined => undefined;

/**
 * `ctx.output` of every attempt a worker runs, in few statements: chunks of all attempts share
 * one micro-batcher (one statement in flight, at most one every `flushIntervalMs`; what arrives
 * meanwhile rides the next), which also keeps each attempt's chunks in the order they were written. Each attempt counts the bytes
 * its task already has (`task.outputBytes`, from the claim) plus what it writes; the chunk that
 * would go over `maxOutputBytes` is replaced by the truncation marker, and later ones are
 * dropped. The runner closes an attempt's output, and waits for it, before it records the
 * outcome: the statement that records the outcome ends the RUNNING state the writes are guarded
 * by, and the log's OUTPUT events come before the attempt's last one.
 */
export function createOutputWriter(o: OutputWriterOptions): OutputWriter {
  // At most BATCH_BYTES of chunks a statement (src/queue/micro-batcher.ts): many attempts writing 64 KB chunks add up.
  const batcher = createMicroBatcher<PendingChunk>({
    flush: store,
    minIntervalMs: o.flushIntervalMs ?? OUTPUT_FLUSH_INTERVAL_MS,
    sizeOf: (chunk) => chunk.json?.length ?? 0,
  });

  async function store(chunks: readonly PendingChunk[]): Promise<void> {
    const appends = new Map<AttemptState, OutputAppend>();
    for (const { state, json } of chunks) {
      if (state.cutOff) continue;
      let append = appends.get(state);
      if (!append) appends.set(state, (append = { id: state.id, attempt: state.attempt, chunks: [], truncated: false, bytesBefore: state.storedBytes }));
      if (json === null) append.truncated = true;
      else append.chunks.push(json);
    }
    if (appends.size === 0) return;
    // One batch, the same bytesBefore on every try: a try that committed unbeknown to us is not appended again.
    let stored: Set<string>;
    try {
      stored = new Set(await withRetries([...appends.values()]));
    } catch (error) {
      // Chunks of these attempts may already wait for the next statement: it must not store them.
      for (const state of appends.keys()) cutOff(state);
      throw error;
    }
    // Not stored: that attempt is no longer RUNNING here (rescued, cancelled, finished); its
    // handler hears of it at the next heartbeat. Nothing more of it is sent meanwhile.
    for (const [state, append] of appends) {
      if (stored.has(state.id)) state.storedBytes = outputBytesAfter(append, state.storedBytes, o.maxOutputBytes);
      else cutOff(state);
    }
  }

  function cutOff(state: AttemptState): void {
    state.ended = true;
    state.cutOff = true;
  }

  async function withRetries(appends: OutputAppend[]): Promise<string[]> {
    const deadline = performance.now() + o.retryForMs;
    for (let attempt = 1; ; attempt++) {
      try {
        return await withDeadline(appendOutput(o.sql, o.workerId, appends, o.maxOutputBytes), o.writeTimeoutMs);
      } catch (error) {
        if (givesUp(error, deadline, o)) {
          // A later chunk stored after a lost one would leave a gap: these attempts' output ends here.
          for (const a of appends) o.log.error({ err: error, taskId: a.id }, 'could not store output; the rest of this attempt\'s output is dropped');
          throw error;
        }
        if (attempt === 1) o.log.warn({ err: error, tasks: appends.length }, 'storing output failed; retrying');
        await delay(exponentialDelayMs(attempt, { baseMs: 50, maxMs: 2000 }));
      }
    }
  }

  function forAttempt(task: Task): AttemptOutput {
    const state: AttemptState = { id: task.id, attempt: task.attempts, ended: false, cutOff: false, storedBytes: task.outputBytes };
    let bytes = task.outputBytes;
    // A task already at its cap (an earlier attempt truncated, or filled it exactly): nothing more.
    if (bytes >= o.maxOutputBytes) state.ended = true;
    let last: Promise<void> = Promise.resolve();

    const failed = (): void => {
      state.ended = true;
    };
    const send = (json: string | null): Promise<void> => {
      const written = batcher.add({ state, json });
      // Also marks `written` as handled: a handler that does not await ctx.output must not bring
      // the process down with an unhandled rejection. One that awaits it gets the error.
      last = written.then(settled, failed);
      return written;
    };

    return {
      write(chunk) {
        const json = encodeOutputChunk(chunk);
        const size = Buffer.byteLength(json);
        if (state.ended) return Promise.resolve();
        if (bytes + size > o.maxOutputBytes) {
          state.ended = true;
          return send(null);
        }
        bytes += size;
        return send(json);
      },
      get ended() {
        return state.ended;
      },
      close() {
        state.ended = true;
        // The attempt's last chunks go now, not after the rest of the flush interval: the
        // outcome is recorded only once they are stored.
        batcher.hurry();
        return last;
      },
    };
  }

  return { forAttempt };
}
