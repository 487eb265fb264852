import { Writable } from 'node:stream';
import pino from 'pino';
import { describe, expect, it } from 'vitest';
import { logServerEvent } from '../../src/db/resolve.js';

// A JSON line with a key twice is valid to JSON.parse (the last wins) and to most pipelines, which
// then file the line under the wrong process: each key of these lines appears once.
describe('logServerEvent', () => {
  it('names the embedded server\'s process postgresPid beside the line\'s own pid, each key once', () => {
    const lines: string[] = [];
    const sink = new Writable({ write: (chunk: Buffer, _encoding, done) => (lines.push(chunk.toString()), done()) });
    const log = pino({ base: { pid: 4242 } }, sink);
    logServerEvent(log, { kind: 'exited', pid: 99 });
    logServerEvent(log, { kind: 'stopped', pid: 99 });
    logServerEvent(log, { kind: 'restarted', pid: 100, ms: 300 });
    expect(lines).toHaveLength(3);
    for (const line of lines) {
      expect(line.match(/"pid":/g)).toHaveLength(1);
      expect(JSON.parse(line)).toMatchObject({ pid: 4242, postgresPid: expect.any(Number) });
    }
  });
});
