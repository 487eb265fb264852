import type { ChildProcess } from 'node:child_process';
import { askEach, exitChild, replyOf, startChildren } from '../lib/child-ipc.js';
import type { SubscriptionClient } from '../lib/lean-ws.js';
import { M } from '../lib/metrics.js';
import type { OutputReadersDone, OutputReadersReply, OutputReadersRequest } from '../lib/output-readers-child.js';
import { newChunkLatency, readOutput, type ChunkLatency } from '../lib/output-readers.js';
import { freshDatabase } from '../lib/pg.js';
import { clusterCpuUs, cpuMsOf, describeCpu, procStat, sampleCpu } from '../lib/cpu.js';
import { describeLoopDelay } from '../lib/loop-delay.js';
import type { ChildJob, Recorder } from '../lib/protocol.js';
import { benchWsClient } from '../lib/resumable-ws.js';
import { startServerProcess, type ServerProcess } from '../lib/server-process.js';
import { range, waitUntil } from '../lib/wait.js';
import { createTaskwireSystem, STREAM_TASK, type TaskwireSystem } from '../systems/taskwire.js';

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
  const children: ChildProcess[] = [];
  try {
    const server = await startServerProcess(job.root, { databaseUrl: db.url, server: true, worker: false }, job.profileDir);
    processes.push(server);
    // The subscribers, spread over reader processes (see READER_PROCESSES); the first keeps its chunks.
    const readers = await startChildren({ root: job.root, file: 'bench/lib/output-readers-child.ts', profileDir: job.profileDir, profileName: 'readers', count: READER_PROCESSES, what: 'output reader process' });
    children.push(...readers);
    const shares = range(0, readers.length).map((k) => Math.floor(((k + 1) * subscribers) / readers.length) - Math.floor((k * subscribers) / readers.length));
    /**
     * One stream of `chunks` chunks from a new task to `subscribers` new subscriptions, all
     * registered before a worker process starts it; `done`: what each reader process saw.
     */
    const stream = async (chunks: number): Promise<{ id: string; done: Promise<OutputReadersDone[]>; worker: ServerProcess }> => {
      const { id } = await core.deps.queue.enqueue({ name: STREAM_TASK, args: [chunks, rate] });
      const results = readers.map((child) => {
        const done = replyOf<OutputReadersReply, 'done'>(child, 'done', 'output reader process');
        done.catch(() => undefined); // awaited below
        return done;
      });
      await askEach<OutputReadersReply, 'subscribed'>(
        readers,
        'subscribed',
        (k) => ({ type: 'subscribe', url: server.url, id, count: shares[k] as number, keepFirst: k === 0 }) satisfies OutputReadersRequest,
        'output reader process',
      );
      const worker = await startServerProcess(job.root, { databaseUrl: db.url, server: false, worker: true }, job.profileDir);
      processes.push(worker);
      for (const child of readers) child.send({ type: 'start' } satisfies OutputReadersRequest);
      return { id, done: withTimeout(Promise.all(results), 60_000 + (chunks * 1000) / rate, 'every output stream to end'), worker };
    };
    // The warm-up: the server process is new, and its first thousands of messages run through code
    // V8 has not compiled yet (its loop stalls 20–60 ms at a time in the first second). A server in
    // service is past that; the first stream's p99 is reported on its own.
    const warm = await stream(Math.min(WARM_UP_CHUNKS, count));
    const warmDone = await warm.done;
    checkReaders(warmDone, Math.min(WARM_UP_CHUNKS, count), subscribers);
    rec.add('output write → subscriber p99, the server\'s first stream (warm-up)', 'ms', mergeLatency(warmDone).total.summary().p99);
    await warm.worker.stop();

    const [{ pid: backend }] = (await core.deps.db.sql`SELECT pg_backend_pid() AS pid`) as unknown as [{ pid: number }];
    const postmaster = Number(procStat(backend)[1]);
    const measured = await stream(count);
    const { id, worker } = measured;
    const pids: Record<string, number> = { server: server.pid, worker: worker.pid };
    readers.forEach((child, k) => (pids[`clients${k + 1}`] = child.pid as number));
    const notified = (await server.stats()).stats.notifications ?? 0;
    const pgBefore = clusterCpuUs(postmaster);
    const cpuBefore = sampleCpu(pids);
    const done = await measured.done;
    const cpuAfter = sampleCpu(pids);
    const pgUs = clusterCpuUs(postmaster) - pgBefore;
    const notifications = ((await server.stats()).stats.notifications ?? 0) - notified;
    const cpu = describeCpu(cpuBefore, cpuAfter);
    const latency = mergeLatency(done);
    // The worst reader process's loop: its late loop stamps its messages late.
    const loopDelay = done.map((d) => d.loopDelay).reduce((a, b) => (b.p99 > a.p99 ? b : a));
    checkReaders(done, count, subscribers);
    const live = done[0]?.chunks ?? [];
    const lateClient = benchWsClient(server.url);
    clients.push(lateClient);
    const replayStart = performance.now();
    const late = readOutput(lateClient, id, ['OUTPUT'], true, undefined);
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
    const clientsMs = readers.reduce((sum, _, k) => sum + (cpuMsOf(cpuBefore, cpuAfter, `clients${k + 1}`) ?? Number.NaN), 0);
    if (Number.isFinite(clientsMs)) rec.add('output: harness (subscribers) CPU per message received', 'µs', (clientsMs * 1000) / (count * subscribers));
    rec.add('output: harness event-loop delay p99 (worst reader process)', 'ms', loopDelay.p99);
    // The writing side, per chunk: the worker's batching and statements, and PostgreSQL's (every
    // statement is parsed, written, committed and NOTIFYs; the server reads once per notification).
    const workerMs = cpuMsOf(cpuBefore, cpuAfter, 'worker');
    if (workerMs !== undefined) rec.add('output: worker CPU per chunk written', 'µs', (workerMs * 1000) / count);
    rec.add('output: PostgreSQL CPU per chunk written', 'µs', pgUs / count);
    rec.add('output: chunks per notification (statement)', 'chunks', count / Math.max(1, notifications));
    if (rep === 1) {
      rec.notes.push(
        `output: ${count} chunks at ${rate}/s to ${subscribers} subscribers in ${readers.length} reader processes, each complete and in order, and to a late reader alike; ` +
          `while streaming: ${cpu}; ${describeLoopDelay(loopDelay)}`,
      );
    }
  } finally {
    await Promise.all(clients.map((c) => c.dispose().catch(() => undefined)));
    await stopReaders(children);
    for (const p of processes) await p.stop();
    await core.close();
    await db.drop();
  }
}

