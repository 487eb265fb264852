import type { QueueStats, Task, TaskEvent } from '../client/index.js';
import { clipText } from '../queue/json.js';

/** Where a command writes: stdout for results, stderr for progress and errors. */
export interface Io {
  out(text: string): void;
  err(text: string): void;
  /** stderr is a terminal: draw a live progress bar instead of plain lines. */
  errIsTTY: boolean;
  /** stdout is a terminal (unset: not one): `taskwire logs` shows control characters escaped there. */
  outIsTTY?: boolean;
}

/** This process's stdout and stderr. */
export function processIo(): Io {
  return {
    out: (text) => process.stdout.write(text),
    err: (text) => process.stderr.write(text),
    errIsTTY: process.stderr.isTTY === true,
    outIsTTY: process.stdout.isTTY === true,
  };
}

/** C0 (with TAB, LF, CR), DEL and C1: what a terminal acts on instead of showing. */
const CONTROL = /[\u0000-\u001f\u007f-\u009f]/g;
const NAMED_CONTROL: Readonly<Record<string, string>> = { '\n': '\\n', '\r': '\\r', '\t': '\\t' };

/**
 * `text` with its control characters (C0, DEL, C1) shown escaped, `\n`, `\t`, `\u001b`, except those
 * in `keep`. Text a user or a handler wrote (a queue name, arguments, an error or progress message)
 * goes through this before a human's terminal: an ESC would start an escape sequence (reverse video
 * left on, the screen cleared, a title set), a newline or CR would split a table row or overwrite it.
 * `--json` output is not escaped this way (JSON.stringify escapes C0 already; C1 is data there).
 */
export function visible(text: string, keep = ''): string {
  return text.replace(CONTROL, (c) =>
    keep.includes(c) ? c : (NAMED_CONTROL[c] ?? `\\u${c.charCodeAt(0).toString(16).padStart(4, '0')}`),
  );
}

/** An error as `--json` reports it (docs/cli.md): a stable code, the message, the input at fault if one is named. */
export interface ErrorReport {
  code: string;
  message: string;
  field?: string | undefined;
  /** `enqueue --from-jsonl`: every invalid line of the refused batch the server listed, and how many it found. */
  invalid?: { line: number | null; field: string | null; code: string; message: string }[];
  invalidCount?: number;
}

/**
 * `{"error":{"code":…,"message":…,"field":…}}` on one line: how a command run with `--json` reports
 * its error on stderr (field null when none is named), so that a script reads it as it reads stdout.
 */
export function errorJson(error: ErrorReport): string {
  const invalid = error.invalid === undefined ? {} : { invalid: error.invalid, invalidCount: error.invalidCount };
  return `${JSON.stringify({ error: { code: error.code, message: error.message, field: error.field ?? null, ...invalid } })}\n`;
}

/**
 * Whether a command's arguments ask for `--json` (before a `--`, after which everything is an
 * argument). Read from the arguments themselves: an error in parsing them is to be reported in
 * that form too.
 */
export function wantsJson(args: readonly string[]): boolean {
  const end = args.indexOf('--');
  return (end === -1 ? args : args.slice(0, end)).includes('--json');
}

/** `1.2 s`, `3 min 4 s`, `2 h 5 min`, `30 d 0 h` (a retention). */
export function formatDuration(ms: number | null | undefined): string {
  if (ms === null || ms === undefined) return '-';
  if (ms < 1000) return `${Math.round(ms)} ms`;
  const s = ms / 1000;
  if (s < 60) return `${s.toFixed(1)} s`;
  const m = Math.floor(s / 60);
  if (m < 60) return `${m} min ${Math.round(s % 60)} s`;
  const h = Math.floor(m / 60);
  if (h < 48) return `${h} h ${m % 60} min`;
  return `${Math.floor(h / 24)} d ${h % 24} h`;
}

/** An ISO time without its milliseconds, `2026-12-04 22:37:56Z`: how every command prints a time. */
export function shortTime(iso: string | null): string {
  return iso ? iso.replace('T', ' ').replace(/\.\d+Z$/, 'Z') : '-';
}

