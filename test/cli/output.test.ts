import { describe, expect, it } from 'vitest';
import type { ScheduleDetail, Task, TaskEvent, Workflow } from '../../src/client/index.js';
import { reportUnsuccessful } from '../../src/cli/client-context.js';
import { scheduleBlock } from '../../src/cli/schedules-command.js';
import { workflowBlock, workflowChanges } from '../../src/cli/workflow-command.js';
import { createEventView, createOutputPrinter, createProgressView, errorJson, errorLine, eventLine, formatDuration, statsTable, table, taskBlock, wantsJson, type Io } from '../../src/cli/output.js';

function fakeIo(errIsTTY: boolean, outIsTTY = false): Io & { errText: () => string; outText: () => string } {
  let err = '';
  let out = '';
  return { out: (t) => (out += t), err: (t) => (err += t), errIsTTY, outIsTTY, errText: () => err, outText: () => out };
}

/** What a terminal acts on rather than shows, but the line feed: C0 (ESC, BEL, CR…), DEL and C1 (CSI U+009B…). */
const CONTROL_BUT_LF = /[\u0000-\u0009\u000b-\u001f\u007f-\u009f]/;

const base: Task = {
  id: '01900000-0000-7000-8000-000000000000', name: 'demo.progress', queue: 'default', priority: 0, status: 'RUNNING', isFinished: false,
  version: 2, args: [4, 10], kwargs: {}, returnValue: null, errors: [], attempts: 1, maxAttempts: 1, workerIds: ['w'], progress: null,
  enqueuedAt: '2025-01-01T00:00:00.000Z', runAfter: null, startedAt: null, finishedAt: null, lastAttemptedAt: null, durationMs: null,
  cancelRequested: false, expiresAt: null, idempotencyKey: null, timeoutMs: null, resultTtlMs: null,
  backoff: { baseMs: 1000, maxMs: 600_000, factor: 2, jitter: 0.25 },
  tenant: 'default', createdBy: null, outputBytes: 0, concurrencyKey: null, waitReason: null,
  scheduledFor: null, schedule: null, workflow: null, stepRef: null, dependsOn: [],
};
const at = (current: number, version: number): Task => ({
  ...base, version, progress: { current, total: 4, message: `step ${current} of 4`, updatedAt: '2025-01-01T00:00:01.000Z' },
});

describe('createProgressView', () => {
  it('redraws one line with a bar on a terminal, and clears it when done', () => {
    const io = fakeIo(true);
    const view = createProgressView(io);
    view.update(at(1, 3));
    view.update(at(2, 4));
    view.done();
    expect(io.errText()).toBe(
      `\r\x1b[2KRUNNING attempt 1/1 [########----------------------] 1/4 (25%) step 1 of 4` +
        `\r\x1b[2KRUNNING attempt 1/1 [###############---------------] 2/4 (50%) step 2 of 4` +
        '\r\x1b[2K',
    );
  });

  it('writes a plain line per change elsewhere, and a permanent line per retried attempt', () => {
    const io = fakeIo(false);
    const view = createProgressView(io);
    view.update({ ...base, status: 'PENDING', attempts: 0, version: 1 });
    view.update(at(1, 3));
    view.update(at(1, 3));
    const error = { exceptionType: 'Boom', message: 'no', traceback: null, attempt: 1, at: '2025-01-01T00:00:02.000Z', workerId: 'w' };
    view.update({ ...base, status: 'RETRYING', errors: [error], version: 4, maxAttempts: 2 });
    view.update({ ...base, status: 'FAILED', isFinished: true, errors: [error, { ...error, attempt: 2 }], version: 6 });
    view.done();
    expect(io.errText()).toBe(
      ['PENDING', 'RUNNING attempt 1/1 progress 1/4 (25%) step 1 of 4', 'attempt 1: Boom: no (will retry)', 'RETRYING attempt 1/2', ''].join('\n'),
    );
  });
});

describe('formatting', () => {
  it('pads table columns and formats durations', () => {
    expect(table(['A', 'BB'], [['xyz', '1'], ['', '22']])).toBe('A    BB\nxyz  1\n     22\n');
    expect([null, 12, 1500, 125_000, 7_500_000, 30 * 86_400_000 + 3_600_000].map(formatDuration)).toEqual(['-', '12 ms', '1.5 s', '2 min 5 s', '2 h 5 min', '30 d 1 h']);
  });
});

const event = (version: number, type: TaskEvent['type'], status: TaskEvent['status'], more: Partial<TaskEvent> = {}): TaskEvent => ({
  taskId: base.id, version, type, status, at: '2025-01-01T00:00:00.000Z', attempt: 1, workerId: 'w-1', progress: null, error: null, output: null, cursor: 'c', ...more,
});
const progressEvent = (version: number, current: number): TaskEvent =>
  event(version, 'PROGRESS', 'RUNNING', { progress: { current, total: 4, message: `step ${current} of 4`, updatedAt: '2025-01-01T00:00:01.000Z' } });

