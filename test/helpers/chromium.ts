import { existsSync } from 'node:fs';

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