/** Columns padded to their widest cell; the last one is not padded. Cells' control characters are shown escaped. */
export function table(header: string[], rows: string[][]): string {
  rows = rows.map((r) => r.map((cell) => visible(cell)));
  const widths = header.map((h, i) => Math.max(h.length, ...rows.map((r) => (r[i] ?? '').length)));
  const line = (cells: string[]): string =>
    cells.map((c, i) => (i === cells.length - 1 ? c : c.padEnd(widths[i] ?? 0))).join('  ').trimEnd();
  return `${[line(header), ...rows.map(line)].join('\n')}\n`;
}

/** The `taskwire tasks` table: one row per task. */
export function tasksTable(tasks: Task[]): string {
  return table(
    ['ID', 'NAME', 'QUEUE', 'STATUS', 'ATTEMPTS', 'ENQUEUED', 'DURATION'],
    tasks.map((t) => [t.id, t.name, t.queue, t.status, `${t.attempts}/${t.maxAttempts}`, shortTime(t.enqueuedAt), formatDuration(t.durationMs)]),
  );
}

/** The `taskwire stats` table: one row per queue. */
export function statsTable(stats: QueueStats[]): string {
  return table(
    ['QUEUE', 'BLOCKED', 'PENDING', 'RUNNING', 'RETRYING', 'SUCCEEDED', 'FAILED', 'CANCELLED', 'TOTAL', 'OLDEST DUE'],
    stats.map((q) => [
      q.queue,
      ...[q.blocked, q.pending, q.running, q.retrying, q.succeeded, q.failed, q.cancelled, q.total].map(String),
      formatDuration(q.oldestPendingAgeMs),
    ]),
  );
}

/** One error of an attempt, on one line (its control characters, newlines too, escaped). */
export function errorLine(e: Task['errors'][number]): string {
  return visible(`attempt ${e.attempt}: ${e.exceptionType}: ${e.message}`);
}

/** A backoff as the JSON `--backoff` takes: `{"baseMs":1000,"maxMs":600000,"factor":2,"jitter":0.25}`. */
export function backoffText(b: { baseMs: number; maxMs: number; factor: number; jitter: number }): string {
  return JSON.stringify({ baseMs: b.baseMs, maxMs: b.maxMs, factor: b.factor, jitter: b.jitter });
}

/** A task as `key: value` lines, one each: values' control characters are shown escaped. */
export function taskBlock(task: Task): string {
  const rows: [string, string][] = [
    ['id', task.id],
    ['name', task.name],
    ['queue', task.queue],
    ['status', task.cancelRequested && !task.isFinished ? `${task.status} (cancel requested)` : task.status],
    ['args', JSON.stringify(task.args)],
  ];
  if (task.kwargs && Object.keys(task.kwargs as object).length > 0) rows.push(['kwargs', JSON.stringify(task.kwargs)]);
  // Where it comes from: which workflow to open (`taskwire workflow ID`), which schedule fired it.
  if (task.workflow) {
    rows.push(['workflow', `${task.workflow.id}${task.workflow.name ? ` (${task.workflow.name})` : ''}`]);
    rows.push(['step', `${task.stepRef ?? ''}${task.dependsOn.length > 0 ? ` after ${task.dependsOn.map((d) => d.stepRef ?? d.id).join(', ')}` : ''}`]);
  }
  if (task.schedule) rows.push(['schedule', `${task.schedule.key}${task.scheduledFor ? ` (for ${shortTime(task.scheduledFor)})` : ''}`]);
  // The backoff only where a retry can use it; the timeout and retention only when set for this task.
  rows.push(['attempts', `${task.attempts}/${task.maxAttempts}${task.attempts < task.maxAttempts && !task.isFinished ? `, backoff ${backoffText(task.backoff)}` : ''}`]);
  if (task.timeoutMs != null) rows.push(['timeout', formatDuration(task.timeoutMs)]);
  if (task.resultTtlMs != null) rows.push(['resultTtl', formatDuration(task.resultTtlMs)]);
  // Why it has not started (SCHEDULED, QUEUE_PAUSED, KEY_LIMIT, …) and when it may.
  if (task.waitReason) rows.push(['waiting', task.waitReason]);
  if (task.runAfter && !task.isFinished && task.status !== 'RUNNING') rows.push(['runAfter', shortTime(task.runAfter)]);
  rows.push(
    ['enqueuedAt', shortTime(task.enqueuedAt)],
    ['startedAt', shortTime(task.startedAt)],
    ['finishedAt', shortTime(task.finishedAt)],
    ['duration', formatDuration(task.durationMs)],
  );
  // When the cleaner deletes it (its result, its log; its idempotency key freed): a later NOT_FOUND is that.
  if (task.isFinished && task.expiresAt) rows.push(['expiresAt', shortTime(task.expiresAt)]);
  if (task.progress && !task.isFinished) rows.push(['progress', progressText(task.progress)]);
  if (task.status === 'SUCCEEDED') rows.push(['returnValue', JSON.stringify(task.returnValue)]);
  task.errors.forEach((e, i) => rows.push([i === 0 ? 'errors' : '', errorLine(e)]));
  const width = Math.max(...rows.map(([k]) => k.length)) + 1;
  return `${rows.map(([k, v]) => `${k ? `${k}:` : ''}`.padEnd(width + 1) + visible(v)).join('\n')}\n`;
}