describe('eventLine', () => {
  it('gives version, type, status, attempt and worker in columns, then the progress or the error', () => {
    expect(eventLine(event(1, 'ENQUEUED', 'PENDING', { attempt: 0, workerId: null }))).toBe('v1        ENQUEUED          PENDING');
    expect(eventLine(progressEvent(12, 2))).toBe('v12       PROGRESS          RUNNING    attempt 1  worker w-1  progress 2/4 (50%) step 2 of 4');
    const error = { exceptionType: 'Boom', message: 'no', traceback: null, attempt: 1, at: '2025-01-01T00:00:02.000Z', workerId: 'w-1' };
    expect(eventLine(event(3, 'RETRY_SCHEDULED', 'RETRYING', { error }))).toBe('v3        RETRY_SCHEDULED   RETRYING   attempt 1  worker w-1  Boom: no');
  });

  it('keeps the columns in line past v999 (a long-running task\'s versions): the type starts at the same place', () => {
    const starts = [1, 999, 1000, 123_456, 9_999_999].map((v) => eventLine(event(v, 'PROGRESS', 'RUNNING')).indexOf('PROGRESS'));
    expect(new Set(starts).size).toBe(1);
  });
});

describe('createEventView', () => {
  it('prints a line per event elsewhere than a terminal', () => {
    const io = fakeIo(false);
    const view = createEventView(io);
    for (const e of [event(2, 'STARTED', 'RUNNING'), progressEvent(3, 1), event(4, 'SUCCEEDED', 'SUCCEEDED')]) view.update(e);
    view.done();
    expect(io.errText().split('\n').map((l) => l.split(/ +/)[1])).toEqual(['STARTED', 'PROGRESS', 'SUCCEEDED', undefined]);
  });

  it('on a terminal, redraws progress on one line with a bar, and replaces it with the next event', () => {
    const io = fakeIo(true);
    const view = createEventView(io);
    view.update(progressEvent(3, 1));
    view.update(progressEvent(4, 2));
    view.update(event(5, 'SUCCEEDED', 'SUCCEEDED'));
    view.done();
    expect(io.errText()).toBe(
      `\r\x1b[2KRUNNING attempt 1 [########----------------------] 1/4 (25%) step 1 of 4` +
        `\r\x1b[2KRUNNING attempt 1 [###############---------------] 2/4 (50%) step 2 of 4` +
        `\r\x1b[2Kv5        SUCCEEDED         SUCCEEDED  attempt 1  worker w-1\n`,
    );
  });
});

describe('createOutputPrinter', () => {
  it('writes strings as they are, other values as JSON lines, marks a new attempt, and ends the last line', () => {
    const io = fakeIo(false);
    const printer = createOutputPrinter(io);
    for (const [output, attempt] of [['tok', 1], ['en', 1], [{ i: 1, text: 'x' }, 1], [42, 1], ['line\n', 2], ['partial', 2]] as const) printer.chunk({ output, attempt, run: attempt });
    printer.done();
    expect(io.outText()).toBe('token\n{"i":1,"text":"x"}\n42\nline\npartial\n');
    expect(io.errText()).toBe('--- attempt 2 ---\n');
  });

  it('marks a run that kept its attempt (released or snoozed): the output starts over under the same number', () => {
    const io = fakeIo(false);
    const printer = createOutputPrinter(io);
    for (const [output, attempt, run] of [[{ i: 347 }, 1, 1], [{ i: 1 }, 1, 2], ['x', 1, 2], ['y', 2, 3]] as const) printer.chunk({ output, attempt, run });
    printer.done();
    expect(io.outText()).toBe('{"i":347}\n{"i":1}\nx\ny\n');
    expect(io.errText()).toBe('--- attempt 1 (run again) ---\n--- attempt 2 ---\n');
  });

  it('on a terminal, shows control characters other than newline and tab escaped; piped, writes them as they are', () => {
    const chunks = ['\u001b[7mreverse', '\tcol\n', 'bell\u0007 cr\r \u009b2J', { s: '\u0085' }];
    const print = (outIsTTY: boolean): string => {
      const io = fakeIo(false, outIsTTY);
      const printer = createOutputPrinter(io);
      for (const output of chunks) printer.chunk({ output, attempt: 1, run: 1 });
      printer.done();
      return io.outText();
    };
    expect(print(true)).toBe('\\u001b[7mreverse\tcol\nbell\\u0007 cr\\r \\u009b2J\n{"s":"\\u0085"}\n');
    expect(print(false)).toBe('\u001b[7mreverse\tcol\nbell\u0007 cr\r \u009b2J\n{"s":"\u0085"}\n');
  });
});

