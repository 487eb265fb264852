import { describe, expect, it } from 'vitest';

interface Event {
  version: number;
  type: string;
  status: string;
  output?: unknown;
  error?: { exceptionType: string; message: string } | null;
  progress?: { current: number | null; total: number | null; message: string | null } | null;
}
interface Log {
  limit: number;
  after: number;
  last: number;
  events: Event[];
}

/** The browser module, loaded in Node: it touches no DOM. */
const timeline = (await import('../../src/dashboard/timeline.js' as string)) as {
  LATEST: number;
  createLog(after?: number, limit?: number): Log;
  appendEvents(log: Log, events: Event[]): { added: Event[]; dropped: Event[] };
  earlierPage(log: Log, size?: number): { after: number; first: number } | null;
  prependEvents(log: Log, events: Event[]): Event[];
  isTruncation(output: unknown): boolean;
  outputText(output: unknown): string;
  eventNote(event: Event, max?: number): string;
};

const event = (version: number, type = 'OUTPUT', status = 'RUNNING', extra: Partial<Event> = {}): Event => ({ version, type, status, ...extra });
const range = (from: number, to: number): Event[] => Array.from({ length: to - from + 1 }, (_, i) => event(from + i));
const versions = (log: Log): number[] => log.events.map((e) => e.version);

describe('appendEvents (timeline.js)', () => {
  it('appends each version once, in order, whatever is sent twice', () => {
    const log = timeline.createLog();
    expect(timeline.appendEvents(log, range(1, 3)).added.map((e) => e.version)).toEqual([1, 2, 3]);
    // A resumed stream that repeats itself (it should not) shows nothing twice.
    expect(timeline.appendEvents(log, range(2, 5)).added.map((e) => e.version)).toEqual([4, 5]);
    expect([versions(log), log.last, log.after]).toEqual([[1, 2, 3, 4, 5], 5, 0]);
  });

  it('starts after a version and resumes from the last one held', () => {
    const log = timeline.createLog(40);
    expect(log.last).toBe(40);
    timeline.appendEvents(log, [event(41), event(42)]);
    expect([log.after, log.last]).toEqual([40, 42]);
  });

  it('keeps a window of the newest events: the oldest leave, and it knows how many are before it', () => {
    const log = timeline.createLog(0, 3);
    timeline.appendEvents(log, range(1, 2));
    const { added, dropped } = timeline.appendEvents(log, range(3, 6));
    expect([added.length, dropped.map((e) => e.version)]).toEqual([4, [1, 2, 3]]);
    expect([versions(log), log.after]).toEqual([[4, 5, 6], 3]);
  });
});

describe('earlierPage and prependEvents (timeline.js)', () => {
  it('reads the page that ends just before the oldest event held, and widens the window by it', () => {
    const log = timeline.createLog(2500, 3);
    timeline.appendEvents(log, range(2501, 2503));
    expect(timeline.earlierPage(log, 1000)).toEqual({ after: 1500, first: 1000 });
    expect(timeline.prependEvents(log, range(1501, 2500)).length).toBe(1000);
    expect([log.after, log.limit, log.events.length]).toEqual([1500, 1003, 1003]);
    // New events no longer push the loaded ones out at once.
    timeline.appendEvents(log, [event(2504)]);
    expect([log.events[0]?.version, log.after]).toEqual([1502, 1501]);
    expect(timeline.earlierPage(log, 1000)).toEqual({ after: 501, first: 1000 });
    const small = timeline.createLog(7);
    expect(timeline.earlierPage(small, 1000)).toEqual({ after: 0, first: 7 });
    expect(timeline.earlierPage(timeline.createLog(0), 1000)).toBeNull();
  });

  it('refuses a page that does not end where the log starts (the window moved meanwhile)', () => {
    const log = timeline.createLog(10);
    timeline.appendEvents(log, range(11, 12));
    expect(timeline.prependEvents(log, range(1, 9))).toEqual([]);
    expect(timeline.prependEvents(log, [])).toEqual([]);
    expect(log.after).toBe(10);
    expect(timeline.prependEvents(log, range(5, 12)).map((e) => e.version)).toEqual([5, 6, 7, 8, 9, 10]);
    expect(versions(log)).toEqual([5, 6, 7, 8, 9, 10, 11, 12]);
  });
});

