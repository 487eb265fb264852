import type { SubscriptionClient } from '../lib/lean-ws.js';
import { M } from '../lib/metrics.js';
import { freshDatabase } from '../lib/pg.js';
import { clusterCpuUs, cpuMsOf, describeCpu, procStat, sampleCpu } from '../lib/cpu.js';
import { describeLoopDelay, watchLoopDelay } from '../lib/loop-delay.js';
import type { ChildJob, Recorder } from '../lib/protocol.js';
import { benchWsClient, wallNow } from '../lib/resumable-ws.js';
import { startServerProcess, type ServerProcess } from '../lib/server-process.js';
import { Samples } from '../lib/stats.js';
import { range, waitUntil } from '../lib/wait.js';
import { toError } from '../lib/ws-client.js';
import { createTaskwireSystem, STREAM_TASK, type TaskwireSystem } from '../systems/taskwire.js';

/**
 * ENQUEUED rides along only as a barrier: its replay proves the subscription is registered
 * before the worker starts, so no chunk is timed from before its subscriber existed. The OUTPUT
 * path (and the type filter, which drops STARTED and SUCCEEDED) is the same either way.
 */
const OUTPUT_EVENTS = /* GraphQL */ `
  subscription Output($id: ID!, $types: [TaskEventType!]) { taskEvents(id: $id, afterVersion: 0, types: $types) { version type at output } }`;

interface OutputEvent {
  version: number;
  type: string;
  /** clock_timestamp() of the statement that stored the chunk, ms precision. */
  at: string;
  output: { i: number; t: number } | null;
}

/** One subscriber's view of the stream: what it got, and whether it came whole and in order. */
interface Reader {
  enqueued: boolean;
  /** (version, i, t) of every chunk, when kept (the first subscriber and the late reader). */
  chunks: number[] | undefined;
  received: number;
  /** Chunks whose `i` or version was not the next one. */
  outOfOrder: number;
  lastVersion: number;
  done: Promise<void>;
  error?: Error;
}

/** Latency of the chunks, whole and split at the statement that stored them. */
interface ChunkLatency {
  /** Handler's ctx.output → the subscriber has it. */
  total: Samples;
  /** Handler's ctx.output → the statement storing it (the worker's share: batching, the statement ahead of it). */
  toStored: Samples;
  /** The statement storing it → the subscriber has it (commit, NOTIFY, the server's read and fan-out, the socket). */
  fromStored: Samples;
  /** Wall-clock ms of the last chunk any subscriber received. */
  lastReceived: number;
}

function read(client: SubscriptionClient, id: string, types: string[], keep: boolean, latency: ChunkLatency | undefined): Reader {
  const r: Reader = { enqueued: false, chunks: keep ? [] : undefined, received: 0, outOfOrder: 0, lastVersion: 0, done: Promise.resolve() };
  r.done = new Promise<void>((resolve, reject) => {
    client.subscribe(
      { query: OUTPUT_EVENTS, variables: { id, types } },
      {
        next: (result) => {
          const e = result.data?.taskEvents as OutputEvent | undefined;
          if (result.errors || !e) return reject(new Error(`output subscription: ${JSON.stringify(result.errors ?? result)}`));
          const now = wallNow();
          if (e.version <= r.lastVersion) r.outOfOrder += 1;
          r.lastVersion = e.version;
          if (e.type === 'ENQUEUED') r.enqueued = true;
          if (e.type !== 'OUTPUT' || !e.output) return;
          r.received += 1;
          if (e.output.i !== r.received) r.outOfOrder += 1;
          if (latency) {
            const at = Date.parse(e.at);
            latency.total.add(now - e.output.t);
            latency.toStored.add(at - e.output.t);
            latency.fromStored.add(now - at);
            latency.lastReceived = now;
          }
          r.chunks?.push(e.version, e.output.i, e.output.t);
        },
        error: (error) => reject(toError(error)),
        complete: () => resolve(),
      },
    );
  });
  // Awaited later; kept now, so an early failure neither ends the process first nor waits out a timeout.
  r.done.catch((error: unknown) => {
    r.error = toError(error);
  });
  return r;
}

/**
 * (j) output streaming: one task (bench.stream, in the worker's own process) writes
 * `outputChunks` chunks `{i, t}` at `outputPerSecond` (`t`: wall clock of its ctx.output call),
 * followed by `outputSubscribers` graphql-ws connections, each with
 * `taskEvents(afterVersion: 0, types: [ENQUEUED, OUTPUT])`. Measured: write → subscriber
 * (chunk `t` → received, same host clock), the rate actually written, that every subscriber
 * got every chunk once and in order, and a late reader (after the task ended) getting the same
 * chunks in the same order, and how long its replay took. Then, in a fresh database, the log's
 * bytes per task for the seed example (math.copysign(1, -1)) and for demo.output(100, 0).
 */
