import { existsSync } from 'node:fs';
import { copyFile, mkdir } from 'node:fs/promises';
import type { BrowserContext, Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { z } from 'zod';
import { defineTask } from '../../src/worker/define-task.js';
import { waitForStatus } from '../helpers/factories.js';
import { startTestServer, type TestServer } from '../helpers/graphql.js';
import { startProxy } from '../helpers/tcp-proxy.js';
import { launchTestBrowser, requireChromium, SKIP_BROWSER, warnIfBrowserSkipped, type TestBrowser } from '../helpers/chromium.js';

warnIfBrowserSkipped('the dashboard browser test');

/** Gates `test.fail-when-told` waits on, by `key:attempt`. */
const gates = new Map<string, { opened: Promise<void>; open(): void }>();
function gate(key: string): { opened: Promise<void>; open(): void } {
  let entry = gates.get(key);
  if (!entry) {
    let open!: () => void;
    const opened = new Promise<void>((resolve) => (open = resolve));
    entry = { opened, open };
    gates.set(key, entry);
  }
  return entry;
}

/** Runs until the test opens its gate, then fails: each state lasts until the test has seen it. */
const failWhenTold = defineTask({
  name: 'test.fail-when-told',
  args: z.tuple([z.string()]),
  run: async ([key], ctx) => {
    await new Promise<void>((resolve, reject) => {
      ctx.signal.addEventListener('abort', () => reject(ctx.signal.reason), { once: true });
      void gate(`${key}:${ctx.attempt}`).opened.then(resolve);
    });
    throw new Error(`attempt ${ctx.attempt} failed, as told`);
  },
});

let server: TestServer;
let context: BrowserContext;
let page: Page;
let browser: TestBrowser | undefined;
let base: string;
/** The demo.fail task the detail test opens; the screenshot shows it. */
let detailed = '';
/** Uncaught errors and console errors of the page (a CSP violation is one). */
const problems: string[] = [];
/** Bodies of the list queries the page sent: live updates must not need them. */
const listReads: string[] = [];

async function enqueue(input: Record<string, unknown>): Promise<string> {
  const res = await server.post({ query: 'mutation($input: EnqueueTaskInput!) { enqueueTask(input: $input) { task { id } } }', variables: { input } });
  const id = (res.data as { enqueueTask: { task: { id: string } } } | undefined)?.enqueueTask.task.id;
  if (!id) throw new Error(`enqueue failed: ${JSON.stringify(res.errors)}`);
  return id;
}

const row = (id: string) => page.locator(`#rows tr[data-id="${id}"]`);

describe.skipIf(SKIP_BROWSER)('the dashboard in headless Chromium', () => {
  beforeAll(async () => {
    requireChromium();
    server = await startTestServer({ tasks: [failWhenTold], runner: { pollIntervalMs: 50, heartbeatMs: 200, leaseMs: 2000, concurrency: 4 } });
    base = server.url.slice(0, -'/graphql'.length);
    browser = await launchTestBrowser({ viewport: { width: 1480, height: 920 }, problems });
    ({ context, page } = browser);
    page.on('request', (request) => {
      const body = request.postData() ?? '';
      if (body.includes('DashboardTasks')) listReads.push(body);
    });
    await page.goto(`${base}/dashboard`);
    await page.locator('#live.on').waitFor();
    // Marks this document: a reload would lose it.
    await page.evaluate(() => Object.assign(window, { __sameDocument: true }));
  });

  afterAll(async () => {
    await browser?.close();
    await server?.close();
  });

  it('shows a task enqueued through the API, then its SUCCEEDED state, live', async () => {
    await page.locator('#page-info').filter({ hasText: 'live' }).waitFor();
    const reads = listReads.length;
    const id = await enqueue({ name: 'math.copysign', args: [1, -1] });
    await row(id).waitFor();
    await page.locator(`#rows tr[data-id="${id}"][data-status="SUCCEEDED"]`).waitFor();
    expect(await row(id).locator('td.name a').textContent()).toBe('math.copysign');
    expect(await page.locator('#rows tr').first().getAttribute('data-id')).toBe(id);
    // Through the subscription: the list was not read again, the page not reloaded.
    expect(listReads.length).toBe(reads);
    expect(await page.evaluate(() => (window as unknown as { __sameDocument?: boolean }).__sameDocument)).toBe(true);
    // The queue counts followed.
    await page.locator('#queue-rows tr[data-queue="default"] td[data-status="SUCCEEDED"]').filter({ hasText: /^[1-9]/ }).waitFor();
  });

  it('retries a failed task from its row: it goes back to PENDING/RUNNING, then fails again', async () => {
    gate('retry:1').open();
    const id = await enqueue({ name: 'test.fail-when-told', args: ['retry'] });
    await page.locator(`#rows tr[data-id="${id}"][data-status="FAILED"]`).waitFor();
    await row(id).locator('button[data-action="retry"]').click();
    // Its second attempt waits at its gate: RUNNING stays on screen until the test has seen it.
    await page.locator(`#rows tr[data-id="${id}"][data-status="RUNNING"]`).waitFor();
    expect(await row(id).locator('button[data-action="retry"]').count()).toBe(0);
    gate('retry:2').open();
    await page.locator(`#rows tr[data-id="${id}"][data-status="FAILED"] td:nth-child(4)`).filter({ hasText: '2/2' }).waitFor();
  });

  it('cancels a running demo.sleep from its row', async () => {
    const id = await enqueue({ name: 'demo.sleep', args: [60_000] });
    await page.locator(`#rows tr[data-id="${id}"][data-status="RUNNING"]`).waitFor();
    await row(id).locator('button[data-action="cancel"]').click();
    await page.locator(`#rows tr[data-id="${id}"][data-status="CANCELLED"]`).waitFor();
    expect((await server.deps.queue.getTask(id))?.status).toBe('CANCELLED');
  });

  it('runs a task delayed by an hour from its detail\'s Run now: it starts and succeeds, and the button goes', async () => {
    const id = await enqueue({ name: 'math.copysign', args: [7, -1], runAfter: new Date(Date.now() + 3_600_000).toISOString() });
    await row(id).locator('td.name a').click();
    const detail = page.locator(`#detail .detail-body[data-id="${id}"]`);
    await detail.waitFor();
    // Not in the list's row: its actions column holds two buttons.
    expect(await row(id).locator('button[data-action="run-now"]').count()).toBe(0);
    await detail.locator('button[data-action="run-now"]').click();
    // The notice says what it did (it shows for 4 s).
    await page.locator('#notices').filter({ hasText: `Due now: math.copysign ${id.slice(-8)}` }).waitFor();
    await page.locator(`#rows tr[data-id="${id}"][data-status="SUCCEEDED"]`).waitFor();
    expect(await server.deps.queue.getTask(id)).toMatchObject({ status: 'SUCCEEDED', returnValue: -7 });
    await page.locator(`#detail .detail-body[data-id="${id}"] .detail-status .badge[data-status="SUCCEEDED"]`).waitFor();
    expect(await page.locator(`#detail .detail-body[data-id="${id}"] button[data-action="run-now"]`).count()).toBe(0);
  });

  it('opens a task\'s detail: arguments, every attempt\'s error with traceback, worker ids, timing', async () => {
    const id = await enqueue({ name: 'demo.fail', args: ['detail please'], maxAttempts: 2 });
    detailed = id;
    await page.locator(`#rows tr[data-id="${id}"][data-status="FAILED"]`).waitFor();
    await row(id).locator('td.name a').click();
    const detail = page.locator(`#detail .detail-body[data-id="${id}"]`);
    await detail.waitFor();
    expect(page.url()).toContain(`#task=${id}`);
    expect(JSON.parse((await detail.locator('pre[data-field="args"]').textContent()) ?? '')).toEqual(['detail please']);
    const errors = detail.locator('ol.errors > li');
    await expect.poll(() => errors.count()).toBe(2);
    expect(await errors.locator('.error-head b').allTextContents()).toEqual(['DemoFailure', 'DemoFailure']);
    expect(await errors.locator('.error-message').allTextContents()).toEqual(['detail please', 'detail please']);
    expect(await errors.first().locator('pre.traceback').textContent()).toContain('DemoFailure: detail please');
    expect(await detail.locator('dd').allTextContents()).toContain(`${server.runner?.workerId}, ${server.runner?.workerId}`);
    expect(await row(id).getAttribute('class')).toContain('selected');
  });

  it('keeps a row\'s Retry in view on a laptop screen with a detail open: the list fits its column, no sideways scroll', async () => {
    const size = page.viewportSize();
    await page.setViewportSize({ width: 1280, height: 720 });
    try {
      await page.goto(`${base}/dashboard?status=FAILED#task=${detailed}`);
      await page.locator(`#detail .detail-body[data-id="${detailed}"]`).waitFor();
      await row(detailed).locator('button[data-action="retry"]').waitFor();
      const seen = await page.evaluate((id) => {
        const tr = document.querySelector(`#rows tr[data-id="${id}"]`) as HTMLElement;
        const wrap = tr.closest('.table-wrap') as HTMLElement;
        wrap.scrollLeft = 0;
        window.scrollTo(0, tr.getBoundingClientRect().top + window.scrollY - 200);
        const b = (tr.querySelector('button[data-action="retry"]') as HTMLElement).getBoundingClientRect();
        const w = wrap.getBoundingClientRect();
        const at = document.elementFromPoint(b.left + b.width / 2, b.top + b.height / 2);
        return { overflows: wrap.scrollWidth > wrap.clientWidth, inside: b.left >= w.left && b.right <= w.right + 1, hit: at?.getAttribute('data-action') ?? null };
      }, detailed);
      // The list fits its column (before, it scrolled sideways in its own box and only a sticky column kept the buttons in view).
      expect(seen).toEqual({ overflows: false, inside: true, hit: 'retry' });
    } finally {
      if (size) await page.setViewportSize(size);
      await page.goto(`${base}/dashboard`);
      await page.locator('#page-info').filter({ hasText: /newest of \d+ matching · live/ }).waitFor();
    }
  });

  it('looks right: a screenshot for the README', async () => {
    await enqueue({ name: 'demo.echo', args: ['hello', 42], kwargs: { greeting: true }, queue: 'emails' });
    await enqueue({ name: 'math.copysign', args: [3, -0.5], queue: 'reports' });
    const later = await enqueue({ name: 'demo.echo', args: ['tomorrow'], queue: 'reports', runAfter: new Date(Date.now() + 86_400_000).toISOString() });
    const progress = await enqueue({ name: 'demo.progress', args: [40, 150] });
    await page.locator(`#rows tr[data-id="${progress}"] .progress-label`).filter({ hasText: /^([4-9]|\d\d)\/40$/ }).waitFor();
    await row(later).waitFor();
    await page.evaluate((id) => (location.hash = `task=${id}`), detailed);
    await page.locator('#detail .detail-body').waitFor();
    // Its timeline replayed to the end: both attempts, their workers and errors.
    await page.locator('#detail .log-state.ended').waitFor();
    // Toasts of the earlier clicks are gone after a few seconds; a click dismisses them now.
    await page.locator('.notice').evaluateAll((notices) => notices.forEach((n) => (n as HTMLElement).click()));
    await mkdir('test-artifacts', { recursive: true });
    await page.screenshot({ path: 'test-artifacts/dashboard.png' });
    // The README's copy is refreshed on request only: every test run would otherwise change a committed file.
    if (!existsSync('docs/dashboard.png') || process.env.UPDATE_SCREENSHOTS === '1') await copyFile('test-artifacts/dashboard.png', 'docs/dashboard.png');
    await server.deps.queue.cancelTask(progress);
    await waitForStatus(server.deps, progress, 'CANCELLED');
  });

  it('shows task data as text, never as markup: args, kwargs, queue names, error messages', async () => {
    const payload = '<img src=x onerror="window.__xss=1"><script>window.__xss=2</script>';
    const queue = 'q<img src=x onerror="window.__xss=3">';
    const echo = await enqueue({ name: 'demo.echo', args: [payload], kwargs: { [payload]: payload }, queue });
    const failed = await enqueue({ name: 'demo.fail', args: ['<img src=x onerror="window.__xss=4">'] });
    await page.locator(`#rows tr[data-id="${echo}"][data-status="SUCCEEDED"]`).waitFor();
    await page.locator(`#rows tr[data-id="${failed}"][data-status="FAILED"]`).waitFor();
    expect(await row(echo).locator('td.queue').textContent()).toBe(queue);
    await page.locator('#queue-rows button.link').filter({ hasText: queue }).waitFor();

    await row(echo).locator('td.name a').click();
    const detail = page.locator(`#detail .detail-body[data-id="${echo}"]`);
    await detail.waitFor();
    expect(JSON.parse((await detail.locator('pre[data-field="args"]').textContent()) ?? '')).toEqual([payload]);
    expect(JSON.parse((await detail.locator('pre[data-field="kwargs"]').textContent()) ?? '')).toEqual({ [payload]: payload });
    expect(JSON.parse((await detail.locator('pre[data-field="returnValue"]').textContent()) ?? '')).toEqual({ args: [payload], kwargs: { [payload]: payload } });
    await row(failed).locator('td.name a').click();
    await page.locator(`#detail .detail-body[data-id="${failed}"] .error-message`).filter({ hasText: '<img src=x onerror="window.__xss=4">' }).waitFor();

    // No element was made from task data (the page itself has no images or inline scripts).
    expect(await page.locator('img').count()).toBe(0);
    expect(await page.locator('body script').count()).toBe(0);
    expect(await page.evaluate(() => (window as unknown as { __xss?: number }).__xss)).toBeUndefined();
    await page.locator('#detail button.close').click();
    await page.locator('#detail').waitFor({ state: 'hidden' });
  });

  it('filters by status and queue, and pages with cursors; new tasks appear only on the live first page', async () => {
    const bulk = (await server.deps.queue.enqueueMany(Array.from({ length: 25 }, (_, i) => ({ name: 'demo.echo', args: [i], queue: 'bulk' })))).map((t) => t.id);
    await page.locator('#queue-rows button.link').filter({ hasText: /^bulk$/ }).click();
    expect(new URL(page.url()).searchParams.get('queue')).toBe('bulk');
    await page.locator('#page-info').filter({ hasText: '20 newest of 25 matching' }).waitFor();
    const ids = () => page.locator('#rows tr').evaluateAll((rows) => rows.map((r) => (r as HTMLElement).dataset.id ?? ''));
    expect(await ids()).toEqual(bulk.slice(5).reverse());

    await page.locator('#older').click();
    await page.locator('#page-info').filter({ hasText: '5 page of 25' }).waitFor();
    expect(await ids()).toEqual(bulk.slice(0, 5).reverse());
    expect(await page.locator('#older').isDisabled()).toBe(true);
    const elsewhere = await enqueue({ name: 'demo.echo', args: ['not on this page'], queue: 'bulk' });
    // The counts refresh on the stream's events: once they show it done, its changes have reached the page.
    await page.locator('#queue-rows tr[data-queue="bulk"] td[data-status="SUCCEEDED"]').filter({ hasText: /^26$/ }).waitFor();
    expect(await ids()).not.toContain(elsewhere);

    // The page just before this one (by cursor), not yet the top: a task came in meanwhile.
    await page.locator('#newer').click();
    await page.locator('#page-info').filter({ hasText: '20 page of 26' }).waitFor();
    expect(await ids()).toEqual(bulk.slice(5).reverse());
    await page.locator('#newer').click();
    await page.locator('#page-info').filter({ hasText: '20 newest of 26 matching · live' }).waitFor();
    expect(await ids()).toEqual([elsewhere, ...bulk.slice(6).reverse()]);
    const next = await enqueue({ name: 'demo.echo', args: ['on top'], queue: 'bulk' });
    await page.locator('#rows tr').first().and(page.locator(`[data-id="${next}"]`)).waitFor();
    // Back to the live top in one click, however deep.
    expect(await page.locator('#newest').isDisabled()).toBe(true);
    await page.locator('#older').click();
    await page.locator('#page-info').filter({ hasText: /^\d+ page of 27/ }).waitFor();
    await page.locator('#newest').click();
    await page.locator('#page-info').filter({ hasText: '20 newest of 27 matching · live' }).waitFor();
    expect(await page.locator('#newest').isDisabled()).toBe(true);

    // Status chips: only failed tasks of every queue; then back to everything.
    await page.locator('#clear-filter').click();
    await page.locator('#status-filter button[data-status="FAILED"]').click();
    await page.locator('#page-info').filter({ hasText: /newest of \d+ matching/ }).waitFor();
    await expect.poll(() => page.locator('#rows tr').evaluateAll((rows) => [...new Set(rows.map((r) => (r as HTMLElement).dataset.status))])).toEqual(['FAILED']);
    expect(new URL(page.url()).searchParams.get('status')).toBe('FAILED');
    await page.locator('#clear-filter').click();
    await expect.poll(() => page.locator('#rows tr').count()).toBe(20);
  });

  it('keeps the rows still while the pointer moves over them: new tasks wait above, counted, and show once it rests or leaves', async () => {
    const steady = (await server.deps.queue.enqueueMany(Array.from({ length: 5 }, (_, i) => ({ name: 'demo.echo', args: [i], queue: 'steady' })))).map((t) => t.id);
    await page.goto(`${base}/dashboard?queue=steady`);
    await page.locator('#page-info').filter({ hasText: '5 newest of 5 matching' }).waitFor();
    const ids = () => page.locator('#rows tr').evaluateAll((rows) => rows.map((r) => (r as HTMLElement).dataset.id ?? ''));
    const before = await ids();
    expect(before).toEqual([...steady].reverse());
    // Aiming at the third row: the pointer keeps moving over the list while two tasks arrive.
    await row(before[2] as string).scrollIntoViewIfNeeded();
    const box = (await row(before[2] as string).boundingBox())!;
    let moving = true;
    const aim = (async () => {
      for (let dx = 0; moving; dx = (dx + 1) % 8) {
        await page.mouse.move(box.x + 40 + dx, box.y + box.height / 2);
        await new Promise((resolve) => setTimeout(resolve, 100));
      }
    })();
    let arrived: string[];
    try {
      await expect.poll(() => page.evaluate(() => document.querySelector('#rows tr:hover') !== null)).toBe(true);
      arrived = [await enqueue({ name: 'demo.echo', args: ['new 1'], queue: 'steady' }), await enqueue({ name: 'demo.echo', args: ['new 2'], queue: 'steady' })];
      await page.locator('#page-info').filter({ hasText: '2 new above' }).waitFor();
      // The row under the pointer is still the one aimed at: nothing moved.
      expect(await ids()).toEqual(before);
    } finally {
      moving = false;
      await aim;
    }
    // The pointer rests: the list lets go and shows them on top.
    await expect.poll(ids, { timeout: 10_000 }).toEqual([...arrived.reverse(), ...before]);
    expect(await page.locator('#page-info').textContent()).not.toContain('new above');
    await page.mouse.move(0, 0);
  });

  it('on a PENDING filter, a task that starts leaves the list and the count, once the pointer is not over it', async () => {
    await page.mouse.move(0, 0);
    await page.goto(`${base}/dashboard?queue=waiting-room&status=PENDING`);
    await page.locator('#empty').waitFor();
    const [a, b] = (await server.deps.queue.enqueueMany([1, 2].map((i) => ({ name: 'demo.echo', args: [i], queue: 'waiting-room', runAfter: new Date(Date.now() + 3_600_000) })))).map((t) => t.id);
    await page.locator('#page-info').filter({ hasText: '2 newest of 2 matching' }).waitFor();
    // One becomes due and runs: it no longer matches PENDING, so it leaves; the count follows.
    await server.sql`UPDATE tasks SET run_after = now() WHERE id = ${a as string}`;
    await server.deps.queue.enqueue({ name: 'demo.echo', args: ['wake'], queue: 'waiting-room', runAfter: new Date(Date.now() + 3_600_000) });
    await waitForStatus(server.deps, a as string, 'SUCCEEDED');
    await expect.poll(() => page.locator('#rows tr').evaluateAll((rows) => rows.map((r) => (r as HTMLElement).dataset.status))).toEqual(['PENDING', 'PENDING']);
    expect(await row(a as string).count()).toBe(0);
    expect(await row(b as string).count()).toBe(1);
    await page.locator('#page-info').filter({ hasText: '2 newest of 2 matching' }).waitFor();
    // Back to every task, for the tests after this one.
    await page.goto(`${base}/dashboard`);
    await page.locator('#page-info').filter({ hasText: /newest of \d+ matching · live/ }).waitFor();
  });

  it('enqueues from the form, and names the field of a refused input', async () => {
    await page.locator('#toggle-enqueue').click();
    const form = page.locator('#enqueue');
    await form.locator('input[name="name"]').fill('math.copysign');
    await form.locator('input[name="args"]').fill('[1, "x"]');
    await form.locator('button[type="submit"]').click();
    await page.locator('#enqueue-error').filter({ hasText: 'INVALID_ARGUMENTS (input.args[1])' }).waitFor();

    await form.locator('input[name="args"]').fill('[5, -2]');
    await form.locator('button[type="submit"]').click();
    await page.locator('#rows tr[data-status="SUCCEEDED"]').first().filter({ hasText: 'math.copysign' }).waitFor();
    const id = await page.locator('#rows tr').first().getAttribute('data-id');
    expect((await server.deps.queue.getTask(id ?? ''))?.returnValue).toBe(-5);
    expect(await page.locator('#enqueue-error').textContent()).toBe('');
  });

  it('says across the page since when the server is out of reach, dims what it shows, and clears once it answers again', async () => {
    // Through a proxy the test cuts: every connection reset, new ones refused. A page of its own:
    // the refused fetches are console errors the main page must not collect.
    const proxy = await startProxy(Number(new URL(server.url).port));
    const cutOff = await context.newPage();
    try {
      await cutOff.goto(`${proxy.url.slice(0, -'/graphql'.length)}/dashboard`);
      const live = cutOff.locator('#live');
      const banner = cutOff.locator('#offline');
      await live.filter({ hasText: /^live$/ }).waitFor();
      expect(await banner.isHidden()).toBe(true);

      proxy.cut();
      await banner.filter({ hasText: /^Not connected to the server since \d\d:\d\d:\d\d \S+: the counts and tasks below are as they were then/ }).waitFor();
      expect(await banner.getAttribute('role')).toBe('alert');
      expect(await cutOff.evaluate(() => document.body.classList.contains('stale'))).toBe(true);
      expect(await live.textContent()).toMatch(/reconnecting|disconnected/);

      proxy.reopen();
      await live.filter({ hasText: /^live$/ }).waitFor({ timeout: 15_000 });
      expect(await banner.isHidden()).toBe(true);
      expect(await cutOff.evaluate(() => document.body.classList.contains('stale'))).toBe(false);
    } finally {
      await cutOff.close();
      proxy.cut();
      await proxy.close();
    }
  });

  it('ran without a script error or a Content-Security-Policy violation', async () => {
    // The refused enqueue above is a GraphQL error in a 200 response: not a console error.
    expect(problems).toEqual([]);
  });
});
