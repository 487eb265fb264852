import { Cron } from 'croner';
import { BadUserInputError } from '../../errors.js';

/** The default time zone of a schedule. */
export const DEFAULT_TIMEZONE = 'UTC';
const MAX_CRON = 200;
/** croner's nicknames (@reboot aside: it names no time). */
const NICKNAMES = ['@yearly', '@annually', '@monthly', '@weekly', '@daily', '@midnight', '@hourly'];

/**
 * A parsed cron expression on the wall clock of an IANA time zone. Occurrences follow the wall
 * clock with two rules of our own on top of croner's (whose fixed-time jobs move a nonexistent
 * time to the first valid one after the gap, and whose interval jobs run a repeated time twice):
 * a local time that does not exist (spring forward) is skipped, and one that happens twice (fall
 * back) fires once, at its first instant. See `isOccurrence`.
 */
export interface CronSpec {
  readonly cron: string;
  readonly timezone: string;
  /** The pattern in the time zone: candidates, filtered by isOccurrence. */
  readonly zoned: Cron;
  /** The same pattern on UTC, matched against a candidate's wall time taken as UTC. */
  readonly wall: Cron | null;
  /** Wall time in ms as if it were UTC; null for UTC (where every candidate is an occurrence). */
  readonly wallMs: ((instant: number) => number) | null;
}

/**
 * Parses and validates `cron` (5 fields, or 6 with seconds first; croner's nicknames such as
 * `@daily` too) and `timezone` (an IANA name). Refuses a cron with no future occurrence.
 * @throws BadUserInputError with `field` `<prefix>cron` or `<prefix>timezone`
 */
export function parseCron(cron: unknown, timezone: unknown = DEFAULT_TIMEZONE, prefix = ''): CronSpec {
  if (typeof timezone !== 'string' || !isTimeZone(timezone)) {
    // What was sent, cut: the message must not reflect a 300 KB value back whole.
    const got = typeof timezone === 'string' && timezone.length > 64 ? `${JSON.stringify(timezone.slice(0, 64))}… (${timezone.length} characters)` : JSON.stringify(timezone);
    throw new BadUserInputError(`${prefix}timezone must be an IANA time zone such as "Europe/Paris", got ${got}`, {
      field: `${prefix}timezone`,
    });
  }
  const zone = canonicalTimeZone(timezone);
  const field = `${prefix}cron`;
  if (typeof cron !== 'string') throw new BadUserInputError(`${field} must be a string such as "0 3 * * *", got ${typeof cron}`, { field });
  if (cron.trim().length === 0) {
    throw new BadUserInputError(`${field} is empty: give a cron expression such as "0 3 * * *" (5 fields, or 6 with seconds first)`, { field });
  }
  if (cron.length > MAX_CRON) {
    throw new BadUserInputError(`${field} must be a cron expression of at most ${MAX_CRON} characters, got ${cron.length}`, { field });
  }
  const text = cron.trim();
  // Counted here, not left to croner: its message ("five, six, or seven parts") names counts this
  // mode refuses. A nickname (@daily) is one word that croner expands.
  const fields = text.split(/\s+/).length;
  if (!text.startsWith('@') && fields !== 5 && fields !== 6) {
    throw new BadUserInputError(
      `${field} ${JSON.stringify(text)} has ${fields} field${fields === 1 ? '' : 's'}; a cron expression has 5, or 6 with seconds first`,
      { field },
    );
  }
  let zoned: Cron;
  let wall: Cron | null = null;
  try {
    zoned = new Cron(text, { paused: true, timezone: zone, mode: '5-or-6-parts' });
    if (!isUtc(zone)) wall = new Cron(text, { paused: true, timezone: 'UTC', mode: '5-or-6-parts' });
  } catch (error) {
    const message = text.startsWith('@')
      ? `${field} ${JSON.stringify(text)} is not a nickname: ${NICKNAMES.slice(0, -1).join(', ')} or ${NICKNAMES.at(-1)}`
      : `${field} ${JSON.stringify(text)} is not a cron expression: ${(error as Error).message.replace(/^CronPattern:\s*/, '')}`;
    throw new BadUserInputError(message, { field, cause: error });
  }
  const spec: CronSpec = { cron: text, timezone: zone, zoned, wall, wallMs: wall ? wallClock(zone) : null };
  if (nextOccurrence(spec, new Date()) === null) {
    throw new BadUserInputError(`${field} "${text}" has no future occurrence`, { field });
  }
  return spec;
}

/** The first occurrence strictly after `after` (whole seconds), or null when there is none. */
export function nextOccurrence(spec: CronSpec, after: Date): Date | null {
  let from = after;
  // A gap or a repeat costs a few candidates at most; the bound only guards against a pattern
  // whose every candidate is refused (none should be).
  for (let i = 0; i < 10_000; i++) {
    const candidate = spec.zoned.nextRun(from);
    if (candidate === null) return null;
    if (isOccurrence(spec, candidate)) return candidate;
    from = candidate;
  }
  return null;
}

