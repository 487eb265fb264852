import type { Page } from 'playwright-core';
import { z } from 'zod';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { uuidv7 } from '../../src/queue/uuid.js';
import { defineTask } from '../../src/worker/define-task.js';
import { launchTestBrowser, requireChromium, SKIP_BROWSER, warnIfBrowserSkipped, type TestBrowser } from '../helpers/chromium.js';
import { createGates } from '../helpers/gates.js';
import { startTestServer, type TestServer } from '../helpers/graphql.js';

warnIfBrowserSkipped('the dashboard workflow browser test');

const gates = createGates();
/** Task names as long as real ones get, for a fan-out's labels. */
const LONG_NAMES = ['billing.generate-monthly-invoices', 'emails.send-weekly-digest-to-customer', 'reports.aggregate-regional-sales', 'inventory.reconcile-warehouse-stock', 'search.reindex-product-catalogue'];
const longTasks = LONG_NAMES.map((name) => defineTask({ name, args: z.tuple([]), run: async () => name }));
let server: TestServer;
let page: Page;
let browser: TestBrowser | undefined;
let base: string;
/** Uncaught errors and console errors of the page (a CSP violation is one). */
const problems: string[] = [];

interface Step {
  ref: string;
  dependsOn: string[];
  task: { id: string };
}

async function enqueueWorkflow(input: Record<string, unknown>): Promise<{ id: string; steps: Step[] }> {
  const res = await server.post({
    query: 'mutation($input: EnqueueWorkflowInput!) { enqueueWorkflow(input: $input) { workflow { id steps { ref dependsOn task { id } } } } }',
    variables: { input },
  });
  const workflow = (res.data as { enqueueWorkflow?: { workflow: { id: string; steps: Step[] } } } | undefined)?.enqueueWorkflow?.workflow;
  if (!workflow) throw new Error(`enqueueWorkflow failed: ${JSON.stringify(res.errors)}`);
  return workflow;
}

/** A diamond whose steps each wait at their gate: every state stays on screen until the test opened the next one. */
function gatedDiamond(key: string): Record<string, unknown> {
  const step = (ref: string, dependsOn: string[] = []) => ({ ref, task: { name: 'test.gate', args: [`${key}:${ref}`] }, dependsOn });
  return { name: `diamond ${key}`, steps: [step('fetch'), step('left', ['fetch']), step('right', ['fetch']), step('join', ['left', 'right'])] };
}

const node = (ref: string, status?: string) => page.locator(`.workflow-graph .node[data-ref="${ref}"]${status ? `[data-status="${status}"]` : ''}`);

