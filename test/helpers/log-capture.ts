import { Writable } from 'node:stream';
import pino from 'pino';

/** One line a captured logger wrote, parsed. */
export type LogLine = Record<string, unknown> & { level: number; msg?: string };

/** A pino logger at `level` whose lines are parsed into `lines` as they are written. */
export function captureLog<L extends LogLine = LogLine>(level: pino.LevelWithSilent = 'debug'): { log: pino.Logger; lines: L[] } {
  const lines: L[] = [];
  const sink = new Writable({
    write(chunk: Buffer, _encoding, done) {
      for (const text of chunk.toString().split('\n')) if (text) lines.push(JSON.parse(text) as L);
      done();
    },
  });
  return { log: pino({ level }, sink), lines };
}
