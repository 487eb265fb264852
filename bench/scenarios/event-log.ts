import type { ChildProcess } from 'node:child_process';
import { askEach, exitChild, startChildren } from '../lib/child-ipc.js';
import { cpuMsOf, describeCpu, sampleCpu } from '../lib/cpu.js';
import type { FollowersFinished, FollowersPoll, FollowersReply, FollowersRequest, RestartTimes } from '../lib/event-followers-child.js';
import { gql } from '../lib/graphql-client.js';
import { firstResult, leanWsClient, type SubscriptionClient } from '../lib/lean-ws.js';
import { describeLoopDelay } from '../lib/loop-delay.js';
import { M } from '../lib/metrics.js';
import { freshDatabase } from '../lib/pg.js';
import type { ChildJob, Recorder } from '../lib/protocol.js';
import { wallNow } from '../lib/resumable-ws.js';
import { startServerProcess, type ServerProcess } from '../lib/server-process.js';
import { Samples, summarize } from '../lib/stats.js';
import { describeCheck, isExact, sumChecks, type ExpectedRows, type TallyCheck } from '../lib/version-tally.js';
import { range, waitUntil } from '../lib/wait.js';
import { createTaskwireSystem, NOOP_TASK, type TaskwireSystem } from '../systems/taskwire.js';

const FIRST_CURSOR = /* GraphQL */ `
  query Cursor($id: ID!) { taskResult(id: $id) { events(first: 1) { edges { node { cursor } } } } }`;

/**
 * (i) the event log under load, with a server restart: `eventLogTasks` no-op tasks enqueued in
 * bulk, then followed by `eventLogSubscribers` graphql-ws connections each holding
 * `taskEvents(afterVersion: 0)` on `eventLogTasksPerSubscriber` tasks spread evenly over the
 * drain order, and `eventLogFeeds` connections each on `taskEventFeed` (no filter) from a cursor
 * taken just before the worker starts; the connections are spread over follower processes
 * (bench/lib/event-followers-child.ts, FOLLOWER_PROCESSES). A worker in its own process drains the tasks; once half
 * the drain's events are written the server process is SIGKILLed; every connection reconnects
 * to a standby server process started beforehand (restarted, cold or warm: STANDBY) and resumes (taskEvents
 * with its last version, the feed with its last cursor). Then every follower's (task, version) pairs are checked
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
    const followers: ChildProcess[] = [];
    try {
      await runOnce(job, rec, rep, db.url, core, servers, followers);
    } finally {
      await Promise.all(followers.map((child) => exitChild(child, { type: 'exit' } satisfies FollowersRequest)));
      for (const s of servers) await s.stop();
      await core.close();
      await db.drop();
    }
  }
}

/**
 * Processes the followers are spread over (connection k in process k mod n). They stand for
 * independent clients: in the harness's one process, 60 sockets' messages (~150,000 a second)
 * queued behind each other in one event loop, late by up to 100–260 ms at p99, and every event
 * was stamped that late (bench/README.md, "Compiled payloads and follower processes (i)").
 */
const FOLLOWER_PROCESSES = Math.max(1, Number(process.env.BENCH_EVENT_LOG_FOLLOWER_PROCESSES ?? 2));

/**
 * BENCH_EVENT_LOG_RATE (tasks/s, unset: none): the drained queue's rate limit, so that the same
 * run can be read below the machine's saturation (issue 11's latency target; bench/README.md).
 * The run's figures are then not the target's, which is read at the worker's own pace.
 */
const DRAIN_RATE = process.env.BENCH_EVENT_LOG_RATE ? Number(process.env.BENCH_EVENT_LOG_RATE) : undefined;
if (DRAIN_RATE !== undefined && !(Number.isInteger(DRAIN_RATE) && DRAIN_RATE >= 10)) {
  throw new Error(`BENCH_EVENT_LOG_RATE must be a whole number of tasks/s, 10 or more; got ${process.env.BENCH_EVENT_LOG_RATE}`);
}

