import { describe, expect, it } from 'vitest';
import { AppError } from '../../../src/errors.js';
import { latestOccurrences, nextOccurrences, parseCron } from '../../../src/queue/schedules/cron.js';
import { planFiring } from '../../../src/queue/schedules/plan.js';

/** Local wall times of the occurrences after `from`, as `YYYY-MM-DD HH:MM:SS` in `tz`. */
function wall(cron: string, tz: string, from: string, count: number): string[] {
  return nextOccurrences(parseCron(cron, tz), new Date(from), count).map((d) => d.toLocaleString('sv-SE', { timeZone: tz }));
}

function iso(cron: string, tz: string, from: string, count: number): string[] {
  return nextOccurrences(parseCron(cron, tz), new Date(from), count).map((d) => d.toISOString());
}

function codeOf(fn: () => unknown): { code: string; field: string | undefined } {
  try {
    fn();
  } catch (error) {
    if (error instanceof AppError) return { code: error.code, field: error.field };
    throw error;
  }
  throw new Error('did not throw');
}

describe('parseCron', () => {
  it('accepts 5 fields (minute first) and 6 fields (seconds first)', () => {
    expect(iso('*/15 * * * *', 'UTC', '2026-01-01T00:00:00Z', 2)).toEqual(['2026-01-01T00:15:00.000Z', '2026-01-01T00:30:00.000Z']);
    expect(iso('*/5 * * * * *', 'UTC', '2026-01-01T00:00:00Z', 2)).toEqual(['2026-01-01T00:00:05.000Z', '2026-01-01T00:00:10.000Z']);
  });

  it('refuses other field counts, bad fields, impossible dates and unknown time zones, naming the field', () => {
    expect(codeOf(() => parseCron('* * *'))).toEqual({ code: 'BAD_USER_INPUT', field: 'cron' });
    expect(codeOf(() => parseCron('0 0 1 1 * * 2030'))).toEqual({ code: 'BAD_USER_INPUT', field: 'cron' });
    expect(codeOf(() => parseCron('61 * * * *'))).toEqual({ code: 'BAD_USER_INPUT', field: 'cron' });
    expect(codeOf(() => parseCron('0 0 31 2 *'))).toEqual({ code: 'BAD_USER_INPUT', field: 'cron' });
    expect(codeOf(() => parseCron('', 'UTC'))).toEqual({ code: 'BAD_USER_INPUT', field: 'cron' });
    expect(codeOf(() => parseCron('* * * * *', 'Mars/Olympus_Mons'))).toEqual({ code: 'BAD_USER_INPUT', field: 'timezone' });
    expect(codeOf(() => parseCron('* * * * *', 42))).toEqual({ code: 'BAD_USER_INPUT', field: 'timezone' });
  });

  it('spells a time zone given in another case as the database does; an alias stays as given', () => {
    expect(parseCron('0 3 * * *', 'europe/paris').timezone).toBe('Europe/Paris');
    expect(parseCron('0 3 * * *', 'utc').timezone).toBe('UTC');
    expect(parseCron('0 3 * * *', 'Asia/Kolkata').timezone).toBe('Asia/Kolkata');
    expect(parseCron('0 3 * * *', 'America/New_York').timezone).toBe('America/New_York');
    expect(iso('0 3 * * *', 'europe/paris', '2026-01-01T00:00:00Z', 1)).toEqual(['2026-01-01T02:00:00.000Z']);
  });

  // The message is what a user fixes the input from: it must say what is wrong with this input.
  it('says an empty cron is empty, and counts the fields of one with too few or too many', () => {
    const messageOf = (cron: unknown): string => {
      try {
        parseCron(cron, 'UTC', 'input.');
      } catch (error) {
        expect(error).toMatchObject({ code: 'BAD_USER_INPUT', field: 'input.cron' });
        return (error as Error).message;
      }
      throw new Error('did not throw');
    };
    expect(messageOf('')).toBe('input.cron is empty: give a cron expression such as "0 3 * * *" (5 fields, or 6 with seconds first)');
    expect(messageOf('   ')).toMatch(/^input\.cron is empty/);
    expect(messageOf('* * *')).toBe('input.cron "* * *" has 3 fields; a cron expression has 5, or 6 with seconds first');
    expect(messageOf('*')).toBe('input.cron "*" has 1 field; a cron expression has 5, or 6 with seconds first');
    expect(messageOf('0 0 0 * * * *')).toBe('input.cron "0 0 0 * * * *" has 7 fields; a cron expression has 5, or 6 with seconds first');
    expect(messageOf('x'.repeat(201))).toBe('input.cron must be a cron expression of at most 200 characters, got 201');
    // croner's own reason once the count is right, without its "five, six, or seven parts".
    expect(messageOf('61 * * * *')).toBe('input.cron "61 * * * *" is not a cron expression: Invalid value for minute: 61');
    expect(messageOf('@fortnightly')).toMatch(/^input\.cron "@fortnightly" is not a nickname: @yearly, .* or @hourly$/);
    expect(parseCron('@daily').cron).toBe('@daily');
  });
});

