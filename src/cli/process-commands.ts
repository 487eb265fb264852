import { parseArgs } from 'node:util';
import type { Config } from '../config.js';
import { lockWaitMessage, migrateDatabase, migrationSummary, type MigrationReport } from '../db/migrate.js';
import { resolveDatabase } from '../db/resolve.js';
import { createLogger, logWritten, type Logger } from '../logger.js';
import { EXIT, UsageError } from './args.js';
import type { ProcessCommand } from './commands.js';
import type { ProcessRoles } from './process.js';

/** Runs dev/serve/worker until SIGINT/SIGTERM, or migrate once; returns the exit code. */
export async function runProcessCommand(command: ProcessCommand, args: string[], config: Config): Promise<number> {
  const log = createLogger(config.logLevel);
  try {
    return await runCommand(command, args, config, log);
  } catch (error) {
    // main prints one line without a stack (src/cli/main.ts); the stack, with its causes' (a task
    // module's own error under TASK_MODULES's), is the log's, at debug.
    log.debug({ err: error }, `taskwire ${command} failed`);
    // main's line (the error) is the last: what the log still holds goes out first.
    await logWritten(log);
    throw error;
  }
}

async function runCommand(command: ProcessCommand, args: string[], config: Config, log: Logger): Promise<number> {
  switch (command) {
    case 'dev':
      noArguments(command, args);
      return runProcess(log, config, { server: true, worker: config.runWorker, maintenance: true });
    case 'serve':
      noArguments(command, args);
      return runProcess(log, config, { server: true, worker: false, maintenance: true });
    case 'worker': {
      let values: { concurrency?: string | undefined; queues?: string | undefined };
      try {
        ({ values } = parseArgs({ args, options: { concurrency: { type: 'string' }, queues: { type: 'string' } } }));
      } catch (error) {
        throw new UsageError('worker', error instanceof Error ? error.message : String(error));
      }
      const concurrency = values.concurrency === undefined ? undefined : Number(values.concurrency);
      if (concurrency !== undefined && !(Number.isInteger(concurrency) && concurrency > 0)) {
        throw new UsageError('worker', '--concurrency must be a positive integer', '--concurrency');
      }
      const queues = values.queues?.split(',').map((q) => q.trim()).filter(Boolean);
      // An empty --queues (an unset variable in `--queues $QUEUES`) must not mean "every queue".
      if (queues !== undefined && queues.length === 0) {
        throw new UsageError('worker', `--queues must name at least one queue (omit it to claim from every queue), got "${values.queues}"`, '--queues');
      }
      return runProcess(log, config, { server: false, worker: true, maintenance: true, concurrency, queues });
    }
    case 'migrate': {
      noArguments(command, args);
      const db = await resolveDatabase(config, log);
      let report: MigrationReport;
      try {
        report = await migrateDatabase(config.databaseListenUrl ?? db.url, { onLockWait: (wait) => log.warn(wait, lockWaitMessage(wait)) }).catch(async (error: unknown) => {
          const { databaseFailure } = await import('./process.js');
          throw databaseFailure(error, config) ?? error;
        });
      } finally {
        await db.stop();
      }
      // A release step's log tells "applied 2" from "nothing to do".
      process.stdout.write(`${migrationSummary(report)}\n`);
      return EXIT.ok;
    }
    case 'doctor': {
      // Loaded only here: the checks open connections of their own, not a process's pool.
      const [{ runDoctor }, { processIo }] = await Promise.all([import('./doctor.js'), import('./output.js')]);
      return runDoctor(args, config, processIo());
    }
    case 'keys': {
      const [{ runKeysCommand }, { processIo }] = await Promise.all([import('./keys-commands.js'), import('./output.js')]);
      return runKeysCommand(args, config, processIo());
    }
  }
}

function noArguments(command: string, args: string[]): void {
  if (args.length > 0) throw new UsageError(command, `unexpected argument "${args[0]}"`);
}

/** A second signal within this many ms of the first is the same request, relayed (see runProcess). */
const SIGNAL_ECHO_MS = 1000;