describe('outputText, isTruncation, eventNote (timeline.js)', () => {
  it('shows a string as it is, an object by its text, anything else as JSON', () => {
    expect(timeline.outputText('a line\n')).toBe('a line\n');
    expect(timeline.outputText({ i: 1, text: 'chunk 1 of 50' })).toBe('chunk 1 of 50');
    expect(timeline.outputText({ text: 42 })).toBe('{"text":42}');
    expect(timeline.outputText([1, 'two'])).toBe('[1,"two"]');
    expect(timeline.outputText(null)).toBe('null');
    expect(timeline.outputText(3.5)).toBe('3.5');
  });

  it('knows the truncation marker, and only it', () => {
    expect(timeline.isTruncation({ truncated: true })).toBe(true);
    expect(timeline.isTruncation({ truncated: true, text: 'mine' })).toBe(false);
    expect(timeline.isTruncation({ truncated: 'yes' })).toBe(false);
    expect(timeline.isTruncation('truncated')).toBe(false);
  });

  it('notes an event by its error, its output or its progress', () => {
    const error = { exceptionType: 'DemoFailure', message: 'nope' };
    expect(timeline.eventNote(event(4, 'FAILED', 'FAILED', { error }))).toBe('DemoFailure: nope');
    expect(timeline.eventNote(event(5, 'OUTPUT', 'RUNNING', { output: { truncated: true } }))).toBe('output truncated (MAX_OUTPUT_BYTES)');
    expect(timeline.eventNote(event(5, 'OUTPUT', 'RUNNING', { output: 'x'.repeat(200) }), 10)).toBe(`${'x'.repeat(9)}…`);
    expect(timeline.eventNote(event(6, 'PROGRESS', 'RUNNING', { progress: { current: 3, total: null, message: 'step 3' } }))).toBe('3/? · step 3');
    expect(timeline.eventNote(event(1, 'ENQUEUED', 'PENDING'))).toBe('');
  });
});

/** format.js, the dashboard's JSON rendering: a pure module too. */
const format = (await import('../../src/dashboard/format.js' as string)) as {
  json(value: unknown): string;
  inlineJson(value: unknown, max?: number): string;
};

describe('format.json and format.inlineJson', () => {
  const BIDI = /[\u202a-\u202e\u2066-\u2069]/;

  it('shows bidi embeddings, overrides and isolates escaped, so a value cannot reverse the rest of its line', () => {
    const args = ['\u202eevil', { 'k\u2067': '\u202a\u202b\u202c\u202d\u2066\u2068\u2069' }];
    for (const text of [format.json(args), format.inlineJson(args, 500)]) {
      expect(text).not.toMatch(BIDI);
      expect(text).toContain('"\\u202eevil"');
      expect(JSON.parse(text)).toEqual(args); // still the same JSON
    }
    expect(format.inlineJson(['\u202eevil'])).toBe('["\\u202eevil"]');
  });

  it('clips a long value without cutting a surrogate pair', () => {
    // `"` and 77 x put the emoji's two halves at code units 78 and 79, across the cut at max - 1.
    const text = format.inlineJson(`${'x'.repeat(77)}😀 and more`, 80);
    expect(text.endsWith('…')).toBe(true);
    expect(text.length).toBeLessThanOrEqual(80);
    expect(text).not.toMatch(/[\ud800-\udbff](?![\udc00-\udfff])|(?<![\ud800-\udbff])[\udc00-\udfff]/);
    expect(format.inlineJson(`${'x'.repeat(76)}😀 and more`, 80)).toBe(`"${'x'.repeat(76)}😀…`);
  });
});
