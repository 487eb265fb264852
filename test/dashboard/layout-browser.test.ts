import type { Page } from 'playwright-core';
import { z } from 'zod';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createClient, type TaskwireClient } from '../../src/client/index.js';
import { defineTask } from '../../src/worker/define-task.js';
import { launchTestBrowser, requireChromium, SKIP_BROWSER, warnIfBrowserSkipped, type TestBrowser } from '../helpers/chromium.js';
import { createGates } from '../helpers/gates.js';
import { startTestServer, type TestServer } from '../helpers/graphql.js';

warnIfBrowserSkipped('the dashboard layout test');

/**
 * The dashboard's layout at the screen sizes it is used at (1920×1080, a 1280×720 laptop, 800×600),
 * measured in the page: what must show does show, without a box of its own to scroll, and nothing
 * sits over the buttons a user clicks next.
 */

/** Task names as long as real ones get: the list must fit them too. */
const LONG_NAMES = ['billing.generate-monthly-invoices', 'emails.send-weekly-digest-to-customer', 'inventory.reconcile-warehouse-stock'];
const longTasks = LONG_NAMES.map((name) => defineTask({ name, args: z.tuple([]), run: async () => name }));

const gates = createGates();
let server: TestServer;
let client: TaskwireClient;
let page: Page;
let browser: TestBrowser | undefined;
let base: string;
let failed: string;
/** Tasks waiting in a paused queue (their rows offer Cancel), oldest first. */
const waiting: string[] = [];
const problems: string[] = [];

const SIZES = [
  [1920, 1080],
  [1280, 720],
  [800, 600],
] as const;