function progressText(p: NonNullable<Task['progress']>): string {
  const parts: string[] = [];
  if (p.current !== null && p.total !== null && p.total > 0) {
    parts.push(`${p.current}/${p.total} (${Math.round((Math.min(1, Math.max(0, p.current / p.total))) * 100)}%)`);
  } else if (p.current !== null) parts.push(String(p.current));
  if (p.message) parts.push(visible(p.message));
  return parts.join(' ');
}

function bar(p: NonNullable<Task['progress']>, width = 30): string {
  if (p.current === null || p.total === null || p.total <= 0) return '';
  const filled = Math.round(Math.min(1, Math.max(0, p.current / p.total)) * width);
  return `[${'#'.repeat(filled)}${'-'.repeat(width - filled)}] `;
}

/** A live view of one watched task. */
export interface ProgressView {
  update(task: Task): void;
  /** Ends the live line (before the result is printed). */
  done(): void;
}

/**
 * Shows a watched task on stderr: on a terminal, one line redrawn in place (status, bar,
 * message); otherwise a plain line per change of status or progress, which logs and tests can read.
 */
export function createProgressView(io: Io): ProgressView {
  let drawn = false;
  let lastLine = '';
  let lastErrors = 0;
  const clear = (): void => {
    if (drawn) io.err('\r\x1b[2K');
    drawn = false;
  };
  return {
    update(task) {
      // A failed attempt that will be retried is worth a permanent line (the final errors are
      // the caller's to print).
      if (task.isFinished) return;
      for (const e of task.errors.slice(lastErrors)) {
        clear();
        io.err(`${errorLine(e)} (will retry)\n`);
      }
      lastErrors = task.errors.length;
      const attempt = task.attempts > 0 ? ` attempt ${task.attempts}/${task.maxAttempts}` : '';
      const cancel = task.cancelRequested ? ' (cancel requested)' : '';
      const progress = task.progress && task.status === 'RUNNING' ? task.progress : null;
      if (io.errIsTTY) {
        const text = `${task.status}${attempt}${cancel} ${progress ? `${bar(progress)}${progressText(progress)}` : ''}`;
        io.err(`\r\x1b[2K${clipText(visible(text), 200)}`);
        drawn = true;
        return;
      }
      const line = `${task.status}${attempt}${cancel}${progress ? ` progress ${progressText(progress)}` : ''}`;
      if (line !== lastLine) io.err(`${line}\n`);
      lastLine = line;
    },
    done() {
      clear();
    },
  };
}

