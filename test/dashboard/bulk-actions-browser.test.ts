import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { chromium, type BrowserContext, type Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { silentLogger } from '../../src/logger.js';
import { createBulkActionRunner, type BulkActionRunner } from '../../src/queue/bulk-actions/index.js';
import { insertBulkTasks } from '../helpers/bulk-tasks.js';
import { CHROMIUM, CHROMIUM_ARGS, requireChromium, SKIP_BROWSER, warnIfBrowserSkipped } from '../helpers/chromium.js';
import { startTestServer, type TestServer } from '../helpers/graphql.js';

warnIfBrowserSkipped('the dashboard bulk actions test');

let server: TestServer;
let runner: BulkActionRunner;
let context: BrowserContext;
let page: Page;
let profile: string;
let dashboard: string;
const problems: string[] = [];

const far = (): Date => new Date(Date.now() + 3_600_000);

describe.skipIf(SKIP_BROWSER)('bulk actions from the dashboard in headless Chromium', () => {
  beforeAll(async () => {
    requireChromium();
    server = await startTestServer();
    // Small batches: the action takes several versions, which the bar shows one by one.
    runner = createBulkActionRunner({ sql: server.sql, catalog: server.deps.registry, log: silentLogger, resultTtlMs: 60_000, batchSize: 50, pollIntervalMs: 60_000 });
    profile = await mkdtemp(path.join(tmpdir(), 'taskwire-chromium-'));
    context = await chromium.launchPersistentContext(profile, { executablePath: CHROMIUM, headless: true, args: CHROMIUM_ARGS, viewport: { width: 1480, height: 920 } });
    page = context.pages()[0] ?? (await context.newPage());
    page.setDefaultTimeout(10_000);
    page.on('pageerror', (error) => problems.push(`pageerror: ${error.message}`));
    page.on('console', (message) => {
      if (message.type() === 'error') problems.push(`console: ${message.text()}`);
    });
    dashboard = `${server.url.slice(0, -'/graphql'.length)}/dashboard`;
  });

  afterAll(async () => {
    await runner?.stop();
    await context?.close();
    if (profile) await rm(profile, { recursive: true, force: true });
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

    // Every version the page shows, until DONE: the bar moves, it does not just jump to the end.
    const seen = page.evaluate(
      () =>
        new Promise<string[]>((resolve) => {
          const panel = document.getElementById('bulk-progress') as HTMLElement;
          const shown: string[] = [];
          new MutationObserver(() => {
            const text = panel.querySelector('[data-field="counts"]')?.textContent ?? '';
            if (shown.at(-1) !== text) shown.push(text);
            if (panel.dataset.status !== 'RUNNING') resolve(shown);
          }).observe(panel, { childList: true, subtree: true, attributes: true });
        }),
    );
    await runner.start();
    const texts = await seen;
    expect(texts.at(-1)).toBe('400 / 400 processed · 400 cancelled');
    expect(texts.length).toBeGreaterThan(2);
    expect(await page.locator('#bulk-progress').getAttribute('data-status')).toBe('DONE');
    expect(await page.locator('#bulk-progress progress').getAttribute('value')).toBe('400');
    const counts = await server.sql`SELECT name, status, count(*)::int AS n FROM tasks GROUP BY name, status ORDER BY name`;
    expect(counts.map((r) => `${r.name}:${r.status}:${r.n}`)).toEqual(['bulk.keep:PENDING:7', 'bulk.page:CANCELLED:400']);
  });

  it('retries the failed tasks of a queue; "Keep them" first changes nothing', async () => {
    await insertBulkTasks(server.sql, { count: 60, status: 'FAILED', name: 'bulk.fail', queue: 'bulk-q', runAfter: far() });
    await page.goto(`${dashboard}?status=FAILED&queue=bulk-q`);
    await page.locator('#rows tr[data-status="FAILED"]').first().waitFor();
    await page.locator('#bulk-retry').click();
    await page.locator('#bulk-confirm button[data-action="dismiss"]').click();
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