describe('nextOccurrences in America/New_York (2026: spring forward 8 March 02:00→03:00, fall back 1 November 02:00→01:00)', () => {
  it('skips a daily time that does not exist on the spring-forward day (croner would run it at 03:00)', () => {
    expect(wall('30 2 * * *', 'America/New_York', '2026-03-07T00:00:00Z', 3)).toEqual([
      '2026-03-07 02:30:00',
      '2026-03-09 02:30:00',
      '2026-03-10 02:30:00',
    ]);
  });

  it('runs a daily time that happens twice on the fall-back night once, at its first instant (EDT)', () => {
    expect(iso('30 1 * * *', 'America/New_York', '2026-10-31T12:00:00Z', 2)).toEqual([
      '2026-11-01T05:30:00.000Z', // 01:30 EDT; 06:30Z (01:30 EST) does not fire
      '2026-11-02T06:30:00.000Z',
    ]);
  });

  it('runs every repeated half hour of the fall-back night once', () => {
    expect(wall('*/30 * * * *', 'America/New_York', '2026-11-01T04:00:00Z', 6)).toEqual([
      '2026-11-01 00:30:00',
      '2026-11-01 01:00:00',
      '2026-11-01 01:30:00',
      '2026-11-01 02:00:00',
      '2026-11-01 02:30:00',
      '2026-11-01 03:00:00',
    ]);
    // In instants: nothing between 01:30 EDT (05:30Z) and 02:00 EST (07:00Z).
    expect(iso('*/30 * * * *', 'America/New_York', '2026-11-01T05:00:00Z', 2)).toEqual(['2026-11-01T05:30:00.000Z', '2026-11-01T07:00:00.000Z']);
  });

  it('has no occurrence in the spring-forward gap', () => {
    expect(wall('*/30 * * * *', 'America/New_York', '2026-03-08T06:00:00Z', 3)).toEqual([
      '2026-03-08 01:30:00',
      '2026-03-08 03:00:00',
      '2026-03-08 03:30:00',
    ]);
  });

  it('keeps the wall time across the change: 09:00 local is 14:00Z in winter and 13:00Z in summer', () => {
    expect(iso('0 9 * * *', 'America/New_York', '2026-03-07T00:00:00Z', 2)).toEqual(['2026-03-07T14:00:00.000Z', '2026-03-08T13:00:00.000Z']);
    expect(iso('0 9 * * *', 'America/New_York', '2026-10-31T00:00:00Z', 2)).toEqual(['2026-10-31T13:00:00.000Z', '2026-11-01T14:00:00.000Z']);
  });
});