describe('text a user or a handler wrote, shown to a human', () => {
  const hostile = 'a\u001b[7mb\u0007c\nd\re\tf\u009bg\u007f';
  const escaped = 'a\\u001b[7mb\\u0007c\\nd\\re\\tf\\u009bg\\u007f';
  const error = { exceptionType: 'Boom\u001b]0;title\u0007', message: 'line 1\nline 2', traceback: null, attempt: 1, at: '2025-01-01T00:00:02.000Z', workerId: 'w' };

  it('shows control characters escaped in table cells, so a row stays one row and no escape reaches the terminal', () => {
    const text = statsTable([{ queue: hostile, blocked: 0, pending: 1, running: 0, retrying: 0, succeeded: 0, failed: 0, cancelled: 0, total: 1, oldestPendingAgeMs: null }]);
    expect(text).not.toMatch(CONTROL_BUT_LF);
    expect(text.split('\n')).toHaveLength(3); // header, one row, the final newline
    expect(text.split('\n')[1]?.startsWith(escaped)).toBe(true);
    // Columns line up by the escaped width.
    const [header, row] = text.split('\n');
    expect(row?.slice(header?.indexOf('BLOCKED')).startsWith('0        1')).toBe(true);
  });

  it('shows control characters escaped in a task block: queue, args, progress and errors', () => {
    const task: Task = { ...base, queue: hostile, args: ['\u001b[7m', '\u009b2J'], kwargs: { k: '\u0085' }, progress: { current: 1, total: 2, message: hostile, updatedAt: base.enqueuedAt }, errors: [error] };
    const text = taskBlock(task);
    expect(text).not.toMatch(CONTROL_BUT_LF);
    expect(text).toContain(`queue:      ${escaped}`);
    expect(text).toContain('args:       ["\\u001b[7m","\\u009b2J"]');
    expect(text).toContain('kwargs:     {"k":"\\u0085"}');
    expect(text).toContain(`progress:   1/2 (50%) ${escaped}`);
    expect(text).toContain('errors:     attempt 1: Boom\\u001b]0;title\\u0007: line 1\\nline 2');
    expect(errorLine(error)).toBe('attempt 1: Boom\\u001b]0;title\\u0007: line 1\\nline 2');
  });

  it('shows a task\'s own timeout and retention, and the backoff while a retry is left', () => {
    const plain = taskBlock(base);
    expect(plain).toMatch(/^attempts: +1\/1$/m);
    expect(plain).not.toMatch(/^(timeout|resultTtl):/m);
    const text = taskBlock({ ...base, maxAttempts: 3, timeoutMs: 90_000, resultTtlMs: 30 * 86_400_000, backoff: { baseMs: 30_000, maxMs: 600_000, factor: 1, jitter: 0 } });
    expect(text).toMatch(/^attempts: +1\/3, backoff \{"baseMs":30000,"maxMs":600000,"factor":1,"jitter":0\}$/m);
    expect(text).toMatch(/^timeout: +1 min 30 s$/m);
    expect(text).toMatch(/^resultTtl: +30 d 0 h$/m);
    // Finished: no retry is left to space; when the cleaner deletes it is said.
    const finished = taskBlock({ ...base, maxAttempts: 3, status: 'SUCCEEDED', isFinished: true, expiresAt: '2025-01-02T00:00:00.000Z' });
    expect(finished).toMatch(/^attempts: +1\/3$/m);
    expect(finished).toMatch(/^expiresAt: +\S/m);
    expect(plain).not.toMatch(/^expiresAt:/m);
  });

  it('shows where a task comes from: its workflow and step with the parents, its schedule and occurrence', () => {
    const step = taskBlock({
      ...base,
      workflow: { id: 'wf-1', name: 'nightly' },
      stepRef: 'report',
      dependsOn: [
        { id: 'a-1', stepRef: 'extract' },
        { id: 'b-1', stepRef: 'transform' },
      ],
    });
    expect(step).toMatch(/^workflow: +wf-1 \(nightly\)$/m);
    expect(step).toMatch(/^step: +report after extract, transform$/m);
    const fired = taskBlock({ ...base, schedule: { id: 's-1', key: 'cleanup' }, scheduledFor: '2025-01-02T03:00:00.000Z' });
    expect(fired).toMatch(/^schedule: +cleanup \(for \S.*\)$/m);
    expect(taskBlock(base)).not.toMatch(/^(workflow|step|schedule):/m);
  });

  it('shows control characters escaped in the progress line and in event lines, on a terminal or not', () => {
    for (const tty of [true, false]) {
      const io = fakeIo(tty);
      const view = createProgressView(io);
      view.update({ ...base, progress: { current: 1, total: 2, message: hostile, updatedAt: base.enqueuedAt } });
      view.update({ ...base, status: 'RETRYING', errors: [error], maxAttempts: 2 });
      view.done();
      // Only the view's own redraw sequence (CR, ESC[2K) and line ends are left.
      expect(io.errText().replaceAll('\r\x1b[2K', '')).not.toMatch(CONTROL_BUT_LF);
      expect(io.errText()).toContain(escaped);
    }
    const line = eventLine(event(3, 'RETRY_SCHEDULED', 'RETRYING', { error, workerId: 'w\u001b[2J' }));
    expect(line).toBe('v3        RETRY_SCHEDULED   RETRYING   attempt 1  worker w\\u001b[2J  Boom\\u001b]0;title\\u0007: line 1\\nline 2');
  });

  it('clips the live progress line at 200 code units without cutting a surrogate pair', () => {
    const io = fakeIo(true);
    // 'RUNNING attempt 1/1 ' + bar (33) + '1/2 (50%) ' leaves the message's emoji across code units 199 and 200.
    const prefix = `RUNNING attempt 1/1 [${'#'.repeat(15)}${'-'.repeat(15)}] 1/2 (50%) `;
    const message = `${'x'.repeat(199 - prefix.length)}😀tail`;
    createProgressView(io).update({ ...base, progress: { current: 1, total: 2, message, updatedAt: base.enqueuedAt } });
    const shown = io.errText().replace('\r\x1b[2K', '');
    expect(shown.length).toBeLessThanOrEqual(200);
    expect(shown).not.toMatch(/[\ud800-\udbff](?![\udc00-\udfff])|(?<![\ud800-\udbff])[\udc00-\udfff]/);
    expect(shown.endsWith('x')).toBe(true);
  });
});

