/**
 * `npm run bench`: taskwire side by side with graphile-worker and pg-boss on one
 * embedded PostgreSQL (default, durable settings). Every (system, scenario) runs in its
 * own child process, each repetition in a fresh database. Prints a table, the ratios and
 * the targets on stdout and writes bench/results/latest.json. See bench/README.md.
 */
import { fork, type ChildProcess } from 'node:child_process';
import { mkdir, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import postgres from 'postgres';
import type { ChildMessage, ParentMessage } from './child.js';
import { parseArgs, type BenchOptions } from './lib/cli.js';
import { startBenchPostgres, serverInfo } from './lib/pg.js';
import { SCENARIOS, SYSTEMS, type ChildJob, type ChildResult, type ScenarioKey, type ScenarioName, type Sizes, type SystemName } from './lib/protocol.js';
import { fmt, Results, resultsTable, table } from './lib/report.js';
import { ratios, targets } from './lib/targets.js';
import { commitLatency } from './lib/calibrate.js';
import { createTemplates } from './lib/templates.js';
import { templateFor } from './systems/index.js';

const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');

const FULL: Sizes = {
  drainTasks: 20_000,
  latencyTasks: 300,
  latencyGapMs: 10,
  singleEnqueues: 5_000,
  producers: 10,
  bulkTasks: 20_000,
  httpRequests: 10_000,
  httpClients: 10,
  liveTasks: 300,
  fanOutSubscribers: 10_000,
  fanOutConnections: 100,
  fanOutTasks: 100,
  historyRows: 1_000_000,
  historyDepth: 10_000,
  pageQueries: 200,
  eventLogTasks: 100_000,
  eventLogSubscribers: 50,
  eventLogTasksPerSubscriber: 20,
  eventLogFeeds: 10,
  outputChunks: 10_000,
  outputPerSecond: 2_000,
  outputSubscribers: 100,
  outputSizeTasks: 200,
  scheduleCount: 1_000,
  scheduleSeconds: 30,
  fanInWidth: 10_000,
  fanInChords: 5,
  workflowSteps: 1_000,
  claimProbePending: 100_000,
  claimProbeClaims: 50,
};

const QUICK: Sizes = {
  ...FULL,
  drainTasks: 2_000,
  latencyTasks: 100,
  singleEnqueues: 1_000,
  bulkTasks: 5_000,
  httpRequests: 2_000,
  liveTasks: 100,
  fanOutSubscribers: 1_000,
  fanOutConnections: 10,
  fanOutTasks: 10,
  historyRows: 50_000,
  pageQueries: 50,
  eventLogTasks: 5_000,
  outputChunks: 2_000,
  outputSizeTasks: 100,
  scheduleSeconds: 10,
  fanInWidth: 1_000,
  claimProbePending: 10_000,
};

/** Which systems each scenario compares; e–j exercise what only taskwire has. */
const SYSTEMS_OF: Record<ScenarioKey, SystemName[]> = {
  a: ['taskwire', 'graphile-worker', 'graphile-worker-batched', 'pg-boss'],
  b: ['taskwire', 'graphile-worker', 'graphile-worker-batched', 'pg-boss'],
  c: ['taskwire', 'graphile-worker', 'pg-boss'],
  d: ['taskwire', 'graphile-worker', 'pg-boss'],
  e: ['taskwire'],
  f: ['taskwire'],
  g: ['taskwire'],
  h: ['taskwire'],
  i: ['taskwire'],
  j: ['taskwire'],
  k: ['taskwire'],
  l: ['taskwire'],
  m: ['taskwire'],
  n: ['taskwire'],
  w: ['taskwire'],
};

/**
 * At most this many repetitions of a scenario, whatever --repeat says: (i) drains 100,000 tasks
 * through a restart and checks every event, minutes per repetition; its exactly-once check is
 * per event, not statistical, and one run holds millions of latency samples.
 */
const MAX_REPEAT: Partial<Record<ScenarioKey, number>> = { i: 1 };

const CHILD_TIMEOUT_MS = 10 * 60_000;

function log(line: string): void {
  process.stderr.write(`[bench] ${line}\n`);
}

/** One long-lived child process per system; jobs go to it one at a time. */
class ChildPool {
  private readonly children = new Map<SystemName, ChildProcess>();

  constructor(private readonly o: BenchOptions) {}

  private spawn(system: SystemName): ChildProcess {
    const execArgv = ['--import', 'tsx', '--expose-gc'];
    if (this.o.cpuProfile) {
      // One directory per system; Node names each file by pid and thread (tsx's loader runs in a thread).
      execArgv.push('--cpu-prof', '--cpu-prof-dir', path.join(ROOT, 'bench/results/profiles', system));
    }
    const child = fork(path.join(ROOT, 'bench/child.ts'), [], { execArgv, stdio: ['ignore', 'inherit', 'inherit', 'ipc'] });
    child.once('exit', () => this.children.delete(system));
    this.children.set(system, child);
    return child;
  }

  run(job: ChildJob): Promise<ChildResult> {
    const child = this.children.get(job.system) ?? this.spawn(job.system);
    // (h) inserts its history, VACUUMs and ANALYZEs it first: about a minute per million rows here.
    const timeoutMs = CHILD_TIMEOUT_MS + (job.scenario === 'history' ? Math.ceil(job.sizes.historyRows / 1_000_000) * 60_000 : 0);
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => child.kill('SIGKILL'), timeoutMs);
      const done = (): void => {
        clearTimeout(timer);
        child.off('message', onMessage);
        child.off('exit', onExit);
      };
      const onMessage = (m: unknown): void => {
        done();
        const reply = m as ChildMessage;
        if (reply.ok) resolve(reply.result);
        else reject(new Error(reply.error));
      };
      const onExit = (code: number | null, signal: NodeJS.Signals | null): void => {
        done();
        reject(new Error(`the ${job.system} process exited with ${signal ?? code} during the run`));
      };
      child.on('message', onMessage);
      child.on('exit', onExit);
      child.send({ type: 'job', job } satisfies ParentMessage);
    });
  }

  /** Asks every child to exit (they write their CPU profiles on the way out). */
  async close(): Promise<void> {
    await Promise.all(
      [...this.children.values()].map(
        (child) =>
          new Promise<void>((resolve) => {
            child.once('exit', () => resolve());
            child.send({ type: 'exit' } satisfies ParentMessage);
          }),
      ),
    );
  }
}

