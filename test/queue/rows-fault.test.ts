import { describe, expect, it } from 'vitest';
import { isRowsFault } from '../../src/queue/enqueue-batcher.js';

describe('isRowsFault (which failed batch is retried caller by caller)', () => {
  it.each([
    ['23514', 'a CHECK constraint'],
    ['23505', 'a unique index'],
    ['22P02', 'bad input syntax'],
    ['P0001', "a trigger's RAISE"],
    ['54000', 'a program limit'],
  ])('retries %s (%s): the rows may have caused it', (code) => {
    expect(isRowsFault(Object.assign(new Error('refused'), { code }))).toBe(true);
  });

  it.each([
    ['08006', 'the connection failed'],
    ['CONNECTION_CLOSED', "the client's own code, no SQLSTATE"],
    ['25006', 'a read-only transaction (a failover to a standby)'],
    ['42P01', 'a table missing'],
    ['42501', 'a privilege missing'],
    ['40001', 'a serialization failure'],
    ['55P03', 'a lock not had in time'],
    ['53100', 'the disk full'],
    ['57P01', 'an administrator shutdown'],
    ['57014', 'a cancelled statement'],
    ['58030', 'an I/O error'],
    ['XX000', 'an internal error'],
  ])('does not retry %s (%s): every caller would fail alike', (code) => {
    expect(isRowsFault(Object.assign(new Error('failed'), { code }))).toBe(false);
  });

  it('does not retry an error without a code', () => {
    expect(isRowsFault(new Error('no code'))).toBe(false);
    expect(isRowsFault(undefined)).toBe(false);
  });
});