/**
 * BENCH_EVENT_LOG_STANDBY: what the standby that takes over has done before the kill.
 * - `restarted` (default): a server as it starts (a restart, as the target says), warm-up included: it
 *   warms up by subscribing to itself before it says ready (SERVER_WARM_UP_MS; src/server/warm-up.ts),
 *   and the harness waits for that, as a load balancer waits for `/readyz`.
 * - `cold`: served nothing at all (SERVER_WARM_UP_MS=0, for both servers: every run before session 44).
 * - `warm`: besides its warm-up, it has served subscribers as a replica beside the killed server
 *   would have: before the drain it takes two storms of the resume's shape (warmStandby), ended
 *   before the followers subscribe. A warm standby's first storm found a stale feed tail (fixed in
 *   src/server/live/feed-fanout.ts), which a cold one never meets.
 */
const STANDBY = process.env.BENCH_EVENT_LOG_STANDBY ?? 'restarted';
if (STANDBY !== 'restarted' && STANDBY !== 'cold' && STANDBY !== 'warm') throw new Error(`BENCH_EVENT_LOG_STANDBY must be restarted, cold or warm; got ${STANDBY}`);

const WARM_TASK_EVENTS = /* GraphQL */ `
  subscription Warm($id: ID!) { taskEvents(id: $id, afterVersion: 0) { taskId version status at } }`;
const WARM_FEED = /* GraphQL */ `
  subscription WarmFeed($after: String) { taskEventFeed(after: $after) { taskId version at cursor } }`;

/**
 * Two storms of the resume's shape on `url`, each ended once every subscription had its first event:
 * `subscribers` connections of `perSubscriber` `taskEvents(afterVersion: 0)` on tasks of `tasks` (each
 * replays its ENQUEUED), and `feeds` connections on `taskEventFeed` from `feedCursor` (each replays
 * what follows it). The ms of each, for the notes.
 */
async function warmStandby(url: string, o: { tasks: readonly string[]; subscribers: number; perSubscriber: number; feeds: number; feedCursor: string }): Promise<string> {
  const storm = async (): Promise<number> => {
    const started = performance.now();
    const clients: SubscriptionClient[] = [];
    const firsts: Promise<void>[] = [];
    try {
      for (let s = 0; s < o.subscribers; s++) {
        const client = leanWsClient(url);
        clients.push(client);
        for (let k = 0; k < o.perSubscriber; k++) firsts.push(firstResult(client, WARM_TASK_EVENTS, { id: o.tasks[(s * o.perSubscriber + k) % o.tasks.length] }, false));
      }
      for (let f = 0; f < o.feeds; f++) {
        const client = leanWsClient(url);
        clients.push(client);
        firsts.push(firstResult(client, WARM_FEED, { after: o.feedCursor }, false));
      }
      await Promise.all(firsts);
      return performance.now() - started;
    } finally {
      await Promise.all(clients.map((c) => c.dispose()));
    }
  };
  const times = [await storm(), await storm()];
  return `the standby warmed by two storms of ${o.subscribers} × ${o.perSubscriber} taskEvents and ${o.feeds} feeds: ${times.map((t) => t.toFixed(0)).join(', ')} ms`;
}