describe.skipIf(SKIP_BROWSER)('the dashboard workflow view in headless Chromium', () => {
  beforeAll(async () => {
    requireChromium();
    server = await startTestServer({ tasks: [...gates.tasks, ...longTasks], runner: { pollIntervalMs: 50, heartbeatMs: 200, leaseMs: 2000, concurrency: 4 } });
    base = server.url.slice(0, -'/graphql'.length);
    browser = await launchTestBrowser({ viewport: { width: 1480, height: 920 }, problems });
    ({ page } = browser);
  });

  afterAll(async () => {
    await browser?.close();
    await server?.close();
  });

  it('draws the steps in layers by depth with an edge per dependency, and follows their states live to SUCCEEDED', async () => {
    const key = uuidv7();
    const w = await enqueueWorkflow(gatedDiamond(key));
    await page.goto(`${base}/dashboard#workflow=${w.id}`);
    await page.locator(`.workflow-view[data-id="${w.id}"]`).waitFor();
    await node('fetch', 'RUNNING').waitFor();
    // Layers: fetch left of left/right, those left of join; left and right one above the other.
    // Every node's box in one page-side read: the graph redraws as states arrive, and a node read
    // between two calls may belong to a graph already replaced (its box then reads as null).
    type Box = { x: number; y: number };
    let boxes: Record<string, Box> = {};
    await expect
      .poll(async () => {
        boxes = await page.evaluate(() =>
          Object.fromEntries([...document.querySelectorAll('.workflow-graph .node')].map((n) => {
            const r = n.getBoundingClientRect();
            return [n.getAttribute('data-ref') ?? '', { x: r.x, y: r.y }];
          })),
        );
        return Object.keys(boxes).sort();
      })
      .toEqual(['fetch', 'join', 'left', 'right']);
    const at = (ref: string): Box => boxes[ref] as Box;
    expect(at('fetch').x).toBeLessThan(at('left').x);
    expect(at('left').x).toBe(at('right').x);
    expect(at('left').y).not.toBe(at('right').y);
    expect(at('right').x).toBeLessThan(at('join').x);
    const edges = await page.locator('.workflow-graph .edge').evaluateAll((paths) => paths.map((p) => `${p.getAttribute('data-from')}→${p.getAttribute('data-to')}`).sort());
    expect(edges).toEqual(['fetch→left', 'fetch→right', 'left→join', 'right→join']);
    await node('left', 'BLOCKED').waitFor();
    await node('join', 'BLOCKED').waitFor();

    // Each state change reaches the graph without a reload: a step that starts shows RUNNING.
    gates.open(`${key}:fetch`);
    await node('fetch', 'SUCCEEDED').waitFor();
    await node('left', 'RUNNING').waitFor();
    await node('right', 'RUNNING').waitFor();
    gates.open(`${key}:left`);
    await node('left', 'SUCCEEDED').waitFor();
    expect(await node('join').getAttribute('data-status')).toBe('BLOCKED');
    gates.open(`${key}:right`);
    await node('join', 'RUNNING').waitFor();
    gates.open(`${key}:join`);
    await node('join', 'SUCCEEDED').waitFor();
    await page.locator(`.workflow-view[data-status="SUCCEEDED"]`).waitFor();
    expect(await page.locator('.workflow-view .detail-status .badge').textContent()).toBe('SUCCEEDED');
    await page.screenshot({ path: 'test-artifacts/dashboard-workflow.png' }).catch(() => undefined);
    expect(problems).toEqual([]);
  });

  it('is reachable from a step\'s task detail, opens a step\'s task from the graph, and cancels the workflow', async () => {
    const key = uuidv7();
    const w = await enqueueWorkflow(gatedDiamond(key));
    const fetchId = w.steps.find((s) => s.ref === 'fetch')?.task.id as string;
    await page.goto(`${base}/dashboard#task=${fetchId}`);
    const link = page.locator(`#detail a.workflow-link[data-workflow="${w.id}"]`);
    await link.waitFor();
    expect(await link.textContent()).toContain('step fetch');
    await link.click();
    await page.locator(`.workflow-view[data-id="${w.id}"]`).waitFor();
    expect(page.url()).toContain(`#workflow=${w.id}`);

    // A step opens its task's detail.
    await node('fetch', 'RUNNING').click();
    await page.locator(`#detail .detail-body[data-id="${fetchId}"]`).waitFor();
    await page.goBack();
    await page.locator(`.workflow-view[data-id="${w.id}"]`).waitFor();

    await page.locator('.workflow-view button.action-cancel').click();
    await page.locator('.workflow-view[data-status="CANCELLED"]').waitFor();
    for (const ref of ['fetch', 'left', 'right', 'join']) await node(ref, 'CANCELLED').waitFor();
    expect(await page.locator('.workflow-view button.action-cancel').count()).toBe(0);
    // Escape closes the graph as it closes a task's detail.
    await page.keyboard.press('Escape');
    await page.locator('#detail').waitFor({ state: 'hidden' });
    expect(page.url()).not.toContain('#workflow=');
    expect(problems).toEqual([]);
  });

  // Before, the status sat at the right of the name's line: a name of 14 characters or more ran into it.
  it.each([
    [1480, 920],
    [1280, 720],
    [800, 600],
  ] as const)("draws a fan-out of long-named steps at %i×%i with no label over another, each inside its step's box", async (width, height) => {
    const fanOut = LONG_NAMES.map((name) => ({ ref: `step-${name.split('.')[1]}`, task: { name } }));
    const w = await enqueueWorkflow({
      name: 'month end',
      steps: [
        { ref: 'fetch-sources', task: { name: 'demo.echo', args: ['sources'] } },
        ...fanOut.map((step) => ({ ...step, dependsOn: ['fetch-sources'] })),
        { ref: 'publish-everything-to-the-customer-portal', task: { name: 'demo.echo', args: ['publish'] }, dependsOn: fanOut.map((step) => step.ref) },
      ],
    });
    await page.setViewportSize({ width, height });
    await page.goto(`${base}/dashboard#workflow=${w.id}`);
    // Finished: every status reads "succeeded", one of the longest.
    await page.locator(`.workflow-view[data-id="${w.id}"][data-status="SUCCEEDED"]`).waitFor();
    await node('publish-everything-to-the-customer-portal', 'SUCCEEDED').waitFor();
    // One page-side read: the graph is redrawn as states arrive.
    const found = await page.evaluate(() => {
      const inside = (a: DOMRect, b: DOMRect): boolean => a.left >= b.left - 0.5 && a.right <= b.right + 0.5 && a.top >= b.top - 0.5 && a.bottom <= b.bottom + 0.5;
      const meet = (a: DOMRect, b: DOMRect): boolean => a.left < b.right && b.left < a.right && a.top < b.bottom && b.top < a.bottom;
      // A text's own box, which no clipping shortens: the cut to fit alone must keep it inside its node.
      const labels = [...document.querySelectorAll('.workflow-graph .node')].flatMap((n) => {
        const box = (n.querySelector('rect') as SVGRectElement).getBoundingClientRect();
        return [...n.querySelectorAll('text')].map((t) => ({ text: t.textContent ?? '', box: t.getBoundingClientRect(), node: box }));
      });
      const overlaps: string[] = [];
      for (const [i, a] of labels.entries()) for (const b of labels.slice(i + 1)) if (meet(a.box, b.box)) overlaps.push(`${a.text} × ${b.text}`);
      return { count: labels.length, overlaps, outside: labels.filter((l) => !inside(l.box, l.node)).map((l) => l.text) };
    });
    expect(found).toEqual({ count: 7 * 3, overlaps: [], outside: [] });
    expect(problems).toEqual([]);
  });

  it('goes under the task list at 800×600, as a task\'s detail does, rather than squeezing the list beside it', async () => {
    const w = await enqueueWorkflow({ steps: [{ ref: 'only', task: { name: 'demo.echo' } }] });
    await page.setViewportSize({ width: 800, height: 600 });
    await page.goto(`${base}/dashboard#workflow=${w.id}`);
    await page.locator(`.workflow-view[data-id="${w.id}"]`).waitFor();
    const [list, detail] = await Promise.all(['.list', '#detail'].map((selector) => page.locator(selector).evaluate((e) => e.getBoundingClientRect().toJSON() as DOMRect)));
    expect({ width: detail?.width, below: (detail?.top ?? 0) >= (list?.bottom ?? Infinity) }).toEqual({ width: list?.width, below: true });
  });

  // Beside the list at 1280 px, the graph's column (52%) left the list 547 px: its task table and queue
  // counts scrolled sideways, Cancel/Retry pinned over the rows. Now the graph goes under the list there.
  it.each([
    [1920, 1080, 'beside'],
    [1280, 720, 'under'],
  ] as const)("keeps every column of the list in view with a workflow open at %i×%i, the graph %s it at its own size", async (width, height, where) => {
    for (const name of LONG_NAMES.slice(0, 3)) await server.enqueue(name, []);
    const w = await enqueueWorkflow(gatedDiamond(uuidv7()));
    await page.setViewportSize({ width, height });
    await page.goto(`${base}/dashboard#workflow=${w.id}`);
    await page.locator(`.workflow-view[data-id="${w.id}"]`).waitFor();
    await node('join').waitFor();
    await page.locator('#rows tr').filter({ hasText: LONG_NAMES[0] as string }).first().waitFor();
    const found = await page.evaluate(() => {
      const list = (document.querySelector('.list') as HTMLElement).getBoundingClientRect();
      const panel = (document.querySelector('#detail') as HTMLElement).getBoundingClientRect();
      const graph = document.querySelector('.workflow-graph') as SVGSVGElement;
      return {
        scrolls: [...document.querySelectorAll('.list .panel, .list .table-wrap')].map((box) => box.scrollWidth - box.clientWidth).filter((x) => x > 0),
        where: panel.top >= list.bottom ? 'under' : panel.left >= list.right ? 'beside' : 'over',
        // Drawn at its own size: the text as large as the graph's 12 px.
        scale: Math.round((graph.getBoundingClientRect().width / Number(graph.getAttribute('width'))) * 100) / 100,
        // Opened: on screen (scrolled to when under the list).
        onScreen: panel.top < innerHeight && panel.bottom > 0,
      };
    });
    expect(found).toEqual({ scrolls: [], where, scale: 1, onScreen: true });
    await page.screenshot({ path: `test-artifacts/dashboard-workflow-${width}.png` }).catch(() => undefined);
    expect(problems).toEqual([]);
  });

  it('says so for an unknown workflow', async () => {
    await page.goto(`${base}/dashboard#workflow=${uuidv7()}`);
    await page.locator('#detail').filter({ hasText: 'No such workflow.' }).waitFor();
  });
});
