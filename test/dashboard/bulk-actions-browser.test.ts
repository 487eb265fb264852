import type { Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { silentLogger } from '../../src/logger.js';
import { createBulkActionRunner, type BulkActionRunner } from '../../src/queue/bulk-actions/index.js';
import { finishBulkAction, processBulkBatch } from '../../src/queue/bulk-actions/sql/process-bulk-batch.js';
import { insertBulkTasks } from '../helpers/bulk-tasks.js';
import { launchTestBrowser, requireChromium, SKIP_BROWSER, warnIfBrowserSkipped, type TestBrowser } from '../helpers/chromium.js';
import { startTestServer, type TestServer } from '../helpers/graphql.js';

warnIfBrowserSkipped('the dashboard bulk actions test');

let server: TestServer;
let runner: BulkActionRunner;
let page: Page;
let browser: TestBrowser | undefined;
let dashboard: string;
const problems: string[] = [];

const far = (): Date => new Date(Date.now() + 3_600_000);

describe.skipIf(SKIP_BROWSER)('bulk actions from the dashboard in headless Chromium', () => {
  beforeAll(async () => {
    requireChromium();
    server = await startTestServer();
    runner = createBulkActionRunner({ sql: server.sql, log: silentLogger, resultTtlMs: 60_000, batchSize: 50, pollIntervalMs: 60_000 });
    browser = await launchTestBrowser({ viewport: { width: 1480, height: 920 }, problems });
    ({ page } = browser);
    dashboard = `${server.url.slice(0, -'/graphql'.length)}/dashboard`;
  });

  afterAll(async () => {
    await runner?.stop();
    await browser?.close();
    await server?.close();
  });

  it("cancels all tasks matching the list's filter, with a live progress bar to DONE; others are untouched", async () => {
    await insertBulkTasks(server.sql, { count: 400, status: 'PENDING', name: 'bulk.page', runAfter: far() });
    await insertBulkTasks(server.sql, { count: 7, status: 'PENDING', name: 'bulk.keep', runAfter: far() });
    await page.goto(`${dashboard}?status=PENDING&name=bulk.page`);
    await page.locator('#rows tr[data-status="PENDING"]').first().waitFor();

    await page.locator('#bulk-cancel').click();
    await expect.poll(() => page.locator('#bulk-confirm').textContent()).toContain('status PENDING, task bulk.page');
    await page.locator('#bulk-confirm button[data-action="confirm"]').click();
    await page.locator('#bulk-progress[data-status="RUNNING"]').waitFor();
    expect(await page.locator('#bulk-progress [data-field="counts"]').textContent()).toBe('0 / 400 processed · 0 cancelled');

    // The runner's batches one at a time, each awaited on the page: the bar shows every version.
    // (The runner itself can do all eight between two of the page's reads, which is fine for a
    // user but would make "the bar moves" a race; the second test runs the runner end to end.)
    const [action] = await server.sql<{ id: string }[]>`SELECT id FROM bulk_actions WHERE status = 'RUNNING'`;
    if (!action) throw new Error('no RUNNING bulk action');
    const counts = page.locator('#bulk-progress [data-field="counts"]');
    for (let done = 50; done <= 400; done += 50) {
      const batch = await processBulkBatch(server.sql, { actionId: action.id, kind: 'CANCEL', limit: 50, defaultTtlMs: 60_000 });
      expect(batch.processed).toBe(50);
      await counts.filter({ hasText: `${done} / 400 processed · ${done} cancelled` }).waitFor();
      expect(await page.locator('#bulk-progress').getAttribute('data-status')).toBe('RUNNING');
    }
    expect(await finishBulkAction(server.sql, action.id)).toBe(true);
    await page.locator('#bulk-progress[data-status="DONE"]').waitFor();
    expect(await counts.textContent()).toBe('400 / 400 processed · 400 cancelled');
    expect(await page.locator('#bulk-progress progress').getAttribute('value')).toBe('400');
    const stored = await server.sql`SELECT name, status, count(*)::int AS n FROM tasks GROUP BY name, status ORDER BY name`;
    expect(stored.map((r) => `${r.name}:${r.status}:${r.n}`)).toEqual(['bulk.keep:PENDING:7', 'bulk.page:CANCELLED:400']);
  });

  it('retries the failed tasks of a queue; "Keep them" first changes nothing', async () => {
    await runner.start();
    await insertBulkTasks(server.sql, { count: 60, status: 'FAILED', name: 'bulk.fail', queue: 'bulk-q', runAfter: far() });
    await page.goto(`${dashboard}?status=FAILED&queue=bulk-q`);
    await page.locator('#rows tr[data-status="FAILED"]').first().waitFor();
    await page.locator('#bulk-retry').click();
    await page.locator('#bulk-confirm button[data-action="dismiss"]').click();
    expect(await page.locator('#bulk-confirm').isHidden()).toBe(true);
    // Escape answers "Keep them" too, which has the focus.
    await page.locator('#bulk-retry').click();
    expect(await page.evaluate(() => (document.activeElement as HTMLElement | null)?.dataset.action)).toBe('dismiss');
    await page.keyboard.press('Escape');
    expect(await page.locator('#bulk-confirm').isHidden()).toBe(true);
    const [before] = await server.sql`SELECT count(*)::int AS n FROM bulk_actions WHERE kind = 'RETRY'`;
    expect(before?.n).toBe(0);

    await page.locator('#bulk-retry').click();
    await page.locator('#bulk-confirm button[data-action="confirm"]').click();
    await page.locator('#bulk-progress[data-status="DONE"]').waitFor();
    expect(await page.locator('#bulk-progress [data-field="counts"]').textContent()).toBe('60 / 60 processed · 60 retried');
    const [left] = await server.sql`SELECT count(*)::int AS n FROM tasks WHERE queue = 'bulk-q' AND status = 'PENDING'`;
    expect(left?.n).toBe(60);
    expect(problems).toEqual([]);
  });
});
