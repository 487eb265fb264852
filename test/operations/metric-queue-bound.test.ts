import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { MAX_QUEUE_LABELS, OTHER_QUEUE } from '../../src/metrics/queue-labels.js';
import { buildApp, type App } from '../../src/server/app.js';
import type { Runner } from '../../src/worker/runner.js';
import { FAST_RUNNER, startTestServer, type TestServer } from '../helpers/graphql.js';
import { waitFor } from '../helpers/wait.js';

let server: TestServer;
let runner: Runner;
let app: App;
let base: string;

beforeAll(async () => {
  server = await startTestServer({ runner: false });
  runner = server.deps.createRunner({ ...FAST_RUNNER, concurrency: 20 });
  app = buildApp(server.deps, { runner });
  const { url } = await app.start(0, '127.0.0.1');
  base = url.slice(0, -'/graphql'.length);
  await runner.start();
});
afterAll(async () => {
  await runner?.stop();
  await app?.stop();
  await server?.close();
});

interface Sample {
  family: string;
  labels: Record<string, string>;
  value: number;
}

/** The samples of `GET /metrics`, parsed from the text a scraper reads. */
async function scrapeText(): Promise<Sample[]> {
  const res = await fetch(`${base}/metrics`);
  expect(res.status).toBe(200);
  const samples: Sample[] = [];
  for (const line of (await res.text()).split('\n')) {
    const m = /^(\w+)\{(.*)\} (\S+)$/.exec(line);
    if (!m) continue;
    const labels: Record<string, string> = {};
    for (const l of (m[2] as string).matchAll(/(\w+)="((?:[^"\\]|\\.)*)"/g)) labels[l[1] as string] = l[2] as string;
    samples.push({ family: m[1] as string, labels, value: Number(m[3]) });
  }
  return samples;
}

const of = (samples: Sample[], family: string, labels: Record<string, string> = {}): Sample[] =>
  samples.filter((s) => s.family === family && Object.entries(labels).every(([k, v]) => s.labels[k] === v));
const total = (samples: Sample[]): number => samples.reduce((n, s) => n + s.value, 0);
const queueValues = (samples: Sample[]): Set<string> => new Set(samples.map((s) => s.labels.queue as string));

async function enqueue(queue: string): Promise<void> {
  const res = await fetch(`${base}/graphql`, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify({
      query: 'mutation($input: EnqueueTaskInput!) { enqueueTask(input: $input) { task { id } } }',
      variables: { input: { name: 'demo.echo', queue, args: [queue] } },
    }),
  });
  const body = (await res.json()) as { errors?: unknown };
  expect(body.errors).toBeUndefined();
}

describe('the queue label bound of /metrics', () => {
  it('shows at most MAX_QUEUE_LABELS queues plus (other) in every family, and the totals still add up', async () => {
    const queues = Array.from({ length: MAX_QUEUE_LABELS + 25 }, (_, k) => `q${k}`);
    for (let i = 0; i < queues.length; i += 25) await Promise.all(queues.slice(i, i + 25).map(enqueue));

    const finished = await waitFor(
      async () => {
        const samples = await scrapeText();
        return total(of(samples, 'taskwire_tasks_finished_total', { outcome: 'succeeded' })) === queues.length ? samples : undefined;
      },
      { message: 'every task to be counted as finished', timeoutMs: 30_000, intervalMs: 100 },
    );
    for (const family of ['taskwire_tasks_enqueued_total', 'taskwire_tasks_started_total', 'taskwire_tasks_finished_total']) {
      const samples = of(finished, family);
      const values = queueValues(samples);
      expect(values.size, family).toBe(MAX_QUEUE_LABELS + 1);
      expect(values.has(OTHER_QUEUE), family).toBe(true);
      expect(total(samples), family).toBe(queues.length);
      expect(of(samples, family, { queue: OTHER_QUEUE })[0]?.value, family).toBe(25);
    }

    // The gauges read the database: its queue counts, bounded the same way, still sum to every task.
    const gauges = await waitFor(
      async () => {
        const samples = await scrapeText();
        return total(of(samples, 'taskwire_queue_tasks', { status: 'SUCCEEDED' })) === queues.length ? samples : undefined;
      },
      { message: 'every task to be SUCCEEDED in the queue gauges', intervalMs: 100 },
    );
    const depth = of(gauges, 'taskwire_queue_tasks');
    expect(queueValues(depth).size).toBe(MAX_QUEUE_LABELS + 1);
    expect(queueValues(depth).has(OTHER_QUEUE)).toBe(true);
    expect(total(depth)).toBe(queues.length);
    expect(queueValues(of(gauges, 'taskwire_queue_oldest_pending_age_seconds')).size).toBe(MAX_QUEUE_LABELS + 1);
  });
});

describe('taskwire_queue_paused', () => {
  it('is 1 for a paused queue holding a backlog and 0 for the others, so a backlog alert can leave paused queues out', async () => {
    await server.deps.queue.queueControl.pause('metrics-paused');
    try {
      await enqueue('metrics-paused');
      const samples = await scrapeText();
      expect(of(samples, 'taskwire_queue_paused', { queue: 'metrics-paused' })[0]?.value).toBe(1);
      expect(of(samples, 'taskwire_queue_tasks', { queue: 'metrics-paused', status: 'PENDING' })[0]?.value).toBe(1);
      expect(of(samples, 'taskwire_queue_paused', { queue: 'q0' })[0]?.value).toBe(0);
    } finally {
      await server.deps.queue.queueControl.resume('metrics-paused');
    }
  });
});
