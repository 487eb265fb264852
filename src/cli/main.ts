import { parseArgs } from 'node:util';
import { loadConfig, type Config } from '../config.js';
import { resolveDatabase, type ResolvedDatabase } from '../db/resolve.js';
import { migrateDatabase } from '../db/migrate.js';
import { createDeps, type Deps } from '../deps.js';
import { AppError, ConfigError } from '../errors.js';
import { createLogger, type Logger } from '../logger.js';
import { isTerminal } from '../queue/states.js';
import type { Task } from '../queue/task.js';
import { startProcess, type ProcessRoles } from './process.js';

const USAGE = `taskwire — background tasks with results you can watch

Usage: taskwire <command> [options]

Commands:
  dev                     everything in one process: database (embedded unless DATABASE_URL),
                          migrations, GraphQL server and a worker (what \`npm start\` runs)
  serve                   the GraphQL server only
  worker                  a worker only  [--concurrency N] [--queues a,b]
  migrate                 apply database migrations and exit
  enqueue NAME            enqueue a task  [--args JSON] [--kwargs JSON] [--queue Q] [--priority P]
                          [--max-attempts N] [--wait] [--json]
  status ID               show a task  [--watch] [--json]

Configuration comes from the environment; see README.md.`;

/** Exit codes: 0 ok / task succeeded, 1 failure / task failed, 2 usage or configuration. */
export async function main(argv: string[]): Promise<number> {
  const [command = 'dev', ...rest] = argv;
  if (command === '--help' || command === '-h' || command === 'help') {
    process.stdout.write(`${USAGE}\n`);
    return 0;
  }
  let config: Config;
  try {
    config = loadConfig();
  } catch (error) {
    if (error instanceof ConfigError) {
      process.stderr.write(`taskwire: ${error.message}\n`);
      return 2;
    }
    throw error;
  }
  const log = createLogger(config.logLevel);
  switch (command) {
    case 'dev':
      return runProcess(config, log, { server: true, worker: config.runWorker, maintenance: true });
    case 'serve':
      return runProcess(config, log, { server: true, worker: false, maintenance: true });
    case 'worker': {
      const { values } = parseArgs({ args: rest, options: { concurrency: { type: 'string' }, queues: { type: 'string' } } });
      const concurrency = values.concurrency === undefined ? undefined : Number(values.concurrency);
      if (concurrency !== undefined && !(Number.isInteger(concurrency) && concurrency > 0)) {
        process.stderr.write('taskwire worker: --concurrency must be a positive integer\n');
        return 2;
      }
      const queues = values.queues?.split(',').map((q) => q.trim()).filter(Boolean);
      return runProcess(config, log, { server: false, worker: true, maintenance: true, concurrency, queues });
    }
    case 'migrate':
      return withDatabase(config, log, async (db) => {
        await migrateDatabase(db.url);
        process.stdout.write('migrations applied\n');
        return 0;
      });
    case 'enqueue':
      return enqueueCommand(config, log, rest);
    case 'status':
      return statusCommand(config, log, rest);
    default:
      process.stderr.write(`taskwire: unknown command "${command}"\n\n${USAGE}\n`);
      return 2;
  }
}

async function runProcess(config: Config, log: Logger, roles: ProcessRoles): Promise<number> {
  const proc = await startProcess(config, log, roles);
  await new Promise<void>((resolve) => {
    const onSignal = (signal: string) => {
      log.info({ signal }, 'shutting down');
      resolve();
    };
    process.once('SIGINT', onSignal);
    process.once('SIGTERM', onSignal);
  });
  await proc.stop();
  return 0;
}

async function withDatabase<T>(config: Config, log: Logger, fn: (db: ResolvedDatabase) => Promise<T>): Promise<T> {
  const db = await resolveDatabase(config, log);
  try {
    return await fn(db);
  } finally {
    await db.stop();
  }
}

async function withDeps<T>(config: Config, log: Logger, fn: (deps: Deps) => Promise<T>): Promise<T> {
  return withDatabase(config, log, async (db) => {
    await migrateDatabase(db.url);
    const deps = await createDeps(config, { databaseUrl: db.url, log });
    try {
      return await fn(deps);
    } finally {
      await deps.close();
    }
  });
}