export async function outputStreamScenario(job: ChildJob, rec: Recorder): Promise<void> {
  for (let rep = 1; rep <= job.repeat; rep++) {
    await streamOnce(job, rec, rep);
    if (rep === 1) await weighLogs(job, rec);
  }
}

async function streamOnce(job: ChildJob, rec: Recorder, rep: number): Promise<void> {
  const { outputChunks: count, outputPerSecond: rate, outputSubscribers: subscribers } = job.sizes;
  const db = await freshDatabase(job.adminUrl, job.template);
  const core = await createTaskwireSystem(db.url);
  const processes: ServerProcess[] = [];
  const clients: SubscriptionClient[] = [];
  try {
    const { id } = await core.deps.queue.enqueue({ name: STREAM_TASK, args: [count, rate] });
    const server = await startServerProcess(job.root, { databaseUrl: db.url, server: true, worker: false }, job.profileDir);
    processes.push(server);
    const latency: ChunkLatency = { total: new Samples(), toStored: new Samples(), fromStored: new Samples(), lastReceived: 0 };
    const readers = range(0, subscribers).map((s) => {
      const client = benchWsClient(server.url);
      clients.push(client);
      return read(client, id, ['ENQUEUED', 'OUTPUT'], s === 0, latency);
    });
    await waitUntil(
      () => {
        const failed = readers.find((r) => r.error);
        if (failed) throw failed.error;
        return readers.every((r) => r.enqueued);
      },
      { timeoutMs: 60_000, what: 'every output subscription to replay ENQUEUED' },
    );
    const worker = await startServerProcess(job.root, { databaseUrl: db.url, server: false, worker: true }, job.profileDir);
    processes.push(worker);
    const pids = { server: server.pid, worker: worker.pid, clients: process.pid };
    const [{ pid: backend }] = (await core.deps.db.sql`SELECT pg_backend_pid() AS pid`) as unknown as [{ pid: number }];
    const postmaster = Number(procStat(backend)[1]);
    const notified = (await server.stats()).stats.notifications ?? 0;
    const pgBefore = clusterCpuUs(postmaster);
    const cpuBefore = sampleCpu(pids);
    const loop = watchLoopDelay();
    await withTimeout(Promise.all(readers.map((r) => r.done)), 60_000 + (count * 1000) / rate, 'every output stream to end');
    const cpuAfter = sampleCpu(pids);
    const pgUs = clusterCpuUs(postmaster) - pgBefore;
    const notifications = ((await server.stats()).stats.notifications ?? 0) - notified;
    const loopDelay = loop.stop();
    const cpu = describeCpu(cpuBefore, cpuAfter);

    const bad = readers.filter((r) => r.received !== count || r.outOfOrder > 0);
    if (bad.length > 0) {
      const b = bad[0] as Reader;
      throw new Error(`output: ${bad.length} of ${subscribers} subscribers did not get every chunk once in order (e.g. ${b.received} of ${count}, ${b.outOfOrder} out of order)`);
    }
    const live = readers[0]?.chunks ?? [];
    const lateClient = benchWsClient(server.url);
    clients.push(lateClient);
    const replayStart = performance.now();
    const late = read(lateClient, id, ['OUTPUT'], true, undefined);
    await withTimeout(late.done, 60_000, 'the late reader');
    const replayMs = performance.now() - replayStart;
    if (late.received !== count || late.outOfOrder > 0 || !sameChunks(late.chunks ?? [], live)) {
      throw new Error(`output: the late reader got ${late.received} of ${count} chunks${late.outOfOrder > 0 ? ', out of order' : ''}, not the live subscribers' sequence`);
    }
    const p = latency.total.summary();
    rec.add(M.outputP50, 'ms', p.p50);
    rec.add(M.outputP99, 'ms', p.p99);
    rec.add('output write → subscriber max', 'ms', p.max);
    const stored = latency.toStored.summary();
    rec.add('output write → stored (event at) p50', 'ms', stored.p50);
    rec.add('output write → stored (event at) p99', 'ms', stored.p99);
    const served = latency.fromStored.summary();
    rec.add('output stored (event at) → subscriber p50', 'ms', served.p50);
    rec.add('output stored (event at) → subscriber p99', 'ms', served.p99);
    const first = live[2] as number;
    const last = live[live.length - 1] as number;
    rec.add(M.outputRate, 'chunks/s', ((count - 1) * 1000) / (last - first));
    // What the server delivered, against the count × subscribers per second the writes asked for.
    rec.add('output messages delivered per second (all subscribers)', 'msgs/s', (count * subscribers * 1000) / (latency.lastReceived - first));
    rec.add(`late reader: replay of ${count} chunks`, 'ms', replayMs);
    // CPU time per message hardly depends on how busy the machine is, unlike the latency.
    const serverMs = cpuMsOf(cpuBefore, cpuAfter, 'server');
    if (serverMs !== undefined) rec.add('output: server CPU per message delivered', 'µs', (serverMs * 1000) / (count * subscribers));
    // The measuring side: a harness whose loop runs late stamps every message late.
    const clientsMs = cpuMsOf(cpuBefore, cpuAfter, 'clients');
    if (clientsMs !== undefined) rec.add('output: harness (subscribers) CPU per message received', 'µs', (clientsMs * 1000) / (count * subscribers));
    rec.add('output: harness event-loop delay p99', 'ms', loopDelay.p99);
    // The writing side, per chunk: the worker's batching and statements, and PostgreSQL's (every
    // statement is parsed, written, committed and NOTIFYs; the server reads once per notification).
    const workerMs = cpuMsOf(cpuBefore, cpuAfter, 'worker');
    if (workerMs !== undefined) rec.add('output: worker CPU per chunk written', 'µs', (workerMs * 1000) / count);
    rec.add('output: PostgreSQL CPU per chunk written', 'µs', pgUs / count);
    rec.add('output: chunks per notification (statement)', 'chunks', count / Math.max(1, notifications));
    if (rep === 1) {
      rec.notes.push(
        `output: ${count} chunks at ${rate}/s to ${subscribers} subscribers, each complete and in order, and to a late reader alike; ` +
          `while streaming: ${cpu}; ${describeLoopDelay(loopDelay)}`,
      );
    }
  } finally {
    await Promise.all(clients.map((c) => c.dispose().catch(() => undefined)));
    for (const p of processes) await p.stop();
    await core.close();
    await db.drop();
  }
}

