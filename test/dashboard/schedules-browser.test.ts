import { readFileSync } from 'node:fs';
import type { Page } from 'playwright-core';
import { buildSchema, parse, validate } from 'graphql';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createClient, type TaskwireClient } from '../../src/client/index.js';
import { startTestServer, type TestServer } from '../helpers/graphql.js';
import { launchTestBrowser, requireChromium, SKIP_BROWSER, warnIfBrowserSkipped, type TestBrowser } from '../helpers/chromium.js';

warnIfBrowserSkipped('the dashboard schedules test');

describe('the schedules panel\'s operations', () => {
  it('are valid against schema/schema.graphql', async () => {
    const panel = (await import('../../src/dashboard/schedules.js' as string)) as Record<string, unknown>;
    const schema = buildSchema(readFileSync('schema/schema.graphql', 'utf8'));
    const documents = Object.entries(panel).filter(([, v]) => typeof v === 'string' && /^(query|mutation) /.test(v));
    expect(documents.map(([name]) => name).sort()).toEqual(['PAUSE', 'RESUME', 'SCHEDULES', 'TRIGGER']);
    for (const [name, text] of documents) expect([name, validate(schema, parse(text as string)).map((e) => e.message)]).toEqual([name, []]);
  });
});

let server: TestServer;
let client: TaskwireClient;
let page: Page;
let browser: TestBrowser | undefined;
const problems: string[] = [];

/** The browser's zone in this file. */
const BROWSER_ZONE = 'America/New_York';

/** How `iso` reads in BROWSER_ZONE: its clock (`21:00:00`) and the zone's short name there (`EST`, or `EDT` in summer). */
function inBrowserZone(iso: string): { clock: string; zone: string } {
  const parts = new Intl.DateTimeFormat('en-US', { timeZone: BROWSER_ZONE, hour: '2-digit', minute: '2-digit', second: '2-digit', hourCycle: 'h23', timeZoneName: 'short' }).formatToParts(new Date(iso));
  const part = (type: string): string => parts.find((p) => p.type === type)?.value ?? '';
  return { clock: `${part('hour')}:${part('minute')}:${part('second')}`, zone: part('timeZoneName') };
}

const row = (key: string) => page.locator(`#schedule-rows tr[data-key="${key}"]`);