async function runOnce(
  job: ChildJob,
  rec: Recorder,
  rep: number,
  url: string,
  core: TaskwireSystem,
  servers: ServerProcess[],
  followers: ChildProcess[],
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
    [0, 1].map(() => startServerProcess(job.root, { databaseUrl: url, server: true, worker: false, ...(STANDBY === 'cold' ? { env: { SERVER_WARM_UP_MS: '0' } } : {}) }, job.profileDir)),
  );
  if (!server || !standby) throw new Error('a server process did not start');
  servers.push(server, standby);
  const cursorOf = async (id: string): Promise<string> => {
    const data = await gql<{ taskResult: { events: { edges: { node: { cursor: string } }[] } } }>(server.url, FIRST_CURSOR, { id });
    const cursor = data.taskResult.events.edges[0]?.node.cursor;
    if (!cursor) throw new Error(`task ${id} has no ENQUEUED event`);
    return cursor;
  };
  const startCursor = await cursorOf(startMarker);
  if (STANDBY === 'warm') {
    // It writes nothing (the followers' feeds are unchanged): the taskEvents replay the ENQUEUED of the
    // drain's last tasks (pending until its end), the feeds the events from the bulk's last task on.
    const tasks = ids.slice(-subscribers * perSubscriber);
    rec.notes.push(`event-log: ${await warmStandby(standby.url, { tasks, subscribers, perSubscriber, feeds, feedCursor: await cursorOf(ids[n - 2] as string) })}`);
  }

  // taskEvents: task k of subscriber s is the (k * subscribers + s)-th of the evenly spread sample.
  const sample = subscribers * perSubscriber;
  const watched = range(0, sample).map((j) => ids[Math.floor(((j + 0.5) * n) / sample)] as string);
  const taskLists = range(0, subscribers).map((s) => range(0, perSubscriber).map((k) => watched[k * subscribers + s] as string));
  const processes = Math.min(FOLLOWER_PROCESSES, subscribers + feeds);
  /** Sends each follower process its request and waits for every one's reply of `type`. */
  const ask = <T extends FollowersReply['type']>(type: T, request: (p: number) => FollowersRequest): Promise<Extract<FollowersReply, { type: T }>[]> =>
    askEach<FollowersReply, T>(followers, type, request, 'follower process');
  followers.push(
    ...(await startChildren({ root: job.root, file: 'bench/lib/event-followers-child.ts', profileDir: job.profileDir, profileName: 'followers', count: processes, what: 'follower process' })),
  );
  // Connection k (task lists first, then feeds) in process k mod `processes`.
  const mine = (k: number, p: number): boolean => k % processes === p;
  await ask('following', (p) => ({
    type: 'follow',
    url: server.url,
    ids,
    taskLists: taskLists.filter((_, s) => mine(s, p)),
    feeds: range(0, feeds).filter((f) => mine(subscribers + f, p)).length,
    startCursor,
  }));
  let last: FollowersPoll[] = [];
  const poll = async (markerId: string | null = null): Promise<FollowersPoll[]> => {
    last = await ask('poll', () => ({ type: 'poll', marker: markerId }));
    const failed = last.find((x) => x.error !== null);
    if (failed) throw new Error(failed.error ?? 'a follower failed');
    return last;
  };
  // What the followers have, for a timeout's message: a stall and a slow catch-up read differently.
  const progress = (): string =>
    `taskEvents: ${last.reduce((k, x) => k + x.taskEvents, 0)} events, ${last.reduce((k, x) => k + x.openTaskStreams, 0)} streams open; ` +
    `feeds: ${last.flatMap((x) => x.feeds).join(', ')} events`;
  const wait = async (check: () => boolean | Promise<boolean>, what: string, timeoutMs = 120_000): Promise<void> => {
    try {
      await waitUntil(check, { timeoutMs, intervalMs: 10, what });
    } catch (error) {
      throw new Error(`${error instanceof Error ? error.message : String(error)} (${progress()})`);
    }
  };
  // Every subscription live before the clock runs: taskEvents replayed ENQUEUED, the feeds passed a marker.
  await wait(async () => (await poll()).every((x) => x.started), 'every taskEvents subscription to replay ENQUEUED');
  const readyMarker = await marker();
  await wait(async () => (await poll(readyMarker)).every((x) => x.seenMarker), 'every feed to pass the ready marker');

  // The global event sequence says how far the drain is without scanning tasks (n ENQUEUED, then 2 per task).
  const [seqRow] = await sql`SELECT pg_get_serial_sequence('task_events', 'seq') AS name`;
  const seqName = String(seqRow?.name);
  const eventsWritten = async (): Promise<number> => Number((await sql.unsafe(`SELECT last_value::float8 AS v FROM ${seqName}`))[0]?.v);
  const before = await eventsWritten();
  // A tenth of the rate every 100 ms: the claim spreads the tasks evenly, not in bursts of a second's worth.
  if (DRAIN_RATE !== undefined) await core.deps.queue.queueControl.setLimits('default', { rateLimit: { max: Math.round(DRAIN_RATE / 10), perMs: 100 } });
  const worker = await startServerProcess(job.root, { databaseUrl: url, server: false, worker: true }, job.profileDir);
  servers.push(worker);
  const delivered = async (): Promise<number> => (await poll()).reduce((k, x) => k + x.received, 0);
  const deliveredBefore = await delivered();
  const pidsOf = (serverPid: number): Record<string, number> => ({
    server: serverPid,
    worker: worker.pid,
    harness: process.pid,
    ...Object.fromEntries(followers.map((child, p) => [`followers ${p + 1}`, child.pid as number])),
  });
  const cpuStart = sampleCpu(pidsOf(server.pid));
  await wait(async () => (await eventsWritten()) - before >= n, 'half of the drain', 300_000);

  const resuming = (await ask('failover', () => ({ type: 'failover', url: standby.url }))).reduce((k, x) => k + x.resuming, 0);
  const cpuKill = sampleCpu(pidsOf(server.pid));
  const cpuFirstHalf = describeCpu(cpuStart, cpuKill);
  const killedAt = wallNow();
  await server.kill('SIGKILL');
  await wait(async () => (await poll()).every((x) => x.lost), 'every connection to see the server go');
  const cpuRestart = sampleCpu(pidsOf(standby.pid));

  // By the sequence first (one row), then the count: a count of unfinished tasks reads the table (~30 ms
  // at 100,000 tasks), and polled every 10 ms through the drain it took PostgreSQL time from the drain measured.
  await wait(async () => (await eventsWritten()) - before >= 2 * n, 'the drain to write its events', 300_000);
  await wait(async () => (await core.unfinished()) <= 2, 'the drain to finish', 300_000);
  await wait(async () => (await poll()).every((x) => x.tasksDone), 'every taskEvents stream to end');
  const endMarker = await marker();
  // Feed order is commit order: an event committed after every drain event arrives after all of them.
  await wait(async () => (await poll(endMarker)).every((x) => x.seenMarker), 'every feed to pass the end marker', 120_000 + n * 3);
  const cpuEnd = sampleCpu(pidsOf(standby.pid));
  const cpuSecondHalf = describeCpu(cpuRestart, cpuEnd);
  const serverMs = (cpuMsOf(cpuStart, cpuKill, 'server') ?? Number.NaN) + (cpuMsOf(cpuRestart, cpuEnd, 'server') ?? Number.NaN);
  const deliveredInRun = (await delivered()) - deliveredBefore;

  const [start] = await sql`SELECT tx::text AS tx, seq::text AS seq FROM task_events WHERE task_id = ${startMarker} AND version = 1`;
  const expected = { tasks: await expectedForTasks(sql, watched), feed: await expectedAfter(sql, String(start?.tx), String(start?.seq)) };
  const finished = await ask('finished', () => ({ type: 'finish', ...expected }));
  const taskCheck = sumChecks(finished.map((f) => f.taskCheck));
  const feedChecks = finished.flatMap((f) => f.feedChecks);
  const feedCheck = sumChecks(feedChecks);
  const drain = await drainSpan(sql, ids.length);
  const log = await core.eventLogSize();
  // (A connection whose only open stream had its terminal event already gets just `complete`: no event to time.)
  const backAt = Math.max(...finished.flatMap((f) => f.backAt ?? []));
  const loopDelay = { p50: Math.max(...finished.map((f) => f.loopDelay.p50)), p99: Math.max(...finished.map((f) => f.loopDelay.p99)), max: Math.max(...finished.map((f) => f.loopDelay.max)) };
  if (rep === 1) {
    rec.notes.push(
      `event log: ${n} tasks; ${subscribers} taskEvents connections × ${perSubscriber} tasks (${sample} tasks, every ${Math.round(n / sample)}th), ` +
        `${feeds} taskEventFeed connections, in ${processes} follower processes; the server SIGKILLed after ${n} drain events, ${resuming} connections resumed on a standby server process` +
        (DRAIN_RATE === undefined ? '' : `; the drain capped at ${DRAIN_RATE} tasks/s (BENCH_EVENT_LOG_RATE: not the target's figures)`) +
        (STANDBY === 'warm' ? "; a warm standby (BENCH_EVENT_LOG_STANDBY=warm: a replica's failover, not the target's restart)" : '') +
        (STANDBY === 'cold' ? '; a cold standby (BENCH_EVENT_LOG_STANDBY=cold: no warm-up, SERVER_WARM_UP_MS=0)' : '') +
        (standby.warmUp ? `; the standby's own warm-up before it said ready: ${standby.warmUp.answered} of ${standby.warmUp.subscriptions} subscriptions answered in ${standby.warmUp.rounds} rounds, ${standby.warmUp.ms} ms${standby.warmUp.stoppedBy ? ` (ended: ${standby.warmUp.stoppedBy})` : ''}` : ''),
    );
    rec.notes.push(
      `event log: CPU until the kill: ${cpuFirstHalf}; after it, until every follower had every event: ${cpuSecondHalf}; follower processes' (worst) ${describeLoopDelay(loopDelay)}`,
    );
    rec.notes.push(`event log: taskEvents ${describeCheck(taskCheck)}; ${finished.reduce((k, f) => k + f.taskReplayed, 0)} replayed (ENQUEUED and after the restart)`);
    rec.notes.push(`event log: feeds ${describeCheck(feedCheck)}; ${finished.reduce((k, f) => k + f.feedReplayed, 0)} replayed after the restart`);
    rec.notes.push(`event log: the restart, ms after the SIGKILL, p50 / max over the resuming connections: ${describeRestarts(finished.flatMap((f) => f.restarts), killedAt)}`);
  }
  if (!isExact(taskCheck) || !isExact(feedCheck)) {
    throw new Error(`event log: events lost or repeated — taskEvents: ${describeCheck(taskCheck)}; taskEventFeed: ${feedChecks.map(describeCheck).join(' | ')}`);
  }
  rec.add(M.lostOrRepeated, 'events', lostOrRepeated(taskCheck) + lostOrRepeated(feedCheck));
  rec.add('events delivered exactly once (both kinds)', 'events', taskCheck.exact + feedCheck.exact);
  rec.add(M.eventLogDrainRate, 'tasks/s', drain);
  const samplesOf = (pick: (f: FollowersFinished) => Float64Array): Samples => {
    const s = new Samples();
    for (const f of finished) s.addValues(pick(f));
    return s;
  };
  const tasks = samplesOf((f) => f.taskLatency).summary();
  rec.add(M.taskEventsP50, 'ms', tasks.p50);
  rec.add(M.taskEventsP99, 'ms', tasks.p99);
  rec.add('commit → taskEvents subscriber p99 before the kill', 'ms', samplesOf((f) => f.taskFirstRun).summary().p99);
  const f = samplesOf((x) => x.feedLatency).summary();
  rec.add(M.feedP50, 'ms', f.p50);
  rec.add(M.feedP99, 'ms', f.p99);
  rec.add('commit → taskEventFeed subscriber max', 'ms', f.max);
  rec.add('commit → taskEventFeed subscriber p99 before the kill', 'ms', samplesOf((x) => x.feedFirstRun).summary().p99);
  rec.add('restart: SIGKILL → every connection receiving again', 'ms', backAt - killedAt);
  rec.add(M.eventLogBytesPerTask, 'bytes', log.bytes / (ids.length + 3));
  // Both servers' CPU time per event handed to a follower (live and replayed): unlike the latency, hardly moved by other load.
  if (Number.isFinite(serverMs)) rec.add('event log: server CPU per event delivered', 'µs', (serverMs * 1000) / deliveredInRun);
  // The measuring side: the follower processes, per event received, and how late their loops ran.
  let followersMs = 0;
  for (let p = 1; p <= followers.length; p++) {
    followersMs += (cpuMsOf(cpuStart, cpuKill, `followers ${p}`) ?? Number.NaN) + (cpuMsOf(cpuRestart, cpuEnd, `followers ${p}`) ?? Number.NaN);
  }
  if (Number.isFinite(followersMs)) rec.add('event log: harness (subscribers) CPU per event received', 'µs', (followersMs * 1000) / deliveredInRun);
  rec.add('event log: harness event-loop delay p99', 'ms', loopDelay.p99);
}