async function withTimeout<T>(promise: Promise<T>, ms: number, what: string): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const late = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`Timed out after ${Math.round(ms)} ms waiting for ${what}`)), ms);
  });
  try {
    return await Promise.race([promise, late]);
  } finally {
    clearTimeout(timer);
  }
}

/** The same chunks (version, i, t), in the same order. */
function sameChunks(a: readonly number[], b: readonly number[]): boolean {
  return a.length === b.length && a.every((v, i) => v === b[i]);
}

/**
 * The event log's growth per task: 5 × `outputSizeTasks` of the seed example (3 small events
 * each: enough of them that 8 KB pages do not dominate), then `outputSizeTasks` 100-chunk outputs.
 */
async function weighLogs(job: ChildJob, rec: Recorder): Promise<void> {
  const outputTasks = job.sizes.outputSizeTasks;
  const seedTasks = 5 * outputTasks;
  const db = await freshDatabase(job.adminUrl, job.template);
  const core = await createTaskwireSystem(db.url);
  try {
    const empty = await core.eventLogSize();
    const seed = await grow(core, range(0, seedTasks).map(() => ({ name: 'math.copysign', args: [1, -1] })));
    const outputs = await grow(core, range(0, outputTasks).map(() => ({ name: 'demo.output', args: [100, 0] })));
    rec.add('task_events bytes per task: math.copysign(1, -1)', 'bytes', (seed.bytes - empty.bytes) / seedTasks);
    rec.add('task_events bytes per task: demo.output(100, 0)', 'bytes', (outputs.bytes - seed.bytes) / outputTasks);
    rec.notes.push(
      `output: the log per task (heap, both indexes, TOAST): math.copysign(1, -1) ${((seed.events - empty.events) / seedTasks).toFixed(1)} events ` +
        `(${seedTasks} tasks), demo.output(100, 0) ${((outputs.events - seed.events) / outputTasks).toFixed(1)} events (${outputTasks} tasks)`,
    );
  } finally {
    await core.close();
    await db.drop();
  }
}

/** Enqueues and runs `inputs` in this process, then weighs the log. */
async function grow(core: TaskwireSystem, inputs: { name: string; args: unknown[] }[]): Promise<{ bytes: number; events: number }> {
  await core.deps.queue.enqueueMany(inputs);
  await core.startWorker(() => undefined);
  await waitUntil(async () => (await core.unfinished()) === 0, { timeoutMs: 60_000, intervalMs: 5, what: 'the weighed tasks to finish' });
  await core.stopWorker();
  return core.eventLogSize();
}