describe.skipIf(SKIP_BROWSER)('the dashboard layout in headless Chromium', () => {
  beforeAll(async () => {
    requireChromium();
    server = await startTestServer({ tasks: [...gates.tasks, ...longTasks], runner: { pollIntervalMs: 50, concurrency: 4 } });
    client = createClient({ url: server.url });
    base = server.url.slice(0, -'/graphql'.length);
    await client.pauseQueue('emails-transactional');
    // First: the list is newest first, so these are its lowest rows.
    for (let i = 0; i < 12; i++) waiting.push((await client.enqueue('emails.send-weekly-digest-to-customer', [], { queue: 'emails-transactional' })).id);
    failed = (await client.enqueue('demo.fail', ['for the detail'])).id;
    for (const name of LONG_NAMES) await client.wait(await client.enqueue(name, []).then((t) => t.id));
    await client.enqueue('test.gate', ['layout:running']);
    await client.wait(failed).catch(() => undefined);
    // A zone whose short name is long (GMT+5:30): every time on the page says it.
    browser = await launchTestBrowser({ viewport: { width: 1280, height: 720 }, locale: 'en-US', timezoneId: 'Asia/Kolkata', problems });
    ({ page } = browser);
  });

  afterAll(async () => {
    gates.open('layout:running');
    await browser?.close();
    await client?.close();
    await server?.close();
  });

  // A task's detail takes 480 px: at 1280 px the list has 730 px for the queue counts, the flow
  // control and the eight columns of tasks. Before, each of them scrolled sideways in its own box.
  it.each(SIZES)("shows every column of the task list, the queue counts and flow control beside a task's detail at %i×%i: nothing scrolls sideways", async (width, height) => {
    await page.setViewportSize({ width, height });
    await page.goto(`${base}/dashboard#task=${failed}`);
    await page.locator(`#detail .detail-body[data-id="${failed}"]`).waitFor();
    await page.locator(`#rows tr[data-id="${waiting[0]}"] button[data-action="cancel"]`).waitFor();
    await page.locator('#flow-rows tr[data-queue="emails-transactional"]').waitFor();
    await page.locator('#rows tr[data-status="RUNNING"]').waitFor();
    const boxes = await page.evaluate(() =>
      [...document.querySelectorAll('.list .panel, .list .table-wrap')].map((box) => {
        const outer = box.getBoundingClientRect();
        const outside = [...box.querySelectorAll('th, td, button, a')].filter((cell) => {
          const r = cell.getBoundingClientRect();
          return r.width > 0 && (r.left < outer.left - 0.5 || r.right > outer.right + 0.5);
        });
        return { box: box.id || box.className, scroll: box.scrollWidth - box.clientWidth, outside: outside.map((c) => c.textContent?.trim()) };
      }),
    );
    expect(boxes.map((b) => b.box)).toEqual(['panel', 'schedules', 'flow-control', 'table-wrap']);
    expect(boxes.filter((b) => b.scroll > 0 || b.outside.length > 0)).toEqual([]);
    expect(problems).toEqual([]);
  });

  // Cancel one row, then the one above it, and so on: each time the next button must be free. The
  // notices used to sit at the bottom right, over the Cancel/Retry of the rows at the screen's foot.
  it.each([
    [1280, 720, 0],
    [800, 600, 3],
  ] as const)("keeps notices off the rows' buttons at %i×%i: cancelling rows one after another, no button is under a notice", async (width, height, first) => {
    const targets = waiting.slice(first, first + 3);
    await page.setViewportSize({ width, height });
    await page.goto(`${base}/dashboard`);
    const row = (id: string) => page.locator(`#rows tr[data-id="${id}"]`);
    for (const id of targets) await row(id).locator('button[data-action="cancel"]').waitFor();
    // The lowest of them at the foot of the screen, where the notices were.
    await row(targets[0] as string).evaluate((tr) => tr.scrollIntoView({ block: 'end' }));
    expect(await row(targets[0] as string).evaluate((tr) => Math.abs(innerHeight - tr.getBoundingClientRect().bottom))).toBeLessThan(1);
    /** Buttons whose middle is on screen but whose click would land on something else. */
    const covered = (): Promise<string[]> =>
      page.locator('#rows button, .pager button').evaluateAll((buttons) =>
        buttons.flatMap((button) => {
          const r = button.getBoundingClientRect();
          const x = r.left + r.width / 2;
          const y = r.top + r.height / 2;
          if (r.width === 0 || y < 0 || y > innerHeight || x < 0 || x > innerWidth) return [];
          const hit = document.elementFromPoint(x, y);
          return hit && button.contains(hit) ? [] : [`${button.getAttribute('aria-label') ?? button.textContent} under ${hit?.className}`];
        }),
      );
    for (const id of targets) {
      expect(await covered()).toEqual([]);
      await row(id).locator('button[data-action="cancel"]').click();
      await page.locator('#notices .notice').filter({ hasText: id.slice(-8) }).waitFor();
    }
    expect(await covered()).toEqual([]);
    expect(problems).toEqual([]);
  });

  // Scrolled to the bottom, the notices (at the bottom left since the buttons are on the right) sat
  // over "⇤ Newest" and "← Newer" and over the names of the last rows.
  it.each([
    [1280, 720, 8],
    [800, 600, 10],
  ] as const)('keeps notices off every control at %i×%i with the page scrolled to the bottom: the pager, the last rows', async (width, height, first) => {
    const targets = waiting.slice(first, first + 2);
    await page.setViewportSize({ width, height });
    await page.goto(`${base}/dashboard`);
    for (const id of targets) await page.locator(`#rows tr[data-id="${id}"] button[data-action="cancel"]`).waitFor();
    await page.evaluate(() => window.scrollTo(0, document.documentElement.scrollHeight));
    /** Controls on screen (links, buttons, fields) that a click at their middle or a corner would not reach. */
    const covered = (): Promise<string[]> =>
      page.evaluate(() =>
        [...document.querySelectorAll('a, button, input, select, summary')].flatMap((control) => {
          if (control.closest('#notices')) return [];
          const r = control.getBoundingClientRect();
          if (r.width === 0 || r.bottom <= 0 || r.top >= innerHeight) return [];
          const points = [[r.left + r.width / 2, r.top + r.height / 2], [r.left + 2, r.top + 2], [r.right - 2, r.bottom - 2], [r.left + 2, r.bottom - 2]];
          const hidden = points.filter(([x, y]) => {
            if ((y as number) < 0 || (y as number) >= innerHeight) return false;
            const hit = document.elementFromPoint(x as number, y as number);
            return !hit || !(control.contains(hit) || hit.contains(control));
          });
          const hit = hidden[0] && document.elementFromPoint(hidden[0][0] as number, hidden[0][1] as number);
          return hidden.length ? [`${control.getAttribute('aria-label') ?? control.textContent?.trim()} under ${hit?.className || hit?.tagName}`] : [];
        }),
      );
    expect(await covered()).toEqual([]);
    for (const id of targets) {
      await page.locator(`#rows tr[data-id="${id}"] button[data-action="cancel"]`).click();
      await page.locator('#notices .notice').filter({ hasText: id.slice(-8) }).waitFor();
      // The click scrolls a row above the screen's foot into view: back to the bottom, notices showing.
      await page.evaluate(() => window.scrollTo(0, document.documentElement.scrollHeight));
      expect(await page.evaluate(() => innerHeight + scrollY >= document.documentElement.scrollHeight - 1)).toBe(true);
      expect(await covered()).toEqual([]);
    }
    await page.screenshot({ path: `test-artifacts/dashboard-notices-${width}.png` }).catch(() => undefined);
    expect(problems).toEqual([]);
  });
});