describe('nextOccurrences in Australia/Lord_Howe (30-minute shift; 2026: back 5 April 02:00→01:30, forward 4 October 02:00→02:30)', () => {
  it('skips 02:00 and 02:15, which do not exist on 4 October', () => {
    expect(wall('*/15 * * * *', 'Australia/Lord_Howe', '2026-10-03T14:30:00Z', 5)).toEqual([
      '2026-10-04 01:15:00',
      '2026-10-04 01:30:00',
      '2026-10-04 01:45:00',
      '2026-10-04 02:30:00',
      '2026-10-04 02:45:00',
    ]);
    expect(wall('15 2 * * *', 'Australia/Lord_Howe', '2026-10-03T00:00:00Z', 2)).toEqual(['2026-10-05 02:15:00', '2026-10-06 02:15:00']);
  });

  it('runs 01:30 and 01:45, which happen twice on 5 April, once each', () => {
    expect(iso('*/15 * * * *', 'Australia/Lord_Howe', '2026-04-04T14:00:00Z', 5)).toEqual([
      '2026-04-04T14:15:00.000Z', // 01:15 +11
      '2026-04-04T14:30:00.000Z', // 01:30 +11
      '2026-04-04T14:45:00.000Z', // 01:45 +11; 15:00Z and 15:15Z are 01:30 and 01:45 again (+10:30)
      '2026-04-04T15:30:00.000Z', // 02:00 +10:30
      '2026-04-04T15:45:00.000Z',
    ]);
    expect(iso('45 1 * * *', 'Australia/Lord_Howe', '2026-04-04T00:00:00Z', 2)).toEqual(['2026-04-04T14:45:00.000Z', '2026-04-05T15:15:00.000Z']);
  });
});

describe('latestOccurrences', () => {
  it('walks back from a time, within a lower bound, oldest first, skipping nonexistent times', () => {
    const s = parseCron('* * * * * *');
    expect(latestOccurrences(s, new Date('2026-01-01T00:00:10.500Z'), new Date('2026-01-01T00:00:09Z'), 5).map((d) => d.toISOString())).toEqual([
      '2026-01-01T00:00:09.000Z',
      '2026-01-01T00:00:10.000Z',
    ]);
    const ny = parseCron('30 2 * * *', 'America/New_York');
    expect(latestOccurrences(ny, new Date('2026-03-10T00:00:00Z'), new Date('2026-03-01T00:00:00Z'), 2).map((d) => d.toISOString())).toEqual([
      '2026-03-07T07:30:00.000Z',
      '2026-03-09T06:30:00.000Z',
    ]);
  });
});

describe('planFiring', () => {
  const spec = parseCron('0 * * * *');
  const base = { spec, graceMs: 60_000, catchUpMax: 3 };
  const at = (s: string): Date => new Date(s);
  const isoOf = (p: { occurrences: Date[] }): string[] => p.occurrences.map((d) => d.toISOString());

  it('fires a late occurrence within the grace as usual', () => {
    const plan = planFiring({ ...base, missed: 'SKIP', nextRunAt: at('2026-01-01T10:00:00Z'), now: at('2026-01-01T10:00:30Z') });
    expect(isoOf(plan)).toEqual(['2026-01-01T10:00:00.000Z']);
    expect(plan.nextRunAt?.toISOString()).toBe('2026-01-01T11:00:00.000Z');
    expect(plan.downtime).toBe(false);
  });

  it('after downtime: SKIP fires none, RUN_ONCE the latest, RUN_ALL the latest catchUpMax oldest first; next is in the future', () => {
    const p = { ...base, nextRunAt: at('2026-01-01T05:00:00Z'), now: at('2026-01-01T10:20:00Z') };
    const skip = planFiring({ ...p, missed: 'SKIP' });
    const once = planFiring({ ...p, missed: 'RUN_ONCE' });
    const all = planFiring({ ...p, missed: 'RUN_ALL' });
    expect(isoOf(skip)).toEqual([]);
    expect(isoOf(once)).toEqual(['2026-01-01T10:00:00.000Z']);
    expect(isoOf(all)).toEqual(['2026-01-01T08:00:00.000Z', '2026-01-01T09:00:00.000Z', '2026-01-01T10:00:00.000Z']);
    for (const plan of [skip, once, all]) {
      expect(plan.downtime).toBe(true);
      expect(plan.nextRunAt?.toISOString()).toBe('2026-01-01T11:00:00.000Z');
    }
  });

  it('does nothing but move next_run_at to the next occurrence when the stored one is not an occurrence yet due', () => {
    const plan = planFiring({ ...base, missed: 'RUN_ALL', nextRunAt: at('2026-01-01T10:00:01Z'), now: at('2026-01-01T10:00:30Z') });
    expect(isoOf(plan)).toEqual([]);
    expect(plan.nextRunAt?.toISOString()).toBe('2026-01-01T11:00:00.000Z');
  });
});
