import { cpuMsOf, describeCpu, sampleCpu } from '../lib/cpu.js';
import { createFollowerStats, followFeed, followTasks, type FollowerStats } from '../lib/event-followers.js';
import { gql } from '../lib/graphql-client.js';
import { describeLoopDelay, watchLoopDelay } from '../lib/loop-delay.js';
import { M } from '../lib/metrics.js';
import { freshDatabase } from '../lib/pg.js';
import type { ChildJob, Recorder } from '../lib/protocol.js';
import { ResumableConnection, throwIfFailed, wallNow } from '../lib/resumable-ws.js';
import { startServerProcess, type ServerProcess } from '../lib/server-process.js';
import { Samples } from '../lib/stats.js';
import { describeCheck, isExact, sumChecks, type ExpectedVersions, type TallyCheck } from '../lib/version-tally.js';
import { range, waitUntil } from '../lib/wait.js';
import { createTaskwireSystem, NOOP_TASK, type TaskwireSystem } from '../systems/taskwire.js';

const FIRST_CURSOR = /* GraphQL */ `
  query Cursor($id: ID!) { taskResult(id: $id) { events(first: 1) { edges { node { cursor } } } } }`;

/**
 * (i) the event log under load, with a server restart: `eventLogTasks` no-op tasks enqueued in
 * bulk, then followed by `eventLogSubscribers` graphql-ws connections each holding
 * `taskEvents(afterVersion: 0)` on `eventLogTasksPerSubscriber` tasks spread evenly over the
 * drain order, and `eventLogFeeds` connections each on `taskEventFeed` (no filter) from a cursor
 * taken just before the worker starts. A worker in its own process drains the tasks; once half
 * the drain's events are written the server process is SIGKILLed and a new one started on the
 * same port; every connection reconnects and resumes (taskEvents with its last version,
 * the feed with its last cursor). Then every follower's (task, version) pairs are checked
 * against task_events: any lost, repeated, reordered or made-up event fails the run.
 * Latency: the event's `at` (clock_timestamp() of the writing statement, before its commit) →
 * the client has it, same host clock, for events written after the subscription (re)started;
 * those written earlier arrive as replays and are counted, not timed.
 */
export async function eventLogScenario(job: ChildJob, rec: Recorder): Promise<void> {
  for (let rep = 1; rep <= job.repeat; rep++) {
    const db = await freshDatabase(job.adminUrl, job.template);
    const core = await createTaskwireSystem(db.url);
    const servers: ServerProcess[] = [];
    const connections: ResumableConnection[] = [];
    try {
      await runOnce(job, rec, rep, db.url, core, servers, connections);
    } finally {
      await Promise.all(connections.map((c) => c.dispose()));
      for (const s of servers) await s.stop();
      await core.close();
      await db.drop();
    }
  }
}