/** The version column: `v` and up to 7 digits. */
const VERSION_WIDTH = 8;

/**
 * One event of a task's log on one line: version, type, the status after it, attempt, worker,
 * then the progress or the error it carries. Columns padded so that a timeline reads down.
 */
export function eventLine(e: TaskEvent): string {
  // Wide enough for any version a task reaches (10 MiB of one-character chunks is ~3.5 million
  // events): lines printed as they come cannot be re-aligned when a wider version turns up.
  const parts = [`v${e.version}`.padEnd(VERSION_WIDTH), e.type.padEnd(16), e.status.padEnd(9)];
  if (e.attempt > 0) parts.push(`attempt ${e.attempt}`);
  if (e.workerId) parts.push(`worker ${e.workerId}`);
  if (e.progress) parts.push(`progress ${progressText(e.progress)}`);
  if (e.error) parts.push(`${e.error.exceptionType}: ${e.error.message}`);
  return visible(parts.join('  ').trimEnd());
}

/** A live view of a task's events (`status --watch`). */
export interface EventView {
  update(event: TaskEvent): void;
  /** Ends the live line (before the final state is printed). */
  done(): void;
}

/**
 * Shows a task's events on stderr, one line each. On a terminal a PROGRESS event redraws one
 * live line with a progress bar instead (the next other event replaces it), so a task that
 * reports progress a thousand times does not scroll a thousand lines.
 */
export function createEventView(io: Io): EventView {
  let drawn = false;
  const clear = (): void => {
    if (drawn) io.err('\r\x1b[2K');
    drawn = false;
  };
  return {
    update(event) {
      if (io.errIsTTY && event.type === 'PROGRESS' && event.progress) {
        const text = `${event.status} attempt ${event.attempt} ${bar(event.progress)}${progressText(event.progress)}`;
        io.err(`\r\x1b[2K${clipText(visible(text), 200)}`);
        drawn = true;
        return;
      }
      clear();
      io.err(`${eventLine(event)}\n`);
    },
    done() {
      clear();
    },
  };
}

/** One OUTPUT event and the run that wrote it (the count of STARTED events up to it). */
export type RunChunk = Pick<TaskEvent, 'output' | 'attempt'> & { run: number };

/** Prints a task's output chunks (`taskwire logs`). */
export interface OutputPrinter {
  chunk(event: RunChunk): void;
  /** Ends the last line if the output did not. */
  done(): void;
}

/**
 * Output on stdout: a string chunk as is (tokens join up; a handler writes its own newlines), any
 * other JSON value (an object such as demo.output's `{i, text}`, a number …) as one JSON line, so
 * nothing is lost and `jq` reads it. Where another run's output starts, a line on stderr:
 * `--- attempt N ---` for a new attempt, `--- attempt N (run again) ---` for a run that kept the
 * attempt of one released or snoozed (its output starts over under the same number).
 * When stdout is a terminal (`io.outIsTTY`), control characters other than `\n` and `\t` are shown
 * escaped (`\u001b`, `\r`): a handler's output cannot drive the terminal. Piped, it is written as is.
 */
export function createOutputPrinter(io: Io): OutputPrinter {
  let atLineStart = true;
  let attempt: number | undefined;
  let run: number | undefined;
  const write = (text: string): void => {
    if (text.length === 0) return;
    io.out(io.outIsTTY === true ? visible(text, '\n\t') : text);
    atLineStart = text.endsWith('\n');
  };
  const endLine = (): void => {
    if (!atLineStart) write('\n');
  };
  return {
    chunk({ output, attempt: of, run: by }) {
      if (attempt !== undefined && (of !== attempt || by !== run)) {
        endLine();
        io.err(of === attempt ? `--- attempt ${of} (run again) ---\n` : `--- attempt ${of} ---\n`);
      }
      attempt = of;
      run = by;
      if (typeof output === 'string') {
        write(output);
        return;
      }
      endLine();
      write(`${JSON.stringify(output)}\n`);
    },
    done: endLine,
  };
}
