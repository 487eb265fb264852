import { BadUserInputError } from '../errors.js';

/** 0001-01-01T00:00:00.000Z (Date.UTC would read year 1 as 1901). */
const EARLIEST = -62_135_596_800_000;
/** 9999-12-31T23:59:59.999Z */
const LATEST = 253_402_300_799_999;

/**
 * 1,000 years: a finished task's `expiresAt` (finished + TTL) must stay a time a JavaScript Date
 * holds and the DateTime scalar writes and reads back (years to 9999). RESULT_TTL_MS has the same bound.
 */
export const MAX_RESULT_TTL_MS = 31_557_600_000_000;

/**
 * Dates are stored in timestamptz, which takes years 1 to 9999 as ISO-8601 text. A JS Date
 * reaches 271821 BC, but PostgreSQL refuses year 0 written the ISO way ("0000-…", 1 BC) and
 * anything before 4713 BC: the statement failed, an internal error for what is bad input
 * (found by test/reliability/hostile-input.test.ts).
 * @throws BadUserInputError naming `field` when `date` is invalid or outside years 1–9999.
 */
export function requireStorableDate(date: Date, field: string): void {
  const ms = date.getTime();
  if (Number.isNaN(ms) || ms < EARLIEST || ms > LATEST) {
    throw new BadUserInputError(`${field} must be a valid date from year 1 to 9999`, { field });
  }
}

/**
 * An RFC 3339 date-time (the ISO-8601 profile): a full date, a time to the minute or finer, and a
 * zone. A date alone or a local time would be read in the reader's zone, which differs between
 * machines. Captures: year, month, day, hour, minute, second, zone hours, zone minutes.
 */
const DATE_TIME = /^(\d{4})-(\d{2})-(\d{2})T(\d{2}):(\d{2})(?::(\d{2})(?:\.\d{1,9})?)?(?:Z|[+-](\d{2}):(\d{2}))$/i;

/** Proleptic Gregorian, as Date and PostgreSQL count: year 0 (1 BC) and 2000 are leap, 2100 is not. */
function daysInMonth(year: number, month: number): number {
  if (month === 2) return year % 4 === 0 && (year % 100 !== 0 || year % 400 === 0) ? 29 : 28;
  return [4, 6, 9, 11].includes(month) ? 30 : 31;
}

/**
 * The instant `text` names, or undefined when it is not an RFC 3339 date-time with a zone or names a
 * time that does not exist. The written fields are checked themselves, before any conversion:
 * `new Date()` rolls an impossible day over (2030-02-31 → 2030-03-03) and takes `T24:00` as the next
 * day, so an impossible input would be stored as another, plausible time. An offset only moves the
 * instant, so `2030-03-01T00:30:00+01:00` is valid although its UTC date is February 28.
 * A leap second (`:60`) is refused: a Date cannot hold it, and moving it to the next minute is the
 * silent change this check exists to prevent. The range PostgreSQL stores is `requireStorableDate`'s
 * business, so that error names the field (year 0 parses here).
 * The one parser of date-time text: the GraphQL DateTime scalar and the CLI's `--run-after`.
 */
export function parseDateTime(text: string): Date | undefined {
  const m = DATE_TIME.exec(text);
  if (!m) return undefined;
  // Absent seconds and the zone of `Z` are 0.
  const [year, month, day, hour, minute, second, zoneHour, zoneMinute] = m.slice(1).map((field) => Number(field ?? 0)) as [number, number, number, number, number, number, number, number];
  if (month < 1 || month > 12 || day < 1 || day > daysInMonth(year, month)) return undefined;
  if (hour > 23 || minute > 59 || second > 59 || zoneHour > 23 || zoneMinute > 59) return undefined;
  // The fields are valid, so the engine's ISO parser has nothing left to roll over.
  const date = new Date(text);
  return Number.isNaN(date.getTime()) ? undefined : date;
}