/** The first occurrence at or after `at`. */
export function occurrenceAtOrAfter(spec: CronSpec, at: Date): Date | null {
  return nextOccurrence(spec, new Date(Math.ceil(at.getTime() / 1000) * 1000 - 1000));
}

/** Up to `count` occurrences strictly after `after`, oldest first. */
export function nextOccurrences(spec: CronSpec, after: Date, count: number): Date[] {
  const out: Date[] = [];
  let from: Date | null = after;
  while (out.length < count && from !== null) {
    from = nextOccurrence(spec, from);
    if (from !== null) out.push(from);
  }
  return out;
}

/**
 * Up to `count` of the latest occurrences at or before `upTo` and at or after `notBefore`,
 * oldest first. Walks backwards, so a long downtime costs `count` steps, not one per missed occurrence.
 */
export function latestOccurrences(spec: CronSpec, upTo: Date, notBefore: Date, count: number): Date[] {
  const out: Date[] = [];
  // previousRuns includes a run within the reference's second: start just past upTo's second.
  let reference = new Date(Math.floor(upTo.getTime() / 1000) * 1000 + 999);
  while (out.length < count) {
    const batch = spec.zoned.previousRuns(Math.min(count - out.length + 2, 1000), reference);
    if (batch.length === 0) break;
    for (const candidate of batch) {
      if (candidate.getTime() > upTo.getTime()) continue;
      if (candidate.getTime() < notBefore.getTime()) return out.reverse();
      if (isOccurrence(spec, candidate) && out.length < count) out.push(candidate);
    }
    reference = new Date((batch[batch.length - 1] as Date).getTime() - 1);
  }
  return out.reverse();
}

/**
 * Whether croner's candidate is an occurrence on the wall clock: its local time must match the
 * pattern (croner moves a nonexistent 02:30 to 03:00, which `30 2 * * *` does not match), and no
 * earlier instant may have had the same local time (the second 01:30 of a fall-back night).
 */
export function isOccurrence(spec: CronSpec, candidate: Date): boolean {
  if (spec.wall === null || spec.wallMs === null) return true;
  const instant = candidate.getTime();
  const wall = spec.wallMs(instant);
  if (!spec.wall.match(new Date(wall))) return false;
  // The offset a few hours before: different only next to a transition (none are closer than that).
  const before = instant - 3 * 3_600_000;
  const offsetBefore = spec.wallMs(before) - before;
  if (offsetBefore === wall - instant) return true;
  const earlier = wall - offsetBefore;
  return !(earlier < instant && spec.wallMs(earlier) === wall);
}

function isUtc(timezone: string): boolean {
  return /^(Etc\/)?(UTC|GMT|UCT|Zulu|Universal|Greenwich)(\+0|-0|0)?$/i.test(timezone);
}

/**
 * A valid `timezone` as the time zone database spells it, when it names the zone in another case
 * (`europe/paris` → `Europe/Paris`, `utc` → `UTC`: one zone, one spelling in lists and filters); an
 * alias stays the alias given (`Asia/Kolkata`, which ICU would turn into `Asia/Calcutta`).
 */
export function canonicalTimeZone(timezone: string): string {
  const resolved = new Intl.DateTimeFormat('en-US', { timeZone: timezone }).resolvedOptions().timeZone;
  return resolved.toLowerCase() === timezone.toLowerCase() ? resolved : timezone;
}

function isTimeZone(timezone: string): boolean {
  if (timezone.length === 0 || timezone.length > 64) return false;
  try {
    new Intl.DateTimeFormat('en-US', { timeZone: timezone });
    return true;
  } catch {
    return false;
  }
}

/**
 * The local time of an instant in `timezone`, in ms as if that local time were UTC (whole seconds).
 * Intl is slow (~30 µs a call), and offsets change only on whole minutes (every transition since
 * the 1970s), so the offset is cached per minute: a per-second schedule asks once a minute.
 */
function wallClock(timezone: string): (instant: number) => number {
  const format = new Intl.DateTimeFormat('en-US', {
    timeZone: timezone,
    hourCycle: 'h23',
    year: 'numeric',
    month: 'numeric',
    day: 'numeric',
    hour: 'numeric',
    minute: 'numeric',
    second: 'numeric',
  });
  const offsets = new Map<number, number>();
  return (instant) => {
    const second = Math.floor(instant / 1000) * 1000;
    const minute = Math.floor(instant / 60_000);
    let offset = offsets.get(minute);
    if (offset === undefined) {
      const p: Record<string, number> = {};
      for (const part of format.formatToParts(new Date(second))) if (part.type !== 'literal') p[part.type] = Number(part.value);
      const wall = Date.UTC(p.year as number, (p.month as number) - 1, p.day as number, p.hour as number, p.minute as number, p.second as number);
      offset = wall - second;
      if (offsets.size >= 10_000) offsets.clear();
      offsets.set(minute, offset);
    }
    return second + offset;
  };
}