function lostOrRepeated(c: TallyCheck): number {
  return c.missing + c.duplicates + c.unexpected + c.outOfOrder;
}

type Sql = TaskwireSystem['deps']['db']['sql'];

/** Every version of each watched task, 1 … its last. */
async function expectedForTasks(sql: Sql, watched: readonly string[]): Promise<ExpectedRows> {
  const rows = await sql`
    SELECT task_id::text AS id, min(version)::int AS lo, max(version)::int AS hi, count(*)::int AS n
    FROM task_events WHERE task_id = ANY(${watched as string[]}::uuid[]) GROUP BY task_id`;
  return toExpectedRows(rows);
}

/**
 * Where a failover's time goes, per kind of connection: the close seen (the kernel's reset of the
 * killed server's sockets), the standby's `connection_ack` on the new socket (connect, upgrade,
 * connection_init), the first event after it (resubscribe, the replay's read and its delivery).
 */
function describeRestarts(restarts: RestartTimes[], killedAt: number): string {
  const span = (xs: (number | null)[]): string => {
    const after = xs.flatMap((x) => (x === null ? [] : [x - killedAt]));
    if (after.length === 0) return 'n/a';
    const { median, max } = summarize(after);
    return `${median.toFixed(0)} / ${max.toFixed(0)}`;
  };
  return (['taskEvents', 'feed'] as const)
    .map((kind) => {
      const of = restarts.filter((r) => r.kind === kind);
      return `${kind} (${of.length}): close seen ${span(of.map((r) => r.lostAt))}, acked ${span(of.map((r) => r.ackedAt))}, first event ${span(of.map((r) => r.backAt))}`;
    })
    .join('; ');
}