/** Chunks of the warm-up stream (1 s at 2,000/s). */
const WARM_UP_CHUNKS = 2_000;

/** Every subscriber got every one of `chunks` chunks once, in order; else the run fails. */
function checkReaders(done: readonly OutputReadersDone[], chunks: number, subscribers: number): void {
  const counts = done.flatMap((d) => d.received.map((received, i) => ({ received, outOfOrder: d.outOfOrder[i] as number })));
  const bad = counts.filter((r) => r.received !== chunks || r.outOfOrder > 0);
  if (counts.length !== subscribers || bad.length > 0) {
    const b = bad[0];
    throw new Error(
      `output: ${bad.length} of ${counts.length} subscribers (${subscribers} asked for) did not get every chunk once in order` +
        (b ? ` (e.g. ${b.received} of ${chunks}, ${b.outOfOrder} out of order)` : ''),
    );
  }
}

/** The reader processes' samples together. */
function mergeLatency(done: readonly OutputReadersDone[]): ChunkLatency {
  const latency = newChunkLatency();
  for (const d of done) {
    latency.total.addValues(d.total);
    latency.toStored.addValues(d.toStored);
    latency.fromStored.addValues(d.fromStored);
    latency.lastReceived = Math.max(latency.lastReceived, d.lastReceived);
  }
  return latency;
}

/**
 * Processes the subscribers are spread over. They stand for independent clients: in one process
 * their 100 sockets' messages (200,000 a second) queue behind each other in one event loop, whose
 * delay then stamps messages late (bench/README.md, "The measuring client (i, j)").
 */
const READER_PROCESSES = Number(process.env.BENCH_OUTPUT_READER_PROCESSES ?? 2);

/** Asks each reader process to close its connections and exit; kills any that hangs. */
async function stopReaders(children: readonly ChildProcess[]): Promise<void> {
  await Promise.all(children.map((child) => exitChild(child, { type: 'exit' } satisfies OutputReadersRequest)));
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