async function runProcess(log: Logger, config: Config, roles: ProcessRoles): Promise<number> {
  let first: number | undefined;
  let stop!: () => void;
  let force!: () => void;
  const stopRequested = new Promise<void>((resolve) => {
    stop = resolve;
  });
  const forced = new Promise<'forced'>((resolve) => {
    force = () => resolve('forced');
  });
  // The handlers stay installed for the whole shutdown. Under `npm start` one Ctrl-C arrives twice,
  // from the terminal and relayed by npm (as it did through the tsx CLI, whose handler exited the
  // process at once when no listener was left): with `once`, the echo cut every shutdown short.
  // An echo is ignored; a signal after that forces the exit (tasks left running are rescued
  // when their leases expire).
  const onSignal = (signal: NodeJS.Signals): void => {
    const now = performance.now();
    if (first === undefined) {
      first = now;
      log.info({ signal }, 'shutting down (send the signal again to force)');
      stop();
    } else if (now - first > SIGNAL_ECHO_MS) {
      log.warn({ signal }, 'forced exit: running tasks are left to the rescuer');
      force();
    }
  };
  // Installed before anything starts: a supervisor may stop the process while it is still
  // starting (its GraphQL port is already open while the scheduler and the other services start),
  // and the default action would kill it there. A stop asked for during the start waits for it.
  process.on('SIGINT', onSignal);
  process.on('SIGTERM', onSignal);
  // Node's default for both is to end the process on the spot: every task running in it left to
  // the rescuer (and failed as WorkerLost where it has no attempt left), the embedded PostgreSQL,
  // the server and its subscribers gone with one task's mistake.
  // - A rejection nobody handles (a handler's stray promise; postgres.js rejecting a socket error
  //   to nobody when the database goes away mid-statement) changes no state of ours: logged, and
  //   the process goes on.
  // - An exception nobody catches (a throw in a handler's timer) may leave any state half-changed:
  //   the process stops as on SIGTERM (running tasks get their grace, then are released to other
  //   workers) and exits 1.
  let crashed = false;
  const onRejection = (reason: unknown): void => {
    log.error({ err: reason }, 'unhandled promise rejection (a task handler or a library left a promise without a handler); the process goes on');
  };
  const onException = (error: Error): void => {
    log.fatal({ err: error }, 'uncaught exception (a task handler threw outside its promise, e.g. in a timer); stopping gracefully, then exit 1');
    crashed = true;
    if (first === undefined) {
      first = performance.now();
      stop();
    }
  };
  process.on('unhandledRejection', onRejection);
  process.on('uncaughtException', onException);
  // Loaded here, not at the top: keys, doctor and migrate need none of a process's code (the
  // queue, the runner, the metrics), and every CLI start paid for loading it (~140 modules).
  const starting = import('./process.js').then(({ startProcess }) => startProcess(config, log, roles));
  const started = await Promise.race([starting, forced]);
  if (started === 'forced') return EXIT.interrupted;
  const proc = started;
  // An exit that is not ours (a handler or a library calling process.exit()) would otherwise end
  // the process without a word: say so, with the attempts it strands (the rescuer takes them back
  // when their leases end). Synchronous, as an exit listener must be: the log writes to fd 2 at once.
  const onExit = (code: number): void => {
    const inHand = proc.inHand();
    log.fatal(
      { code, tasks: inHand.slice(0, 100), inHand: inHand.length },
      'process.exit() called outside taskwire (by a task handler or a library?): attempts in hand are left to the rescuer',
    );
  };
  process.on('exit', onExit);
  try {
    await stopRequested;
  } finally {
    process.off('exit', onExit);
  }
  const outcome = await Promise.race([proc.stop().then(() => 'stopped' as const), forced]);
  if (outcome === 'forced') {
    const inHand = proc.inHand();
    if (inHand.length > 0) log.warn({ tasks: inHand.slice(0, 100), inHand: inHand.length }, 'attempts left to the rescuer');
    return EXIT.interrupted;
  }
  return crashed ? EXIT.failed : EXIT.ok;
}
