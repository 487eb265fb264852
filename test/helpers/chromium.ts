import { existsSync } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { chromium, type BrowserContext, type Page } from 'playwright-core';

/** Debian's Chromium (.ci/run installs it); a browser is never downloaded here. */
export const CHROMIUM = '/usr/bin/chromium';
export const HAVE_CHROMIUM = existsSync(CHROMIUM);

/** Headless, and nothing that reaches for the network on its own (refused here, many times a start). */
export const CHROMIUM_ARGS = [
  '--headless',
  '--no-sandbox',
  '--disable-gpu',
  '--disable-background-networking',
  '--disable-component-update',
  '--disable-sync',
  '--disable-quic',
  '--no-first-run',
  // Chromium's Local Network Access checks treat a page whose response the test fulfils itself
  // (Playwright's route.fulfill: no IP address behind it) as public, and then refuse, now and then,
  // its WebSocket to 127.0.0.1 (net::ERR_BLOCKED_BY_LOCAL_NETWORK_ACCESS_CHECKS): the package's
  // browser test failed on it in CI. Every page here talks to a server on loopback by design.
  '--disable-features=LocalNetworkAccessChecks',
];

/** Browser tests are skipped without Chromium, except in CI, where a missing browser is a failure. */
export const SKIP_BROWSER = !HAVE_CHROMIUM && process.env.CI !== 'true';

/** Says loudly that `what` is skipped (a quiet skip looks like a pass). */
export function warnIfBrowserSkipped(what: string): void {
  if (SKIP_BROWSER) console.warn(`\n!! SKIPPED: ${what} needs ${CHROMIUM} (apt-get install -y chromium).\n`);
}

/** In CI with no Chromium: fail, saying what installs it. */
export function requireChromium(): void {
  if (!HAVE_CHROMIUM) throw new Error(`CI=true and ${CHROMIUM} is missing: .ci/run installs it (apt-get install -y chromium)`);
}

export interface TestBrowser {
  context: BrowserContext;
  page: Page;
  /** Closes the browser and removes its profile. */
  close(): Promise<void>;
}

export interface TestBrowserOptions {
  viewport?: { width: number; height: number };
  locale?: string;
  timezoneId?: string;
  /** The page's default timeout for its waits (default 10,000 ms). */
  timeoutMs?: number;
  /** Where the page's uncaught errors and console errors go (`pageerror: …`, `console: …`): a test checks it is empty. */
  problems: string[];
  /** Console errors to leave out of `problems` (e.g. a resource the test itself makes fail). */
  ignoreConsole?: RegExp;
}

/** Headless Chromium on a profile of its own, its first page collecting what went wrong in `problems`. */
export async function launchTestBrowser(o: TestBrowserOptions): Promise<TestBrowser> {
  const profile = await mkdtemp(path.join(tmpdir(), 'taskwire-chromium-'));
  const context = await chromium.launchPersistentContext(profile, {
    executablePath: CHROMIUM,
    headless: true,
    args: CHROMIUM_ARGS,
    ...(o.viewport ? { viewport: o.viewport } : {}),
    ...(o.locale ? { locale: o.locale } : {}),
    ...(o.timezoneId ? { timezoneId: o.timezoneId } : {}),
  });
  const page = context.pages()[0] ?? (await context.newPage());
  page.setDefaultTimeout(o.timeoutMs ?? 10_000);
  page.on('pageerror', (error) => o.problems.push(`pageerror: ${error.message}`));
  page.on('console', (message) => {
    if (message.type() === 'error' && !o.ignoreConsole?.test(message.text())) o.problems.push(`console: ${message.text()}`);
  });
  return {
    context,
    page,
    async close() {
      await context.close();
      await rm(profile, { recursive: true, force: true });
    },
  };
}
