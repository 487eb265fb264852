import { describe, expect, it } from 'vitest';
import { createOutageLog } from '../../src/server/outage-log.js';
import { captureLog } from '../helpers/log-capture.js';
import { waitFor } from '../helpers/wait.js';

const unavailable = (): Error => Object.assign(new Error('connect ECONNREFUSED 127.0.0.1:5432'), { code: 'ECONNREFUSED' });

describe('createOutageLog', () => {
  it('logs the first refusal, counts the rest of its window, and says that count when the window ends', async () => {
    const { log, lines } = captureLog();
    const refused = createOutageLog(log, { windowMs: 50 });
    expect(refused(new Error('not the database'))).toBe(false);
    for (let i = 0; i < 4; i++) expect(refused(unavailable())).toBe(true);
    expect(lines.map((l) => l.refusedSinceLastLine)).toEqual([0]);
    // The three refused after the first line are said at the window's end, not at the next outage.
    await waitFor(() => lines.length >= 2, { timeoutMs: 5_000, intervalMs: 10, message: 'the window\'s count' });
    expect(lines.map((l) => [l.msg, l.refusedSinceLastLine, l.cause])).toEqual([
      ['the database is unavailable: requests answered DATABASE_UNAVAILABLE', 0, 'connect ECONNREFUSED 127.0.0.1:5432'],
      ['the database is unavailable: requests answered DATABASE_UNAVAILABLE', 3, 'connect ECONNREFUSED 127.0.0.1:5432'],
    ]);
  });

  it('names the detail where the message does not say the cause (a NOTIFY refused by a full disk)', () => {
    const { log, lines } = captureLog();
    const refused = createOutageLog(log, { windowMs: 60_000 });
    // As postgres.js hands over PostgreSQL's error: SQLSTATE, message, and the disk in the detail only.
    const notify = Object.assign(new Error('could not access status of transaction 0'), {
      code: '58030',
      detail: 'Could not write to file "pg_xact/0000" at offset 8192: No space left on device.',
    });
    expect(refused(notify)).toBe(true);
    expect(lines.map((l) => l.cause)).toEqual(['could not access status of transaction 0 (Could not write to file "pg_xact/0000" at offset 8192: No space left on device.)']);
  });

  it('says a lock wait past DB_LOCK_TIMEOUT_MS is one, not that the database is unavailable', () => {
    const { log, lines } = captureLog();
    const refused = createOutageLog(log, { windowMs: 60_000 });
    expect(refused(Object.assign(new Error('canceling statement due to lock timeout'), { code: '55P03' }))).toBe(true);
    expect(lines.map((l) => [l.msg, l.cause])).toEqual([
      [
        'a request waited past DB_LOCK_TIMEOUT_MS for a lock another session held (the database is up): requests answered DATABASE_UNAVAILABLE',
        'canceling statement due to lock timeout',
      ],
    ]);
  });
});