async function runOnce(
  job: ChildJob,
  rec: Recorder,
  rep: number,
  url: string,
  core: TaskwireSystem,
  servers: ServerProcess[],
  connections: ResumableConnection[],
): Promise<void> {
  const { eventLogTasks: n, eventLogSubscribers: subscribers, eventLogTasksPerSubscriber: perSubscriber, eventLogFeeds: feeds } = job.sizes;
  const sql = core.deps.db.sql;
  const ids: string[] = [];
  for (let from = 0; from < n; from += 20_000) {
    const batch = range(from, Math.min(20_000, n - from)).map((i) => ({ name: NOOP_TASK, args: [i] }));
    for (const t of await core.deps.queue.enqueueMany(batch)) ids.push(t.id);
  }
  // Markers: tasks that never run (due in an hour), whose events the followers use as barriers.
  const marker = async (): Promise<string> =>
    (await core.deps.queue.enqueue({ name: NOOP_TASK, args: [-1], runAfter: new Date(Date.now() + 3_600_000) })).id;
  const startMarker = await marker();
  // The standby takes over after the kill; started now (in parallel), so the outage is the failover, not tsx's start-up.
  const [server, standby] = await Promise.all(
    [0, 1].map(() => startServerProcess(job.root, { databaseUrl: url, server: true, worker: false }, job.profileDir)),
  );
  if (!server || !standby) throw new Error('a server process did not start');
  servers.push(server, standby);
  const cursorData = await gql<{ taskResult: { events: { edges: { node: { cursor: string } }[] } } }>(server.url, FIRST_CURSOR, { id: startMarker });
  const startCursor = cursorData.taskResult.events.edges[0]?.node.cursor;
  if (!startCursor) throw new Error('the start marker has no ENQUEUED event');

  // taskEvents: task k of subscriber s is the (k * subscribers + s)-th of the evenly spread sample.
  const sample = subscribers * perSubscriber;
  const watched = range(0, sample).map((j) => ids[Math.floor(((j + 0.5) * n) / sample)] as string);
  const taskStats = createFollowerStats(new Map(watched.map((id, i) => [id, i])));
  const taskFollowers = range(0, subscribers).map((s) => {
    const conn = new ResumableConnection(server.url);
    connections.push(conn);
    return followTasks(conn, range(0, perSubscriber).map((k) => watched[k * subscribers + s] as string), taskStats);
  });
  const index = new Map(ids.map((id, i) => [id, i]));
  const feedStats: FollowerStats[] = [];
  const feedFollowers = range(0, feeds).map(() => {
    const conn = new ResumableConnection(server.url);
    connections.push(conn);
    const stats = createFollowerStats(index);
    feedStats.push(stats);
    return followFeed(conn, startCursor, stats);
  });
  // What the followers have, for a timeout's message: a stall and a slow catch-up read differently.
  const progress = (): string =>
    `taskEvents: ${taskStats.tally.received} events, ${taskFollowers.reduce((k, f) => k + f.subscriptions.filter((x) => !x.done).length, 0)} streams open; ` +
    `feeds: ${feedStats.map((f) => f.tally.received).join(', ')} events`;
  const wait = async (check: () => boolean | Promise<boolean>, what: string, timeoutMs = 120_000): Promise<void> => {
    try {
      await waitUntil(
        async () => {
          throwIfFailed(connections);
          return check();
        },
        { timeoutMs, intervalMs: 10, what },
      );
    } catch (error) {
      throw new Error(`${error instanceof Error ? error.message : String(error)} (${progress()})`);
    }
  };
  // Every subscription live before the clock runs: taskEvents replayed ENQUEUED, the feeds passed a marker.
  await wait(() => taskFollowers.every((f) => f.started()), 'every taskEvents subscription to replay ENQUEUED');
  const readyMarker = await marker();
  await wait(() => feedFollowers.every((f) => f.seen(readyMarker)), 'every feed to pass the ready marker');

  // The global event sequence says how far the drain is without scanning tasks (n ENQUEUED, then 2 per task).
  const [seqRow] = await sql`SELECT pg_get_serial_sequence('task_events', 'seq') AS name`;
  const seqName = String(seqRow?.name);
  const eventsWritten = async (): Promise<number> => Number((await sql.unsafe(`SELECT last_value::float8 AS v FROM ${seqName}`))[0]?.v);
  const before = await eventsWritten();
  const worker = await startServerProcess(job.root, { databaseUrl: url, server: false, worker: true }, job.profileDir);
  servers.push(worker);
  const delivered = (): number => taskStats.tally.received + feedStats.reduce((sum, f) => sum + f.tally.received, 0);
  const deliveredBefore = delivered();
  const cpuStart = sampleCpu({ server: server.pid, worker: worker.pid, clients: process.pid });
  const loop = watchLoopDelay();
  await wait(async () => (await eventsWritten()) - before >= n, 'half of the drain', 300_000);

  for (const c of connections) c.failoverTo(standby.url);
  const cpuKill = sampleCpu({ server: server.pid, worker: worker.pid, clients: process.pid });
  const cpuFirstHalf = describeCpu(cpuStart, cpuKill);
  const killedAt = wallNow();
  await server.kill('SIGKILL');
  // A connection whose streams all ended before the kill has nothing to resume.
  const resuming = connections.filter((c) => c.openCount > 0);
  await wait(() => resuming.every((c) => c.lostAt !== undefined), 'every connection to see the server go');
  const pidsAfter = { server: standby.pid, worker: worker.pid, clients: process.pid };
  const cpuRestart = sampleCpu(pidsAfter);

  // By the sequence first (one row), then the count: a count of unfinished tasks reads the table (~30 ms
  // at 100,000 tasks), and polled every 10 ms through the drain it took PostgreSQL time from the drain measured.
  await wait(async () => (await eventsWritten()) - before >= 2 * n, 'the drain to write its events', 300_000);
  await wait(async () => (await core.unfinished()) <= 2, 'the drain to finish', 300_000);
  await wait(() => taskFollowers.every((f) => f.subscriptions.every((s) => s.done)), 'every taskEvents stream to end');
  const endMarker = await marker();
  // Feed order is commit order: an event committed after every drain event arrives after all of them.
  await wait(() => feedFollowers.every((f) => f.seen(endMarker)), 'every feed to pass the end marker', 120_000 + n * 3);
  const cpuEnd = sampleCpu(pidsAfter);
  const loopDelay = loop.stop();
  const cpuSecondHalf = describeCpu(cpuRestart, cpuEnd);
  const serverMs = (cpuMsOf(cpuStart, cpuKill, 'server') ?? Number.NaN) + (cpuMsOf(cpuRestart, cpuEnd, 'server') ?? Number.NaN);
  const deliveredInRun = delivered() - deliveredBefore;

  const taskCheck = taskStats.tally.check(await expectedForTasks(sql, watched));
  const [start] = await sql`SELECT tx::text AS tx, seq::text AS seq FROM task_events WHERE task_id = ${startMarker} AND version = 1`;
  const feedExpected = await expectedAfter(sql, index, String(start?.tx), String(start?.seq));
  const feedChecks = feedStats.map((s) => s.tally.check(feedExpected));
  const feedCheck = sumChecks(feedChecks);
  const drain = await drainSpan(sql, ids.length);
  const log = await core.eventLogSize();
  // (A connection whose only open stream had its terminal event already gets just `complete`: no event to time.)
  const backAt = Math.max(...resuming.flatMap((c) => c.backAt ?? []));
  if (rep === 1) {
    rec.notes.push(
      `event log: ${n} tasks; ${subscribers} taskEvents connections × ${perSubscriber} tasks (${sample} tasks, every ${Math.round(n / sample)}th), ` +
        `${feeds} taskEventFeed connections; the server SIGKILLed after ${n} drain events, ${resuming.length} connections resumed on a standby server process`,
    );
    rec.notes.push(
      `event log: CPU until the kill: ${cpuFirstHalf}; after it, until every follower had every event: ${cpuSecondHalf}; ${describeLoopDelay(loopDelay)}`,
    );
    rec.notes.push(`event log: taskEvents ${describeCheck(taskCheck)}; ${taskStats.replayed} replayed (ENQUEUED and after the restart)`);
    rec.notes.push(`event log: feeds ${describeCheck(feedCheck)}; ${feedStats.reduce((s, f) => s + f.replayed, 0)} replayed after the restart`);
  }
  if (!isExact(taskCheck) || !isExact(feedCheck)) {
    throw new Error(`event log: events lost or repeated — taskEvents: ${describeCheck(taskCheck)}; taskEventFeed: ${feedChecks.map(describeCheck).join(' | ')}`);
  }
  rec.add(M.lostOrRepeated, 'events', lostOrRepeated(taskCheck) + lostOrRepeated(feedCheck));
  rec.add('events delivered exactly once (both kinds)', 'events', taskCheck.exact + feedCheck.exact);
  rec.add(M.eventLogDrainRate, 'tasks/s', drain);
  const tasks = taskStats.latency.summary();
  rec.add(M.taskEventsP50, 'ms', tasks.p50);
  rec.add(M.taskEventsP99, 'ms', tasks.p99);
  rec.add('commit → taskEvents subscriber p99 before the kill', 'ms', taskStats.firstRun.summary().p99);
  const merged = new Samples();
  const firstRun = new Samples();
  for (const s of feedStats) {
    merged.addAll(s.latency);
    firstRun.addAll(s.firstRun);
  }
  const f = merged.summary();
  rec.add(M.feedP50, 'ms', f.p50);
  rec.add(M.feedP99, 'ms', f.p99);
  rec.add('commit → taskEventFeed subscriber max', 'ms', f.max);
  rec.add('commit → taskEventFeed subscriber p99 before the kill', 'ms', firstRun.summary().p99);
  rec.add('restart: SIGKILL → every connection receiving again', 'ms', backAt - killedAt);
  rec.add(M.eventLogBytesPerTask, 'bytes', log.bytes / (ids.length + 3));
  // Both servers' CPU time per event handed to a follower (live and replayed): unlike the latency, hardly moved by other load.
  if (Number.isFinite(serverMs)) rec.add('event log: server CPU per event delivered', 'µs', (serverMs * 1000) / deliveredInRun);
  // The measuring side: the harness's subscribers (this process), per event received, and how late its loop ran.
  const clientsMs = (cpuMsOf(cpuStart, cpuKill, 'clients') ?? Number.NaN) + (cpuMsOf(cpuRestart, cpuEnd, 'clients') ?? Number.NaN);
  if (Number.isFinite(clientsMs)) rec.add('event log: harness (subscribers) CPU per event received', 'µs', (clientsMs * 1000) / deliveredInRun);
  rec.add('event log: harness event-loop delay p99', 'ms', loopDelay.p99);
}

