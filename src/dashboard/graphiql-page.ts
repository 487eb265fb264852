import { createHash } from 'node:crypto';
import { promisify } from 'node:util';
import { gzip as gzipCallback } from 'node:zlib';
import type { Plugin } from 'graphql-yoga';
import type { RouteHandler } from '../server/routes.js';

const gzip = promisify(gzipCallback);

/** Where GraphiQL's script and stylesheet are served (with `?v=` their content's hash). */
export const GRAPHIQL_SCRIPT_PATH = '/graphiql/graphiql.js';
export const GRAPHIQL_STYLE_PATH = '/graphiql/graphiql.css';

/** One file of the page: its bytes, gzipped once, and the version its URL carries. */
interface Asset {
  raw: Uint8Array<ArrayBuffer>;
  gzip: Uint8Array<ArrayBuffer>;
  type: string;
}

interface Split {
  page: string;
  version: string;
  script: Asset;
  style: Asset;
}

/**
 * GraphiQL's page as yoga's renderer makes it, less its ~9 MB of inlined script and stylesheet:
 * those are served as two files whose URLs carry their content's hash, cached by the browser for
 * good (`immutable`) and gzipped (~2.5 MB on the wire). Inline, every visit downloaded the 9 MB and
 * parsed them afresh (2–3 s on an idle 2-core machine, over 10 s under load); a cached external
 * script is also one V8 can keep compiled. Still nothing from a CDN: the page works offline.
 *
 * `render` makes and splits the page once (the renderer is imported then, on the first visit or the
 * first file asked for) and hands the same small page to every later visit; `routes` serves the two
 * files. Every server process of one release makes the same page (the same renderer and options),
 * so behind a load balancer a page from one process and its files from another match.
 */
export function createGraphiQLPage(renderer: () => Promise<string>): { render(): Promise<string>; routes(): Map<string, RouteHandler> } {
  let split: Promise<Split> | undefined;
  const load = (): Promise<Split> => {
    if (split) return split;
    const made = renderer().then(splitPage);
    split = made;
    // A failed import or render is tried again on the next request rather than kept.
    made.catch(() => {
      if (split === made) split = undefined;
    });
    return made;
  };
  const serve =
    (pick: (s: Split) => Asset): RouteHandler =>
    async (request) => {
      const s = await load();
      const asset = pick(s);
      const current = new URL(request.url).searchParams.get('v') === s.version;
      const gzipped = /\bgzip\b/.test(request.headers.get('accept-encoding') ?? '');
      const headers: Record<string, string> = {
        'content-type': asset.type,
        // A page of another version (a server upgraded under an open tab) gets today's file, not to be kept under its URL.
        'cache-control': current ? 'public, max-age=31536000, immutable' : 'no-cache',
        'x-content-type-options': 'nosniff',
        vary: 'accept-encoding',
      };
      if (gzipped) headers['content-encoding'] = 'gzip';
      return new Response(gzipped ? asset.gzip : asset.raw, { headers });
    };
  return {
    render: async () => (await load()).page,
    routes: () =>
      new Map<string, RouteHandler>([
        [GRAPHIQL_SCRIPT_PATH, serve((s) => s.script)],
        [GRAPHIQL_STYLE_PATH, serve((s) => s.style)],
      ]),
  };
}

/** The page's one `<style>` and its inline `<script>` (GraphiQL itself, with its options) moved out to files. */
export async function splitPage(html: string): Promise<Split> {
  const styleStart = html.indexOf('<style>');
  const styleEnd = html.indexOf('</style>', styleStart);
  // The script's own text holds "<script>" (in a string), never "</script>": it is the first bare <script> after the style, up to the last close.
  const scriptStart = html.indexOf('<script>', styleEnd);
  const scriptEnd = html.lastIndexOf('</script>');
  if (styleStart < 0 || styleEnd < 0 || scriptStart < 0 || scriptEnd < scriptStart) {
    throw new Error('GraphiQL page: no inline <style> and <script> where the renderer puts them');
  }
  const css = html.slice(styleStart + '<style>'.length, styleEnd);
  const js = html.slice(scriptStart + '<script>'.length, scriptEnd);
  const version = createHash('sha256').update(css).update('\0').update(js).digest('base64url').slice(0, 16);
  const page =
    html.slice(0, styleStart) +
    `<link rel="stylesheet" href="${GRAPHIQL_STYLE_PATH}?v=${version}" />` +
    html.slice(styleEnd + '</style>'.length, scriptStart) +
    `<script src="${GRAPHIQL_SCRIPT_PATH}?v=${version}"></script>` +
    html.slice(scriptEnd + '</script>'.length);
  const [script, style] = await Promise.all([asset(js, 'text/javascript; charset=utf-8'), asset(css, 'text/css; charset=utf-8')]);
  return { page, version, script, style };
}

/** Gzipped off the event loop (zlib's thread pool): ~9 MB takes a few hundred ms, once. */
async function asset(text: string, type: string): Promise<Asset> {
  const raw = new Uint8Array(Buffer.from(text));
  return { raw, gzip: new Uint8Array(await gzip(raw)), type };
}

/**
 * GraphiQL's page (an HTML answer on the GraphQL path) may not be framed by another site: it runs
 * what its editor holds, taken from `?query=`, with the signed-in token or, with auth off, as the
 * anonymous admin, so a hostile page framing it transparently could get a click on Run (the
 * dashboard's own pages say the same in their CSP).
 */
export function useGraphiQLFrameGuard(graphqlPath: string): Plugin {
  return {
    onResponse({ request, response }) {
      if (!response.headers.get('content-type')?.startsWith('text/html')) return;
      if (new URL(request.url).pathname !== graphqlPath) return;
      response.headers.set('content-security-policy', "frame-ancestors 'none'");
      response.headers.set('x-frame-options', 'DENY');
    },
  };
}
