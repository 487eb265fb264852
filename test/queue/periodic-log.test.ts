import postgres from 'postgres';
import { describe, expect, it } from 'vitest';
import { createPeriodic } from '../../src/queue/maintenance/periodic.js';
import { captureLog } from '../helpers/log-capture.js';

// A maintenance round's debug line: the rescuer's round returns whole task rows (arguments, keyword
// arguments, errors), which the line carried, a line of megabytes with any secret in them.
describe('createPeriodic', () => {
  it('logs how many a round handled, never what it returned', async () => {
    const { log, lines } = captureLog();
    let rounds = 0;
    const rows = [{ id: 'a', kwargs: { apiKey: 'sk_live_secret' } }, { id: 'b', kwargs: { apiKey: 'sk_live_secret' } }];
    // The pool is looked at only by a stop during a round that waits on it; this round waits on nothing.
    const sql = postgres('postgres://127.0.0.1:1/none', { max: 1 });
    const periodic = createPeriodic({ name: 'rescuer', intervalMs: 1, log, sql, runOnce: async () => (rounds++, rows) });
    await periodic.start();
    await new Promise<void>((resolve) => {
      const check = setInterval(() => lines.length > 0 && (clearInterval(check), resolve()), 1);
    });
    await periodic.stop();
    expect(lines[0]).toMatchObject({ service: 'rescuer', count: 2, msg: 'maintenance round' });
    expect(JSON.stringify(lines)).not.toContain('sk_live_secret');
  });
});
