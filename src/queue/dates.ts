import { BadUserInputError } from '../errors.js';

/** 0001-01-01T00:00:00.000Z (Date.UTC would read year 1 as 1901). */
const EARLIEST = -62_135_596_800_000;
/** 9999-12-31T23:59:59.999Z */
const LATEST = 253_402_300_799_999;

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
