import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { chromium, type BrowserContext, type Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startTestServer, type TestServer } from '../helpers/graphql.js';
import { CHROMIUM, CHROMIUM_ARGS, requireChromium, SKIP_BROWSER, warnIfBrowserSkipped } from '../helpers/chromium.js';

warnIfBrowserSkipped('the offline GraphiQL test');

let server: TestServer;
let context: BrowserContext;
let page: Page;
let profile: string;
/** Every request the page tried to send anywhere but the test's server (all aborted). */
const offsite: string[] = [];
/** Uncaught errors of the page ("YogaGraphiQL is not defined" when its scripts did not load). */
const problems: string[] = [];

describe.skipIf(SKIP_BROWSER)('GraphiQL with no network but the server', () => {
  beforeAll(async () => {
    requireChromium();
    server = await startTestServer({ runner: false });
    profile = await mkdtemp(path.join(tmpdir(), 'taskwire-chromium-'));
    context = await chromium.launchPersistentContext(profile, { executablePath: CHROMIUM, headless: true, args: CHROMIUM_ARGS });
    // The machine with no network: anything not for the test's server fails, as it would offline.
    await context.route('**/*', (route) => {
      const url = new URL(route.request().url());
      if (url.protocol === 'http:' && url.hostname === '127.0.0.1') return route.continue();
      if (url.protocol === 'blob:' || url.protocol === 'data:') return route.continue();
      offsite.push(url.href);
      return route.abort('internetdisconnected');
    });
    page = context.pages()[0] ?? (await context.newPage());
    // The page inlines ~9 MB of script (what the CDN would have sent): slow to parse on a busy machine.
    page.setDefaultTimeout(60_000);
    page.on('pageerror', (error) => problems.push(error.message));
  });

  afterAll(async () => {
    await context?.close();
    if (profile) await rm(profile, { recursive: true, force: true });
    await server?.close();
  });

  it('renders the editor from the server alone and runs { __typename }', { timeout: 180_000 }, async () => {
    await page.goto(server.url, { waitUntil: 'domcontentloaded' });
    expect(await page.title()).toBe('taskwire');
    // Its scripts have run by now: from a CDN they would have failed ("YogaGraphiQL is not defined").
    expect(problems).toEqual([]);
    const run = page.locator('.graphiql-execute-button');
    await run.waitFor();
    // The query editor (Monaco): replace whatever it shows with the query, then run it. The editor
    // closes a typed `{` itself: what it added after the cursor is deleted.
    await page.locator('.graphiql-query-editor .monaco-editor').first().click();
    await page.keyboard.press('ControlOrMeta+KeyA');
    await page.keyboard.type('{ __typename }');
    await page.keyboard.press('Shift+End');
    await page.keyboard.press('Delete');
    await run.click();
    await page.locator('.graphiql-response').filter({ hasText: '"Query"' }).waitFor();
    expect(await page.locator('.graphiql-response').innerText()).toMatch(/"__typename":\s*"Query"/);
    expect(problems).toEqual([]);
    expect(offsite).toEqual([]);
  });
});
