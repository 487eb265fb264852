import { describe, expect, it } from 'vitest';
import type { Task, TaskEvent } from '../../src/client/index.js';
import { createEventView, createOutputPrinter, createProgressView, errorJson, eventLine, formatDuration, table, wantsJson, type Io } from '../../src/cli/output.js';

function fakeIo(errIsTTY: boolean): Io & { errText: () => string; outText: () => string } {
  let err = '';
  let out = '';
  return { out: (t) => (out += t), err: (t) => (err += t), errIsTTY, errText: () => err, outText: () => out };
}

const base: Task = {
  id: '01900000-0000-7000-8000-000000000000', name: 'demo.progress', queue: 'default', priority: 0, status: 'RUNNING', isFinished: false,
  version: 2, args: [4, 10], kwargs: {}, returnValue: null, errors: [], attempts: 1, maxAttempts: 1, workerIds: ['w'], progress: null,
  enqueuedAt: '2025-01-01T00:00:00.000Z', runAfter: null, startedAt: null, finishedAt: null, lastAttemptedAt: null, durationMs: null,
  cancelRequested: false, expiresAt: null, idempotencyKey: null, timeoutMs: null,
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
    expect([null, 12, 1500, 125_000, 7_500_000].map(formatDuration)).toEqual(['-', '12 ms', '1.5 s', '2 min 5 s', '2 h 5 min']);
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