describe('the other commands\' human output', () => {
  it('shows control characters escaped in a schedule block, a workflow view and a failed task\'s report', () => {
    const schedule = {
      key: 'nightly\u001b[7m', tenant: 'acme\u0007', cron: '0 3 * * *', timezone: 'UTC', taskName: 'demo.echo', args: ['\u009b2J'], kwargs: {}, queue: 'default',
      concurrencyKey: 'k\n', paused: false, overlap: 'ALLOW', missed: 'RUN_ONCE', nextRunAt: null, lastRunAt: null, lastTask: null,
      upcoming: [], runs: { edges: [] },
    } as unknown as ScheduleDetail;
    const block = scheduleBlock(schedule);
    expect(block).not.toMatch(CONTROL_BUT_LF);
    expect(block).toContain('nightly\\u001b[7m');
    expect(block).toContain('k\\n');
    expect(block).toContain('acme\\u0007');

    const step = (ref: string, status: string) => ({ ref, dependsOn: [], task: { id: base.id, name: 'demo.echo', status, durationMs: null } });
    const before = { id: base.id, name: 'w\u001b]0;x\u0007', status: 'RUNNING', version: 1, finishedAt: null, stepCounts: { total: 1, finished: 0, succeeded: 0 }, steps: [step('a\nb', 'PENDING')] } as unknown as Workflow;
    const after = { ...before, version: 2, steps: [step('a\nb', 'RUNNING')] } as unknown as Workflow;
    const view = `${workflowBlock(after)}${workflowChanges(before, after).join('\n')}`;
    expect(view).not.toMatch(CONTROL_BUT_LF);
    expect(view).toContain('(w\\u001b]0;x\\u0007)');
    expect(view).toContain('v2  a\\nb  PENDING → RUNNING');

    const io = fakeIo(false);
    reportUnsuccessful(io, { ...base, name: 'bad\u001b[2Jname', status: 'FAILED', isFinished: true, errors: [] });
    expect(io.errText()).toContain('(bad\\u001b[2Jname) FAILED');
  });
});

describe('errorJson', () => {
  it('writes one line of {"error": {code, message, field}}, field null when none is named', () => {
    expect(errorJson({ code: 'NOT_FOUND', message: 'no task x' })).toBe('{"error":{"code":"NOT_FOUND","message":"no task x","field":null}}\n');
    const line = errorJson({ code: 'INVALID_ARGUMENTS', message: 'bad\nargs "quoted"', field: 'input.args[1]' });
    expect(line.split('\n')).toEqual([expect.any(String), '']);
    expect(JSON.parse(line)).toEqual({ error: { code: 'INVALID_ARGUMENTS', message: 'bad\nargs "quoted"', field: 'input.args[1]' } });
  });
});

describe('wantsJson', () => {
  it('is --json among the options, before any --', () => {
    expect(wantsJson(['ID', '--json'])).toBe(true);
    expect(wantsJson(['--json', '--bogus'])).toBe(true);
    expect(wantsJson(['ID'])).toBe(false);
    expect(wantsJson(['--', '--json'])).toBe(false);
    expect(wantsJson(['--jsonx'])).toBe(false);
  });
});