function lostOrRepeated(c: TallyCheck): number {
  return c.missing + c.duplicates + c.unexpected + c.outOfOrder;
}

type Sql = TaskwireSystem['deps']['db']['sql'];

/** Every version of each watched task, 1 … its last. */
async function expectedForTasks(sql: Sql, watched: readonly string[]): Promise<ExpectedVersions> {
  const rows = await sql`
    SELECT task_id::text AS id, min(version)::int AS lo, max(version)::int AS hi, count(*)::int AS n
    FROM task_events WHERE task_id = ANY(${watched as string[]}::uuid[]) GROUP BY task_id`;
  const position = new Map(watched.map((id, i) => [id, i]));
  return toExpected(rows, position);
}

/** Every event after a feed position, per task of `index`. */
async function expectedAfter(sql: Sql, index: ReadonlyMap<string, number>, tx: string, seq: string): Promise<ExpectedVersions> {
  const rows = await sql`
    SELECT task_id::text AS id, min(version)::int AS lo, max(version)::int AS hi, count(*)::int AS n
    FROM task_events WHERE (tx, seq) > (${tx}::xid8, ${seq}::bigint) GROUP BY task_id`;
  return toExpected(rows, index);
}

function toExpected(rows: readonly Record<string, unknown>[], index: ReadonlyMap<string, number>): ExpectedVersions {
  const ranges = new Map<number, [number, number]>();
  for (const r of rows) {
    const t = index.get(String(r.id));
    if (t === undefined) continue;
    const [lo, hi, count] = [Number(r.lo), Number(r.hi), Number(r.n)];
    // A gap in the log itself would make a follower's "missing" meaningless: name it.
    if (count !== hi - lo + 1) throw new Error(`task_events of ${String(r.id)} has ${count} rows for versions ${lo}…${hi}`);
    ranges.set(t, [lo, hi]);
  }
  return { ranges };
}

/** Tasks per second from the first STARTED to the last SUCCEEDED event (database clock). */
async function drainSpan(sql: Sql, tasks: number): Promise<number> {
  const [row] = await sql`
    SELECT extract(epoch FROM max(at) FILTER (WHERE type = 'SUCCEEDED') - min(at) FILTER (WHERE type = 'STARTED'))::float8 AS s
    FROM task_events`;
  return tasks / Number(row?.s);
}
