import { describe, expect, it } from 'vitest';
import type { Task } from '../../src/client/index.js';
import { createProgressView, formatDuration, table, type Io } from '../../src/cli/output.js';

function fakeIo(errIsTTY: boolean): Io & { errText: () => string } {
  let err = '';
  return { out: () => undefined, err: (t) => (err += t), errIsTTY, errText: () => err };
}

const base: Task = {
  id: '01900000-0000-7000-8000-000000000000', name: 'demo.progress', queue: 'default', priority: 0, status: 'RUNNING', isFinished: false,
  version: 2, args: [4, 10], kwargs: {}, returnValue: null, errors: [], attempts: 1, maxAttempts: 1, workerIds: ['w'], progress: null,
  enqueuedAt: '2025-01-01T00:00:00.000Z', runAfter: null, startedAt: null, finishedAt: null, lastAttemptedAt: null, durationMs: null,
  cancelRequested: false, expiresAt: null, idempotencyKey: null, timeoutMs: null,
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