/** Every event after a feed position, per task. */
async function expectedAfter(sql: Sql, tx: string, seq: string): Promise<ExpectedRows> {
  const rows = await sql`
    SELECT task_id::text AS id, min(version)::int AS lo, max(version)::int AS hi, count(*)::int AS n
    FROM task_events WHERE (tx, seq) > (${tx}::xid8, ${seq}::bigint) GROUP BY task_id`;
  return toExpectedRows(rows);
}

function toExpectedRows(rows: readonly Record<string, unknown>[]): ExpectedRows {
  const out: ExpectedRows = { ids: [], lo: new Int32Array(rows.length), hi: new Int32Array(rows.length) };
  rows.forEach((r, k) => {
    const [lo, hi, count] = [Number(r.lo), Number(r.hi), Number(r.n)];
    // A gap in the log itself would make a follower's "missing" meaningless: name it.
    if (count !== hi - lo + 1) throw new Error(`task_events of ${String(r.id)} has ${count} rows for versions ${lo}…${hi}`);
    out.ids.push(String(r.id));
    out.lo[k] = lo;
    out.hi[k] = hi;
  });
  return out;
}

/** Tasks per second from the first STARTED to the last SUCCEEDED event (database clock). */
async function drainSpan(sql: Sql, tasks: number): Promise<number> {
  const [row] = await sql`
    SELECT extract(epoch FROM max(at) FILTER (WHERE type = 'SUCCEEDED') - min(at) FILTER (WHERE type = 'STARTED'))::float8 AS s
    FROM task_events`;
  return tasks / Number(row?.s);
}
