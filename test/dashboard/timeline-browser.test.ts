import { mkdir } from 'node:fs/promises';
import { createServer, connect, type Server, type Socket } from 'node:net';
import type { Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { z } from 'zod';
import { defineTask } from '../../src/worker/define-task.js';
import { waitForStatus } from '../helpers/factories.js';
import { createGates } from '../helpers/gates.js';
import { startTestServer, type TestServer } from '../helpers/graphql.js';
import type { Runner } from '../../src/worker/runner.js';
import { waitFor } from '../helpers/wait.js';
import { launchTestBrowser, requireChromium, SKIP_BROWSER, warnIfBrowserSkipped, type TestBrowser } from '../helpers/chromium.js';

warnIfBrowserSkipped('the dashboard timeline test');
/** Small enough that a 2,000-chunk demo.output is truncated after more than 1,000 events. */
const MAX_OUTPUT_BYTES = 50_000;

/**
 * A TCP proxy in front of the server, for the page: `cut()` drops every connection and refuses
 * new ones (a network outage, as the browser sees it), `restore()` lets them through again.
 */
interface Proxy {
  port: number;
  cut(): void;
  restore(): void;
  close(): Promise<void>;
}

async function startProxy(target: number): Promise<Proxy> {
  const sockets = new Set<Socket>();
  let down = false;
  const server: Server = createServer((client) => {
    if (down) return void client.destroy();
    const upstream = connect(target, '127.0.0.1');
    for (const s of [client, upstream]) {
      sockets.add(s);
      s.on('close', () => sockets.delete(s));
      s.on('error', () => s.destroy());
    }
    client.pipe(upstream).pipe(client);
    client.on('close', () => upstream.destroy());
    upstream.on('close', () => client.destroy());
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const address = server.address();
  if (!address || typeof address === 'string') throw new Error('no proxy port');
  return {
    port: address.port,
    cut() {
      down = true;
      for (const s of sockets) s.destroy();
    },
    restore() {
      down = false;
    },
    close: () => {
      for (const s of sockets) s.destroy();
      return new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
}

const gates = createGates();
let server: TestServer;
let runner: Runner | undefined;
let proxy: Proxy;
let page: Page;
let browser: TestBrowser | undefined;
/** Script errors of the page (console errors too, except failed requests while the proxy is cut). */
const problems: string[] = [];
/** `afterVersion` of every taskEvents stream the page opened, by task id. */
const streams = new Map<string, number[]>();

interface ApiEvent {
  version: number;
  type: string;
  status: string;
  attempt: number;
  workerId: string | null;
}

async function enqueue(input: Record<string, unknown>): Promise<string> {
  const res = await server.post({ query: 'mutation($input: EnqueueTaskInput!) { enqueueTask(input: $input) { task { id } } }', variables: { input } });
  const id = (res.data as { enqueueTask: { task: { id: string } } } | undefined)?.enqueueTask.task.id;
  if (!id) throw new Error(`enqueue failed: ${JSON.stringify(res.errors)}`);
  return id;
}

/** The task's whole log through the API, a page of at most 1,000 at a time. */
async function apiEvents(id: string): Promise<ApiEvent[]> {
  const events: ApiEvent[] = [];
  let after: string | null = null;
  for (;;) {
    const res = await server.post({
      query: 'query($id: ID!, $after: String) { taskResult(id: $id) { events(first: 1000, after: $after) { edges { node { version type status attempt workerId } } pageInfo { hasNextPage endCursor } } } }',
      variables: { id, after },
    });
    const page = (res.data as { taskResult: { events: { edges: { node: ApiEvent }[]; pageInfo: { hasNextPage: boolean; endCursor: string } } } }).taskResult.events;
    events.push(...page.edges.map((edge) => edge.node));
    if (!page.pageInfo.hasNextPage) return events;
    after = page.pageInfo.endCursor;
  }
}

/** Keys whose task already ran once: its second run is not snoozed. */
const snoozedOnce = new Set<string>();
/** test.rerun-text(key): writes {text: 'first 1'}, {text: 'first 2'}, snoozes on its first run (the attempt given back), then writes {text: 'again'}. */
const rerun = defineTask({
  name: 'test.rerun-text',
  args: z.tuple([z.string()]),
  run: async ([key], ctx) => {
    if (snoozedOnce.has(key)) {
      await ctx.output({ text: 'again' });
      return 'done';
    }
    snoozedOnce.add(key);
    await ctx.output({ text: 'first 1' });
    await ctx.output({ text: 'first 2' });
    ctx.snooze(0);
  },
});

/** test.tokens: a token stream (string chunks, one a line break) and then one object chunk. */
const TOKENS = ['Hel', 'lo, ', 'world', '\n', 'and ', 'again'];
const tokens = defineTask({
  name: 'test.tokens',
  run: async (_args, ctx) => {
    for (const token of TOKENS) void ctx.output(token);
    await ctx.output({ done: true });
    return null;
  },
});

/** The worker: started by the first test once its task is on screen, or by whichever test runs first. */
async function work(): Promise<Runner> {
  runner ??= await server.startRunner({ concurrency: 4, maxOutputBytes: MAX_OUTPUT_BYTES });
  return runner;
}

const open = (id: string) => page.evaluate((task) => (location.hash = `task=${task}`), id);
const body = (id: string) => page.locator(`#detail .detail-body[data-id="${id}"]`);
const timelineRows = (id: string) => body(id).locator('table.events tr.event');

/** The timeline as shown: one entry per row. */
function shownEvents(id: string): Promise<ApiEvent[]> {
  return timelineRows(id).evaluateAll((rows) =>
    rows.map((row) => {
      const cells = row.querySelectorAll('td');
      const worker = cells[4]?.textContent ?? '';
      return {
        version: Number((row as HTMLElement).dataset.version),
        type: (row as HTMLElement).dataset.type ?? '',
        status: row.querySelector('.badge')?.textContent ?? '',
        attempt: Number(cells[3]?.textContent),
        workerId: worker === '—' ? null : worker,
      };
    }),
  );
}

/**
 * Delays the page's animation frames by `ms` (0: the browser's own again), as a machine too busy
 * to paint does. Frames already asked for keep the delay they were asked with.
 */
function slowFrames(ms: number): Promise<void> {
  return page.evaluate((delay) => {
    const w = window as Window & { ownFrames?: [typeof requestAnimationFrame, typeof cancelAnimationFrame] };
    w.ownFrames ??= [w.requestAnimationFrame.bind(w), w.cancelAnimationFrame.bind(w)];
    const [request, cancel] = w.ownFrames;
    if (delay === 0) {
      w.requestAnimationFrame = request;
      w.cancelAnimationFrame = cancel;
      return;
    }
    w.requestAnimationFrame = (callback) => w.setTimeout(() => request(callback), delay);
    w.cancelAnimationFrame = (handle) => w.clearTimeout(handle);
  }, ms);
}

const outputLines = (id: string) => body(id).locator('.output .line').allTextContents();

describe.skipIf(SKIP_BROWSER)('a task\'s timeline and output in the dashboard (headless Chromium)', () => {
  beforeAll(async () => {
    requireChromium();
    // No runner yet: the first test opens a task before it runs, to watch it grow.
    server = await startTestServer({ tasks: [...gates.tasks, rerun, tokens], runner: false });
    const port = Number(new URL(server.url).port);
    proxy = await startProxy(port);
    browser = await launchTestBrowser({ viewport: { width: 1480, height: 920 }, timeoutMs: 15_000, problems, ignoreConsole: /Failed to load resource|net::ERR_/ });
    ({ page } = browser);
    page.on('request', (request) => {
      const url = new URL(request.url());
      if (!url.searchParams.get('query')?.includes('DashboardTaskEvents')) return;
      const variables = JSON.parse(url.searchParams.get('variables') ?? '{}') as { id: string; afterVersion: number };
      streams.set(variables.id, [...(streams.get(variables.id) ?? []), variables.afterVersion]);
    });
    await page.goto(`http://127.0.0.1:${proxy.port}/dashboard`);
    await page.locator('#live.on').waitFor();
  });

  afterAll(async () => {
    await browser?.close();
    await proxy?.close();
    await server?.close();
  });

  it('follows demo.output(50, 20) live: the timeline grows to SUCCEEDED, the output shows all 50 chunks in order', async () => {
    const id = await enqueue({ name: 'demo.output', args: [50, 20] });
    await open(id);
    // Nothing runs yet: the timeline holds the task's first event only.
    await timelineRows(id).first().waitFor();
    expect(await shownEvents(id)).toEqual([{ version: 1, type: 'ENQUEUED', status: 'PENDING', attempt: 0, workerId: null }]);
    expect(await outputLines(id)).toEqual([]);
    await body(id).locator('.log-state.on').waitFor();

    const { workerId } = await work();
    await body(id).locator('table.events tr.event[data-type="SUCCEEDED"]').waitFor();
    await body(id).locator('.log-state.ended').waitFor();
    const shown = await shownEvents(id);
    expect(shown).toEqual(await apiEvents(id));
    expect(shown.map((e) => e.version)).toEqual(shown.map((_, i) => i + 1));
    expect(shown.map((e) => e.type)).toEqual(['ENQUEUED', 'STARTED', ...Array<string>(50).fill('OUTPUT'), 'SUCCEEDED']);
    expect(shown[1]).toMatchObject({ status: 'RUNNING', attempt: 1, workerId });
    expect(await outputLines(id)).toEqual(Array.from({ length: 50 }, (_, i) => `chunk ${i + 1} of 50`));
    // One stream, from the start: the page never needed a second.
    expect(streams.get(id)).toEqual([0]);
    // It followed the output to its end (50 lines overflow the box).
    expect(await body(id).locator('.output').evaluate((box) => box.scrollHeight > box.clientHeight && box.scrollHeight - box.scrollTop - box.clientHeight <= 4)).toBe(true);
    await mkdir('test-artifacts', { recursive: true });
    await page.screenshot({ path: 'test-artifacts/dashboard-timeline.png' });
    // The OUTPUT rows can be hidden, leaving the task's transitions.
    await body(id).locator('label.toggle:has-text("output events") input').uncheck();
    expect(await body(id).locator('table.events tr.event:visible').evaluateAll((rows) => rows.map((r) => (r as HTMLElement).dataset.type))).toEqual(['ENQUEUED', 'STARTED', 'SUCCEEDED']);
  });

  it('replays a finished task\'s whole timeline: every attempt, worker and error', async () => {
    const { workerId } = await work();
    const id = await enqueue({ name: 'demo.fail', args: ['twice'], maxAttempts: 2 });
    await waitForStatus(server.deps, id, 'FAILED');
    // A busy machine's slow frames: the replay and its end arrive long before the next frame,
    // and "finished" must still wait for the rows (a CI run once read an empty timeline here).
    await slowFrames(300);
    try {
      await open(id);
      await body(id).locator('.log-state.ended').waitFor();
    } finally {
      await slowFrames(0);
    }
    const shown = await shownEvents(id);
    expect(shown).toEqual(await apiEvents(id));
    expect(shown.map((e) => [e.type, e.attempt])).toContainEqual(['STARTED', 2]);
    expect(shown.at(-1)).toMatchObject({ type: 'FAILED', status: 'FAILED', attempt: 2, workerId });
    expect(await body(id).locator('table.events tr.note-row[data-type="FAILED"] .error-note').textContent()).toBe('DemoFailure: twice');
    expect(await outputLines(id)).toEqual([]);
    expect(await body(id).locator('.earlier').isHidden()).toBe(true);
  });

  it('follows a finished task again when it is retried elsewhere (the API) while its detail is open', async () => {
    await work();
    const id = await enqueue({ name: 'demo.fail', args: ['retried elsewhere'], maxAttempts: 1 });
    await waitForStatus(server.deps, id, 'FAILED');
    await open(id);
    await body(id).locator('.log-state.ended').waitFor();
    // Not this panel's Retry: its streams had ended, and only that button opened them again (a tester's find).
    const res = await server.post({ query: 'mutation($id: ID!) { retryTask(id: $id) { id } }', variables: { id } });
    expect(res.errors).toBeUndefined();
    await waitFor(async () => (await server.deps.queue.getTask(id))?.version === 6, { message: 'the retried task failed again' });
    await body(id).locator('table.events tr.event[data-version="6"]').waitFor();
    await body(id).locator('.log-state.ended').waitFor();
    const shown = await shownEvents(id);
    expect(shown).toEqual(await apiEvents(id));
    expect(shown.map((e) => [e.type, e.attempt])).toEqual([
      ['ENQUEUED', 0],
      ['STARTED', 1],
      ['FAILED', 1],
      ['RETRIED', 1],
      ['STARTED', 2],
      ['FAILED', 2],
    ]);
    expect(await body(id).getAttribute('data-status')).toBe('FAILED');
  });

  it('draws the rule where a snoozed task runs again under the same attempt number', async () => {
    await work();
    const id = await enqueue({ name: 'test.rerun-text', args: ['dashboard-rerun'] });
    await waitForStatus(server.deps, id, 'SUCCEEDED');
    await open(id);
    await body(id).locator('.log-state.ended').waitFor();
    expect((await shownEvents(id)).map((e) => [e.type, e.attempt])).toContainEqual(['SNOOZED', 1]);
    const lines = await body(id).locator('.output .line').evaluateAll((nodes) => nodes.map((n) => [n.textContent, (n as HTMLElement).dataset.attempt, n.classList.contains('new-attempt')]));
    expect(lines).toEqual([
      ['first 1', '1', false],
      ['first 2', '1', false],
      ['again', '1', true],
    ]);
  });

  it('shows string chunks run together "as text" when asked (a token stream), one line each otherwise; the choice is kept', async () => {
    await work();
    const id = await enqueue({ name: 'test.tokens' });
    await waitForStatus(server.deps, id, 'SUCCEEDED');
    await open(id);
    await body(id).locator('.log-state.ended').waitFor();
    const output = body(id).locator('.output');
    const shown = () => output.evaluate((box) => (box as HTMLElement).innerText.replace(/\n+$/, ''));
    expect(await outputLines(id)).toEqual([...TOKENS, '{"done":true}']);
    await body(id).locator('label.toggle', { hasText: 'as text' }).locator('input').check();
    expect(await output.getAttribute('class')).toContain('as-text');
    expect(await shown()).toBe('Hello, world\nand again\n{"done":true}');
    // Kept for the next task opened (and cleared again for the tests after this one).
    const again = await enqueue({ name: 'test.tokens' });
    await waitForStatus(server.deps, again, 'SUCCEEDED');
    await open(again);
    await body(again).locator('.log-state.ended').waitFor();
    expect(await body(again).locator('.output').getAttribute('class')).toContain('as-text');
    await body(again).locator('label.toggle', { hasText: 'as text' }).locator('input').uncheck();
    expect(await body(again).locator('.output').getAttribute('class')).not.toContain('as-text');
  });

  it('resumes after the connection drops from the last version received: no gap, no repeat', async () => {
    await work();
    const id = await enqueue({ name: 'test.steps', args: ['resume', 3] });
    await open(id);
    await body(id).locator('table.events tr.event[data-type="STARTED"]').waitFor();
    gates.open('resume:1');
    await body(id).locator('table.events tr.event[data-type="PROGRESS"]').waitFor();
    const before = (await shownEvents(id)).at(-1)?.version ?? 0;

    proxy.cut();
    await body(id).locator('.log-state.off').waitFor();
    // A change the page cannot see while it is cut off.
    gates.open('resume:2');
    await waitFor(async () => (await server.deps.queue.getTask(id))?.progress?.current === 2, { message: 'progress 2 stored' });
    proxy.restore();
    await body(id).locator('table.events tr.event[data-type="PROGRESS"]').nth(1).waitFor();
    gates.open('resume:3');
    gates.open('resume:done');
    await body(id).locator('table.events tr.event[data-type="SUCCEEDED"]').waitFor();

    const shown = await shownEvents(id);
    expect(shown).toEqual(await apiEvents(id));
    expect(shown.map((e) => e.version)).toEqual(shown.map((_, i) => i + 1));
    const afterVersions = streams.get(id) ?? [];
    expect(afterVersions[0]).toBe(0);
    // Every stream after the first resumed from the last version received, never from 0.
    expect(afterVersions.length).toBeGreaterThan(1);
    expect(new Set(afterVersions.slice(1))).toEqual(new Set([before]));
    expect(await body(id).locator('.note').allTextContents()).toEqual(['1/3 · step 1', '2/3 · step 2', '3/3 · step 3']);
  });

  it('opens a long log at its latest 1,000 events, loads the earlier ones, and shows the truncation', async () => {
    await work();
    const id = await enqueue({ name: 'demo.output', args: [2000, 0] });
    await waitForStatus(server.deps, id, 'SUCCEEDED');
    const all = await apiEvents(id);
    const total = all.length;
    expect(total).toBeGreaterThan(1000);
    await open(id);
    await body(id).locator('table.events tr.event[data-type="SUCCEEDED"]').waitFor();
    await expect.poll(() => timelineRows(id).count()).toBe(1000);
    expect(await timelineRows(id).first().getAttribute('data-version')).toBe(String(total - 999));
    const hidden = await page.evaluate((n) => n.toLocaleString(), total - 1000);
    expect(await body(id).locator('.earlier').textContent()).toContain(`${hidden} earlier events not shown`);
    expect(await body(id).locator('.output .line').last().getAttribute('class')).toContain('truncated');

    await body(id).locator('.earlier button').click();
    await expect.poll(() => timelineRows(id).count()).toBe(total);
    expect(await shownEvents(id)).toEqual(all);
    expect(await body(id).locator('.earlier').isHidden()).toBe(true);
    const lines = await outputLines(id);
    const chunks = lines.slice(0, -1);
    expect(chunks).toEqual(Array.from({ length: chunks.length }, (_, i) => `chunk ${i + 1} of 2000`));
    expect(chunks.length).toBe(total - 4); // ENQUEUED, STARTED, the marker, SUCCEEDED
    expect(lines.at(-1)).toContain('Output truncated');
  });

  it('ran without a script error', () => {
    expect(problems).toEqual([]);
  });
});