async function enqueueCommand(config: Config, log: Logger, args: string[]): Promise<number> {
  const { values, positionals } = parseArgs({
    args,
    allowPositionals: true,
    options: {
      args: { type: 'string' },
      kwargs: { type: 'string' },
      queue: { type: 'string' },
      priority: { type: 'string' },
      'max-attempts': { type: 'string' },
      wait: { type: 'boolean' },
      json: { type: 'boolean' },
    },
  });
  const name = positionals[0];
  if (!name) {
    process.stderr.write('taskwire enqueue: a task NAME is required\n');
    return 2;
  }
  const parsed = parseJsonOption(values.args, '--args', []);
  const kwargs = parseJsonOption(values.kwargs, '--kwargs', {});
  if (parsed === undefined || kwargs === undefined) return 2;
  return withDeps(config, log, async (deps) => {
    const task = await deps.queue.enqueue({
      name,
      args: parsed as unknown[],
      kwargs: kwargs as Record<string, unknown>,
      queue: values.queue,
      priority: values.priority === undefined ? undefined : Number(values.priority),
      maxAttempts: values['max-attempts'] === undefined ? undefined : Number(values['max-attempts']),
    });
    if (!values.wait) {
      process.stdout.write(values.json ? `${JSON.stringify(task)}\n` : `${task.id}\n`);
      return 0;
    }
    const final = await waitForTask(deps, task.id);
    printTask(final, Boolean(values.json));
    return final.status === 'SUCCEEDED' ? 0 : 1;
  });
}

async function statusCommand(config: Config, log: Logger, args: string[]): Promise<number> {
  const { values, positionals } = parseArgs({
    args,
    allowPositionals: true,
    options: { watch: { type: 'boolean' }, json: { type: 'boolean' } },
  });
  const id = positionals[0];
  if (!id) {
    process.stderr.write('taskwire status: a task ID is required\n');
    return 2;
  }
  return withDeps(config, log, async (deps) => {
    const task = values.watch ? await waitForTask(deps, id) : await deps.queue.getTask(id);
    if (!task) {
      process.stderr.write(`taskwire status: no task ${id}\n`);
      return 1;
    }
    printTask(task, Boolean(values.json));
    return task.status === 'FAILED' || task.status === 'CANCELLED' ? 1 : 0;
  });
}

/** Follows a task through the events channel until it finishes (no polling). */
async function waitForTask(deps: Deps, id: string): Promise<Task> {
  const { listen, EVENTS_CHANNEL, decodeEvents } = await import('../queue/events.js');
  return new Promise<Task>((resolve, reject) => {
    let listener: { close(): Promise<void> } | undefined;
    const check = async () => {
      const task = await deps.queue.getTask(id);
      if (!task) throw new AppError('NOT_FOUND', `no task ${id}`);
      if (task.progress && !isTerminal(task.status)) {
        process.stderr.write(`\r${progressBar(task)}`);
      }
      if (isTerminal(task.status)) {
        await listener?.close();
        process.stderr.write(task.progress ? '\n' : '');
        resolve(task);
      }
    };
    void listen(deps.db.sql, EVENTS_CHANNEL, {
      onNotify: (payload) => {
        if (decodeEvents(payload).some((e) => e.id === id)) check().catch(reject);
      },
      onListen: () => void check().catch(reject),
    }).then((l) => {
      listener = l;
    }, reject);
  });
}

function progressBar(task: Task): string {
  const p = task.progress;
  if (!p || p.total === null || p.current === null || p.total <= 0) return p?.message ?? '';
  const ratio = Math.min(1, Math.max(0, p.current / p.total));
  const width = 30;
  const filled = Math.round(ratio * width);
  return `[${'#'.repeat(filled)}${'-'.repeat(width - filled)}] ${Math.round(ratio * 100)}% ${p.message ?? ''}`;
}

function printTask(task: Task, json: boolean): void {
  if (json) {
    process.stdout.write(`${JSON.stringify(task)}\n`);
    return;
  }
  const lines = [
    `id:          ${task.id}`,
    `name:        ${task.name}`,
    `status:      ${task.status}`,
    `attempts:    ${task.attempts}/${task.maxAttempts}`,
    `enqueuedAt:  ${task.enqueuedAt.toISOString()}`,
    `startedAt:   ${task.startedAt?.toISOString() ?? '-'}`,
    `finishedAt:  ${task.finishedAt?.toISOString() ?? '-'}`,
  ];
  if (task.status === 'SUCCEEDED') lines.push(`returnValue: ${JSON.stringify(task.returnValue)}`);
  for (const e of task.errors) lines.push(`error #${e.attempt}:    ${e.exceptionType}: ${e.message}`);
  process.stdout.write(`${lines.join('\n')}\n`);
}

function parseJsonOption(value: string | undefined, flag: string, fallback: unknown): unknown {
  if (value === undefined) return fallback;
  try {
    return JSON.parse(value) as unknown;
  } catch {
    process.stderr.write(`taskwire: ${flag} must be JSON, got ${value}\n`);
    return undefined;
  }
}

// The only process.exit: everything else returns an exit code.
main(process.argv.slice(2)).then(
  (code) => process.exit(code),
  (error: unknown) => {
    if (error instanceof AppError) process.stderr.write(`taskwire: ${error.code}: ${error.message}\n`);
    else process.stderr.write(`taskwire: ${error instanceof Error ? (error.stack ?? error.message) : String(error)}\n`);
    process.exit(1);
  },
);
