import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { chromium, type BrowserContext, type Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { CHROMIUM, CHROMIUM_ARGS, requireChromium, SKIP_BROWSER, warnIfBrowserSkipped } from '../helpers/chromium.js';
import { insertTask } from '../helpers/factories.js';
import { startTestServer, type TestServer } from '../helpers/graphql.js';

warnIfBrowserSkipped('the dashboard clock test');

/**
 * Elapsed times on the dashboard are measured on the database's clock, whatever the browser's says.
 * A clock-skew tester saw a task running for 14 s as "0 ms" in a browser 5 min behind and "5 m 23 s"
 * in one 5 min ahead: the page subtracted a database stamp from the browser's Date.now().
 */

/** The browser's clock `skewMs` off: every Date the page makes (new Date(), Date.now()); the rest of Date as it is. */
function skewClock(skewMs: number): void {
  const Real = Date;
  class Skewed extends Real {
    constructor(...args: unknown[]) {
      if (args.length === 0) super(Real.now() + skewMs);
      else super(...(args as [string]));
    }

    static override now(): number {
      return Real.now() + skewMs;
    }
  }
  globalThis.Date = Skewed as DateConstructor;
}

/** A duration as format.js writes it (850 ms, 14.2 s, 5 m 23 s, 2 h 10 m), in ms. */
function parseDuration(text: string): number {
  const units: Record<string, number> = { ms: 1, s: 1000, m: 60_000, h: 3_600_000, d: 86_400_000 };
  const parts = [...text.matchAll(/([\d.]+)\s*(ms|s|m|h|d)\b/g)];
  if (parts.length === 0) throw new Error(`not a duration: ${JSON.stringify(text)}`);
  return parts.reduce((sum, [, n, unit]) => sum + Number(n) * (units[unit as string] as number), 0);
}

let server: TestServer;
let context: BrowserContext;
let profile: string;
let base: string;
/** A task RUNNING since 14 s before the test began, by the database's clock. */
let running: { id: string; since: number };
const problems: string[] = [];

describe.skipIf(SKIP_BROWSER)("the dashboard's elapsed times in a browser whose clock is off", () => {
  beforeAll(async () => {
    requireChromium();
    // No runner: the task stays RUNNING, held by a worker that is not there (its lease outlasts the test).
    server = await startTestServer({ runner: false });
    base = server.url.slice(0, -'/graphql'.length);
    const task = await insertTask(server.sql, { status: 'RUNNING', name: 'demo.sleep', leaseMs: 600_000 });
    // Started 14 s ago: a direct UPDATE, as setEnqueuedAt does (the statements stamp the clock's now).
    const [row] = await server.sql`UPDATE tasks SET started_at = clock_timestamp() - interval '14 seconds', last_attempted_at = clock_timestamp() - interval '14 seconds' WHERE id = ${task.id} RETURNING last_attempted_at AS at`;
    running = { id: task.id, since: (row?.at as Date).getTime() };
    profile = await mkdtemp(path.join(tmpdir(), 'taskwire-chromium-'));
    context = await chromium.launchPersistentContext(profile, { executablePath: CHROMIUM, headless: true, args: CHROMIUM_ARGS, viewport: { width: 1280, height: 720 } });
  });

  afterAll(async () => {
    await context?.close();
    if (profile) await rm(profile, { recursive: true, force: true });
    await server?.close();
  });

  async function openSkewed(skewMs: number): Promise<Page> {
    const page = await context.newPage();
    page.setDefaultTimeout(10_000);
    page.on('pageerror', (error) => problems.push(`pageerror: ${error.message}`));
    page.on('console', (message) => {
      if (message.type() === 'error') problems.push(`console: ${message.text()}`);
    });
    await page.addInitScript(skewClock, skewMs);
    await page.goto(`${base}/dashboard`);
    expect(await page.evaluate(() => Date.now()) - Date.now()).toBeGreaterThan(skewMs - 5000);
    return page;
  }

  /**
   * The run time the row shows against the truth (this process and the database share a clock):
   * the page writes it at most a tick (1 s) before it is read, the truth moves while it is read,
   * and the page's estimate of the database's clock is right within half the round trip it rests
   * on (clock.js), which a loaded machine stretches past any fixed allowance.
   */
  async function shownAgainstTruth(page: Page): Promise<{ shown: number; low: number; high: number }> {
    const cell = page.locator(`#rows tr[data-id="${running.id}"] .elapsed`);
    // A string: vitest would rewrite an import() written in a function for Node.
    const error = await page.evaluate<number>("import('/dashboard/clock.js').then((clock) => clock.serverClockError())");
    expect(error).toBeLessThan(5_000);
    const slack = error + 100;
    const before = Date.now();
    const shown = parseDuration((await cell.textContent()) ?? '');
    const after = Date.now();
    return { shown, low: before - running.since - 1100 - slack, high: after - running.since + slack };
  }

  it.each([
    ['5 minutes behind', -300_000],
    ['5 minutes ahead', 300_000],
  ] as const)("shows a running task's run time within a second of the truth with the browser's clock %s", async (_label, skewMs) => {
    const page = await openSkewed(skewMs);
    const cell = page.locator(`#rows tr[data-id="${running.id}"] .elapsed`);
    await cell.waitFor();
    const drawn = await shownAgainstTruth(page);
    expect(drawn.shown).toBeGreaterThanOrEqual(drawn.low);
    expect(drawn.shown).toBeLessThanOrEqual(drawn.high);
    // And as it ticks (app.js updates .elapsed every second): the next value written.
    const first = await cell.textContent();
    await page.waitForFunction(([selector, text]) => document.querySelector(selector as string)?.textContent !== text, [`#rows tr[data-id="${running.id}"] .elapsed`, first]);
    const ticked = await shownAgainstTruth(page);
    expect(ticked.shown).toBeGreaterThanOrEqual(ticked.low);
    expect(ticked.shown).toBeLessThanOrEqual(ticked.high);
    await page.close();
    expect(problems).toEqual([]);
  });
});
