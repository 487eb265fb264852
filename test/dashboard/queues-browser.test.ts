import { readFileSync } from 'node:fs';
import type { Page } from 'playwright-core';
import { buildSchema, parse, validate } from 'graphql';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createClient, type TaskwireClient } from '../../src/client/index.js';
import { startTestServer, type TestServer } from '../helpers/graphql.js';
import { waitFor } from '../helpers/wait.js';
import { launchTestBrowser, requireChromium, SKIP_BROWSER, warnIfBrowserSkipped, type TestBrowser } from '../helpers/chromium.js';

warnIfBrowserSkipped('the dashboard flow-control test');

describe("the flow-control panel's operations", () => {
  it('are valid against schema/schema.graphql', async () => {
    const panel = (await import('../../src/dashboard/queues.js' as string)) as Record<string, unknown>;
    const schema = buildSchema(readFileSync('schema/schema.graphql', 'utf8'));
    const documents = Object.entries(panel).filter(([, v]) => typeof v === 'string' && /^(query|mutation) /.test(v));
    expect(documents.map(([name]) => name).sort()).toEqual(['PAUSE', 'QUEUES', 'RESUME']);
    for (const [name, text] of documents) expect([name, validate(schema, parse(text as string)).map((e) => e.message)]).toEqual([name, []]);
  });
});

let server: TestServer;
let client: TaskwireClient;
let page: Page;
let browser: TestBrowser | undefined;
let taskId: string;
const problems: string[] = [];

const row = (queue: string) => page.locator(`#flow-rows tr[data-queue="${queue}"]`);

describe.skipIf(SKIP_BROWSER)('the dashboard flow-control panel in headless Chromium', () => {
  beforeAll(async () => {
    requireChromium();
    server = await startTestServer({ runner: { pollIntervalMs: 50, concurrency: 2 } });
    client = createClient({ url: server.url });
    await client.pauseQueue('mail');
    await client.setQueueLimits('mail', { concurrency: 3, rateLimit: { max: 50, perMs: 1000 }, perKeyConcurrency: 1 });
    taskId = (await client.enqueue('demo.echo', ['hello'], { queue: 'mail' })).id;
    browser = await launchTestBrowser({ viewport: { width: 1480, height: 920 }, problems });
    ({ page } = browser);
    await page.goto(`${server.url.slice(0, -'/graphql'.length)}/dashboard`);
  });

  afterAll(async () => {
    await browser?.close();
    await client?.close();
    await server?.close();
  });

  it('shows a paused queue with its limits, and why its task waits (row and detail)', async () => {
    await row('mail').waitFor();
    expect(await row('mail').getAttribute('data-paused')).toBe('true');
    expect(await row('mail').locator('td[data-field="concurrency"]').textContent()).toBe('3');
    expect(await row('mail').locator('td[data-field="rate"]').textContent()).toBe('50 / 1 s');
    expect(await row('mail').locator('td[data-field="perKey"]').textContent()).toBe('1');
    const taskRow = page.locator(`tr[data-id="${taskId}"]`);
    await taskRow.waitFor();
    expect(await taskRow.locator('[data-wait-reason]').getAttribute('data-wait-reason')).toBe('QUEUE_PAUSED');
    await taskRow.locator('a.task-link').click();
    await page.locator('dl.fields dt', { hasText: 'Waiting for' }).waitFor();
    expect(await page.locator('dl.fields dt:text-is("Waiting for") + dd').textContent()).toBe('its queue, which is paused');
  });

  it("ticks the paused queue's oldest waiting age, though no change reads the counts again", async () => {
    const age = page.locator('#queue-rows tr[data-queue="mail"] td[data-field="oldest"]');
    await age.locator('.elapsed').waitFor();
    const first = await age.textContent();
    await waitFor(async () => (await age.textContent()) !== first, { timeoutMs: 5_000, message: `the age (${first}) to tick` });
  });

  it('resumes from its row: the queue runs its task, and pauses again from the row', async () => {
    await row('mail').locator('button[data-action="resume"]').click();
    await page.locator('#flow-rows tr[data-queue="mail"][data-paused="false"]').waitFor();
    await waitFor(async () => (await client.get(taskId))?.status === 'SUCCEEDED', { message: 'the resumed task to succeed' });
    await row('mail').locator('button[data-action="pause"]').click();
    await page.locator('#flow-rows tr[data-queue="mail"][data-paused="true"]').waitFor();
    expect((await client.queues()).find((q) => q.name === 'mail')?.paused).toBe(true);
    expect(problems).toEqual([]);
  });
});