/**
 * The runs, in order. Scenarios comparing systems go one repetition at a time, rotating
 * which system goes first, so background load and drift spread over all of them alike;
 * taskwire-only scenarios run their repetitions in one job.
 */
function schedule(o: BenchOptions): { key: ScenarioKey; system: SystemName; repeat: number }[] {
  const plan: { key: ScenarioKey; system: SystemName; repeat: number }[] = [];
  for (const key of o.scenarios) {
    const systems = SYSTEMS_OF[key].filter((s) => o.systems.includes(s));
    if (systems.length === 1) {
      plan.push({ key, system: systems[0] as SystemName, repeat: Math.min(o.repeat, MAX_REPEAT[key] ?? o.repeat) });
      continue;
    }
    for (let rep = 0; rep < o.repeat; rep++) {
      for (let i = 0; i < systems.length; i++) plan.push({ key, system: systems[(i + rep) % systems.length] as SystemName, repeat: 1 });
    }
  }
  return plan;
}

async function topStatements(adminUrl: string, label: string): Promise<string> {
  const sql = postgres(adminUrl, { max: 1, onnotice: () => undefined });
  try {
    const rows = await sql`
      SELECT calls, round(total_exec_time::numeric, 1) AS total_ms, round(mean_exec_time::numeric, 3) AS mean_ms,
             rows, shared_blks_hit + shared_blks_read AS blocks, wal_bytes, left(regexp_replace(query, '\\s+', ' ', 'g'), 160) AS query
      FROM pg_stat_statements WHERE query NOT ILIKE '%pg_stat_statements%'
      ORDER BY total_exec_time DESC LIMIT 12`;
    await sql`SELECT pg_stat_statements_reset()`;
    const body = table(
      ['calls', 'total ms', 'mean ms', 'rows', 'blocks', 'WAL bytes', 'query'],
      rows.map((r) => [String(r.calls), String(r.total_ms), String(r.mean_ms), String(r.rows), String(r.blocks), String(r.wal_bytes), String(r.query)]),
      [true, true, true, true, true, true, false],
    );
    return `## ${label}\n${body}\n`;
  } finally {
    await sql.end();
  }
}

