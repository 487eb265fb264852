import { describe, expect, it } from 'vitest';
import { parseDateTime } from '../../src/queue/dates.js';

describe('parseDateTime', () => {
  it.each([
    ['2030-01-01T09:00:00Z', '2030-01-01T09:00:00.000Z'],
    ['2030-01-01T09:00Z', '2030-01-01T09:00:00.000Z'],
    ['2030-01-31T23:59:59.999Z', '2030-01-31T23:59:59.999Z'],
    ['2030-04-30T12:00:00Z', '2030-04-30T12:00:00.000Z'],
    ['2030-12-31T00:00:00Z', '2030-12-31T00:00:00.000Z'],
    // Leap years: divisible by 4, except centuries, except every fourth century.
    ['2028-02-29T00:00:00Z', '2028-02-29T00:00:00.000Z'],
    ['2000-02-29T00:00:00Z', '2000-02-29T00:00:00.000Z'],
    ['2030-02-28T00:00:00Z', '2030-02-28T00:00:00.000Z'],
    // An offset moves the instant: the written date is checked, not the UTC one.
    ['2030-03-01T00:30:00+01:00', '2030-02-28T23:30:00.000Z'],
    ['2028-02-29T23:30:00-01:00', '2028-03-01T00:30:00.000Z'],
    ['2030-01-01T00:00:00+23:59', '2029-12-31T00:01:00.000Z'],
    ['2030-01-01t09:00:00z', '2030-01-01T09:00:00.000Z'],
    ['2030-01-01T09:00:00.123456789Z', '2030-01-01T09:00:00.123Z'],
    // Out of PostgreSQL's range but on the calendar: requireStorableDate refuses it, naming the field.
    ['0000-02-29T00:00:00Z', '0000-02-29T00:00:00.000Z'],
  ])('reads %s as %s', (text, iso) => {
    expect(parseDateTime(text)?.toISOString()).toBe(iso);
  });

  it.each([
    // Days that do not exist in their month (new Date() rolls them over into the next).
    '2030-02-31T00:00:00Z',
    '2030-02-30T00:00:00Z',
    '2030-02-29T00:00:00Z',
    '2100-02-29T00:00:00Z',
    '1900-02-29T00:00:00Z',
    '2030-04-31T00:00:00Z',
    '2030-06-31T00:00:00Z',
    '2030-09-31T00:00:00Z',
    '2030-11-31T00:00:00Z',
    '2030-01-32T00:00:00Z',
    '2030-01-00T00:00:00Z',
    '2030-00-10T00:00:00Z',
    '2030-13-01T00:00:00Z',
    // The same with an offset whose UTC date would exist (2030-03-01T00:30+01:00 is Feb 28 in UTC).
    '2030-02-29T00:30:00+01:00',
    '2030-02-31T23:00:00-05:00',
    // Times that do not exist: new Date() takes T24:00 as the next day's midnight.
    '2030-01-01T24:00:00Z',
    '2030-01-01T23:60:00Z',
    '2030-01-01T23:59:60Z',
    '2030-12-31T23:59:60Z',
    '2030-01-01T00:00:00+24:00',
    '2030-01-01T00:00:00+01:60',
    // Not a date-time with a zone.
    '2030-01-01',
    '2030-01-01T09:00:00',
    '2030-01-01 09:00:00Z',
    'Jan 1 2030 09:00 UTC',
    '',
    '2030-1-1T09:00:00Z',
  ])('refuses %j', (text) => {
    expect(parseDateTime(text)).toBeUndefined();
  });
});