describe.skipIf(SKIP_BROWSER)('the dashboard schedules panel in headless Chromium', () => {
  beforeAll(async () => {
    requireChromium();
    server = await startTestServer({ runner: { pollIntervalMs: 50, concurrency: 2 } });
    client = createClient({ url: server.url });
    await client.upsertSchedule({ key: 'nightly-report', cron: '0 3 * * *', timezone: 'Europe/Paris', task: { name: 'demo.echo', args: ['report'] } });
    // A zone that is not the machine's (UTC here) and not the schedule's: a time shown without its zone could be any of the three.
    browser = await launchTestBrowser({ viewport: { width: 1480, height: 920 }, locale: 'en-US', timezoneId: BROWSER_ZONE, problems });
    ({ page } = browser);
    await page.goto(`${server.url.slice(0, -'/graphql'.length)}/dashboard`);
  });

  afterAll(async () => {
    await browser?.close();
    await client?.close();
    await server?.close();
  });

  it('lists a schedule: key, cron, time zone, task, next run; no last run yet', async () => {
    await row('nightly-report').waitFor();
    const cells = await row('nightly-report').locator('td').allTextContents();
    expect(cells.slice(0, 4)).toEqual(['nightly-report', '0 3 * * *', 'Europe/Paris', 'demo.echo']);
    const next = (await client.schedule('nightly-report'))?.nextRunAt;
    expect(await row('nightly-report').locator('td[data-field="next"]').getAttribute('title')).toBe(next);
    expect(await row('nightly-report').locator('td[data-field="last"]').textContent()).toBe('—');
    expect(await row('nightly-report').getAttribute('data-paused')).toBe('false');
  });

  it('pauses and resumes from its row: the stored schedule follows', async () => {
    await row('nightly-report').locator('button[data-action="pause"]').click();
    await page.locator('#schedule-rows tr[data-key="nightly-report"][data-paused="true"]').waitFor();
    expect((await client.schedule('nightly-report'))?.paused).toBe(true);
    expect(await row('nightly-report').locator('td[data-field="next"]').textContent()).toBe('—');
    await row('nightly-report').locator('button[data-action="resume"]').click();
    await page.locator('#schedule-rows tr[data-key="nightly-report"][data-paused="false"]').waitFor();
    expect((await client.schedule('nightly-report'))?.paused).toBe(false);
  });

  it("runs it now: its last task's status shows, and links to the task's detail", async () => {
    await row('nightly-report').locator('button[data-action="trigger"]').click();
    const link = row('nightly-report').locator('td[data-field="lastTask"] a.task-link');
    await link.waitFor();
    const id = (await client.schedule('nightly-report'))?.lastTask?.id as string;
    expect(await link.getAttribute('href')).toBe(`#task=${id}`);
    // The runner finishes it; the panel's next read shows SUCCEEDED.
    await row('nightly-report').locator('td[data-field="lastTask"] .badge[data-status="SUCCEEDED"]').waitFor();
    await link.click();
    await page.locator(`#detail .detail-body[data-id="${id}"]`).waitFor();
  });

  it("names the browser's zone in its times, as the task list and detail do: next and last run read in that zone", async () => {
    const next = row('nightly-report').locator('td[data-field="next"]');
    const last = row('nightly-report').locator('td[data-field="last"]');
    await last.filter({ hasText: /\d/ }).waitFor();
    const shown = async (cell: typeof next): Promise<[string, string]> => [(await cell.textContent()) ?? '', (await cell.getAttribute('title')) ?? ''];
    for (const [text, iso] of [await shown(next), await shown(last)]) {
      const { clock, zone } = inBrowserZone(iso);
      expect(zone).toMatch(/^E[SD]T$/);
      expect(text).toMatch(new RegExp(`${clock} ${zone}$`));
    }
    // The same formatter elsewhere: the last task's row (Enqueued) and its detail (Enqueued, to the ms).
    const id = (await client.schedule('nightly-report'))?.lastTask?.id as string;
    const enqueued = page.locator(`#rows tr[data-id="${id}"] td[title]`).first();
    await enqueued.waitFor();
    const listed = inBrowserZone((await enqueued.getAttribute('title')) ?? '');
    expect(await enqueued.textContent()).toMatch(new RegExp(`${listed.clock} ${listed.zone}$`));
    await page.evaluate((taskId) => (location.hash = `#task=${taskId}`), id);
    const field = page.locator(`#detail .detail-body[data-id="${id}"] dt:text-is("Enqueued") + dd`);
    await field.waitFor();
    expect(await field.textContent()).toMatch(new RegExp(`${listed.clock}\\.\\d{3} ${listed.zone}$`));
    await page.evaluate(() => (location.hash = ''));
  });

  // Beside an open detail (480 px for a task, up to 760 px for a workflow's graph) the panel has
  // 600-900 px at 1400-1600 px: every column and button must show without scrolling sideways.
  it.each([1400, 1500, 1600])('fits beside an open task or workflow detail at %i px: no column clipped, no sideways scroll', async (width) => {
    await client.upsertSchedule({ key: 'nightly-report-for-every-customer-account', cron: '*/15 9-17 * * 1-5', timezone: 'America/Argentina/Buenos_Aires', task: { name: 'demo.echo' } });
    await client.triggerSchedule('nightly-report-for-every-customer-account');
    // Another tenant's row names its tenant under the key: that line must fit too.
    await client.upsertSchedule({ key: 'weekly-digest', cron: '0 8 * * 1', tenant: 'acme-corporation-europe-west', task: { name: 'demo.echo' } });
    const task = await client.triggerSchedule('nightly-report');
    const workflow = await client.enqueueWorkflow({ steps: [{ ref: 'a', task: { name: 'demo.echo' } }] });
    await page.setViewportSize({ width, height: 920 });
    for (const hash of [`#task=${task.id}`, `#workflow=${workflow.id}`]) {
      await page.evaluate((h) => (location.hash = h), hash);
      await page.locator('#detail:not([hidden])').waitFor();
      await row('nightly-report-for-every-customer-account').locator('td[data-field="lastTask"] a.task-link').waitFor();
      await row('weekly-digest').locator('[data-field="tenant"]').waitFor();
      const fit = await page.evaluate(() => {
        const panel = document.getElementById('schedules') as HTMLElement;
        const box = panel.getBoundingClientRect();
        const outside = [...panel.querySelectorAll('th, td, button')].filter((cell) => {
          const r = cell.getBoundingClientRect();
          return r.width > 0 && (r.left < box.left - 0.5 || r.right > box.right + 0.5);
        });
        return { scroll: panel.scrollWidth - panel.clientWidth, outside: outside.map((c) => c.textContent) };
      });
      if (process.env.SCHEDULES_SCREENSHOTS) await page.screenshot({ path: `${process.env.SCHEDULES_SCREENSHOTS}/schedules-${width}-${hash.slice(1).split('=')[0]}.png` });
      expect([hash.split('=')[0], fit]).toEqual([hash.split('=')[0], { scroll: 0, outside: [] }]);
    }
    await page.evaluate(() => (location.hash = ''));
  });

  it('shows a schedule made elsewhere within a poll, its key as text, never as markup', async () => {
    const key = 'x<img src=x onerror="window.__xss=1">';
    await client.upsertSchedule({ key, cron: '*/5 * * * * *', task: { name: 'demo.echo' } });
    await page.locator('#schedule-rows td.name').filter({ hasText: key }).waitFor({ timeout: 10_000 });
    expect(await page.locator('img').count()).toBe(0);
    expect(await page.evaluate(() => (window as unknown as { __xss?: number }).__xss)).toBeUndefined();
    expect(problems).toEqual([]);
  });

  // Auth off: the viewer ('default') sees every tenant's schedules. The same key in two tenants is
  // two rows; each row's buttons act on its own (tenant, key), never on the key in the viewer's tenant.
  it("names another tenant's schedule under its key, and pauses, resumes and runs that one, not the viewer's of the same key", async () => {
    await client.upsertSchedule({ key: 'cleanup', cron: '30 2 * * *', task: { name: 'demo.echo', args: ['acme'] }, tenant: 'acme' });
    await client.upsertSchedule({ key: 'cleanup', cron: '30 2 * * *', task: { name: 'demo.echo', args: ['mine'] } });
    const acme = page.locator('#schedule-rows tr[data-key="cleanup"][data-tenant="acme"]');
    const mine = page.locator('#schedule-rows tr[data-key="cleanup"][data-tenant="default"]');
    await acme.waitFor();
    await mine.waitFor();
    expect(await acme.locator('td[data-field="key"] [data-field="tenant"]').textContent()).toBe('tenant acme');
    expect(await mine.locator('[data-field="tenant"]').count()).toBe(0);

    await acme.locator('button[data-action="pause"]').click();
    await page.locator('#schedule-rows tr[data-key="cleanup"][data-tenant="acme"][data-paused="true"]').waitFor();
    expect((await client.schedule('cleanup', { tenant: 'acme' }))?.paused).toBe(true);
    expect((await client.schedule('cleanup'))?.paused).toBe(false);
    expect(await page.locator('#notices .notice.error').count()).toBe(0);

    await acme.locator('button[data-action="trigger"]').click();
    await acme.locator('td[data-field="lastTask"] a.task-link').waitFor();
    const fired = await client.schedule('cleanup', { tenant: 'acme' });
    expect(fired?.lastTask).not.toBeNull();
    expect(await client.get(fired?.lastTask?.id as string)).toMatchObject({ tenant: 'acme', name: 'demo.echo' });
    expect((await client.schedule('cleanup'))?.lastTask).toBeNull();

    await acme.locator('button[data-action="resume"]').click();
    await page.locator('#schedule-rows tr[data-key="cleanup"][data-tenant="acme"][data-paused="false"]').waitFor();
    expect((await client.schedule('cleanup', { tenant: 'acme' }))?.paused).toBe(false);
    expect(problems).toEqual([]);
  });
});