async function main(): Promise<void> {
  const o = parseArgs(process.argv.slice(2));
  const started = performance.now();
  const sizes: Sizes = { ...(o.quick ? QUICK : FULL), ...(o.historyRows !== undefined ? { historyRows: o.historyRows } : {}) };
  const plan = schedule(o);
  if (plan.length === 0) throw new Error('Nothing to run: no selected system takes part in the selected scenarios');

  log(`starting embedded PostgreSQL (${o.quick ? 'quick' : 'full'} run, ${o.repeat} repetitions)`);
  const pg = await startBenchPostgres(o.pgStatStatements ? ['-c', 'shared_preload_libraries=pg_stat_statements', '-c', 'pg_stat_statements.track=all'] : []);
  const results = new Results();
  const children = new ChildPool(o);
  const loadAtStart = os.loadavg();
  const notes: string[] = [];
  const statements: string[] = [];
  let failed = 0;
  try {
    const info = await serverInfo(pg.adminUrl);
    if (o.pgStatStatements) {
      const sql = postgres(pg.adminUrl, { max: 1, onnotice: () => undefined });
      await sql`CREATE EXTENSION IF NOT EXISTS pg_stat_statements`;
      await sql.end();
    }
    await createTemplates(pg.adminUrl, [...new Set(plan.map((p) => p.system))]);
    const commitBefore = await commitLatency(pg.adminUrl);
    const collected = new Map<string, { system: SystemName; scenario: ScenarioName; metric: string; unit: string; values: number[] }>();
    for (const { key, system, repeat } of plan) {
      const scenario = SCENARIOS[key];
      const t0 = performance.now();
      log(`${key}. ${scenario} — ${system} …`);
      const job: ChildJob = {
        system,
        scenario,
        adminUrl: pg.adminUrl,
        template: templateFor(system),
        repeat,
        sizes,
        root: ROOT,
        ...(o.cpuProfile ? { profileDir: path.join(ROOT, 'bench/results/profiles', `${system}-${scenario}`) } : {}),
      };
      try {
        const result = await children.run(job);
        for (const m of result.measurements) {
          const k = `${system}\0${scenario}\0${m.metric}`;
          const entry = collected.get(k) ?? { system, scenario, metric: m.metric, unit: m.unit, values: [] };
          entry.values.push(...m.values);
          collected.set(k, entry);
        }
        for (const n of result.notes) if (!notes.includes(`${system}/${scenario}: ${n}`)) notes.push(`${system}/${scenario}: ${n}`);
        log(`${key}. ${scenario} — ${system} done in ${((performance.now() - t0) / 1000).toFixed(1)} s`);
      } catch (error) {
        failed += 1;
        const text = error instanceof Error ? error.message : String(error);
        notes.push(`${system}/${scenario}: FAILED: ${text.split('\n')[0]}`);
        log(`${key}. ${scenario} — ${system} FAILED:\n${text}`);
      }
      if (o.pgStatStatements) statements.push(await topStatements(pg.adminUrl, `${system} / ${scenario}`));
    }
    await children.close();
    const commitAfter = await commitLatency(pg.adminUrl);
    // Table order: scenario, then system in the usual order, metrics as first recorded.
    const order = (e: { system: SystemName; scenario: ScenarioName }): number =>
      Object.values(SCENARIOS).indexOf(e.scenario) * 10 + SYSTEMS.indexOf(e.system);
    for (const e of [...collected.values()].sort((a, b) => order(a) - order(b))) results.add(e.system, e.scenario, e.metric, e.unit, e.values);
    const seconds = (performance.now() - started) / 1000;
    const isFullRun = !o.quick && o.scenarios.length === Object.keys(SCENARIOS).length && o.systems.length === 4 && o.historyRows === undefined;
    const machine = {
      cpu: os.cpus()[0]?.model ?? '?',
      cores: os.cpus().length,
      memoryGiB: Math.round(os.totalmem() / 2 ** 30),
      platform: `${os.platform()} ${os.release()}`,
      node: process.version,
      // Other work on the machine skews every figure; the load average says how much there was.
      loadAverage1mAtStartAndEnd: [Number(loadAtStart[0]?.toFixed(2)), Number(os.loadavg()[0]?.toFixed(2))],
    };
    const ratioLines = ratios(results);
    const targetLines = targets(results, isFullRun ? seconds : undefined, sizes);
    const out = [
      `taskwire benchmark — ${o.quick ? 'quick' : 'full'} run, ${o.repeat} repetitions, ${seconds.toFixed(0)} s`,
      `machine: ${machine.cpu}, ${machine.cores} cores, ${machine.memoryGiB} GiB, ${machine.platform}, Node ${machine.node}; load average ${machine.loadAverage1mAtStartAndEnd.join(' → ')}`,
      `postgres: ${info.version.split(',')[0]}; ${Object.entries(info.settings).map(([k, v]) => `${k}=${v}`).join(', ')}`,
      `one durable commit (1-row INSERT), before → after the run: p50 ${commitBefore.p50} → ${commitAfter.p50} ms, p99 ${commitBefore.p99} → ${commitAfter.p99} ms`,
      '',
      resultsTable(results),
      '',
      'Ratios (by medians)',
      table(['ratio', 'value'], ratioLines.map((r) => [r.label, r.unit === 'ms' ? `${r.value.toFixed(2)} ms` : `${r.value.toFixed(2)}×`]), [false, true]),
      '',
      'Targets',
      table(
        ['target', 'wanted', 'actual', ''],
        targetLines.map((t) => [t.label, t.target, t.actual, t.met === undefined ? 'n/a' : t.met ? 'met' : 'MISSED']),
        [false, false, true, false],
      ),
      ...(notes.length > 0 ? ['', 'Notes', ...notes.map((n) => `- ${n}`)] : []),
    ];
    process.stdout.write(`${out.join('\n')}\n`);
    const outPath = path.resolve(ROOT, o.out);
    await mkdir(path.dirname(outPath), { recursive: true });
    await writeFile(
      outPath,
      `${JSON.stringify(
        {
          machine,
          postgres: info,
          calibration: { commitLatencyMs: { before: commitBefore, after: commitAfter } },
          run: { quick: o.quick, repeat: o.repeat, scenarios: o.scenarios, systems: o.systems, sizes, seconds: Number(seconds.toFixed(1)), at: new Date().toISOString() },
          results: results.rows,
          ratios: ratioLines,
          targets: targetLines,
          notes,
        },
        null,
        2,
      )}\n`,
    );
    if (o.pgStatStatements) {
      const file = path.join(ROOT, 'bench/results/pg-stat-statements.txt');
      await writeFile(file, statements.join('\n'));
      log(`top statements per run written to ${path.relative(ROOT, file)}`);
    }
    log(`results written to ${path.relative(ROOT, outPath)}; ${fmt(seconds)} s in all`);
  } finally {
    await children.close().catch(() => undefined);
    await pg.stop();
  }
  if (failed > 0) {
    log(`${failed} run(s) failed`);
    process.exitCode = 1;
  }
}

main().catch((error: unknown) => {
  process.stderr.write(`${error instanceof Error ? error.message : String(error)}\n`);
  process.exitCode = 1;
});
