import { readFileSync } from 'node:fs';
import { loadClientConfig } from '../client-config.js';
import { AppError, ConfigError } from '../errors.js';
import { CLI_CODES, EXIT, usageText, UsageError } from './args.js';
import { CLIENT_COMMANDS, PROCESS_COMMANDS, type ClientCommand, type ProcessCommand } from './commands.js';
import { COMMAND_HELP, USAGE } from './help.js';
import { errorJson, processIo, visible, wantsJson } from './output.js';

const isClientCommand = (c: string): c is ClientCommand => (CLIENT_COMMANDS as readonly string[]).includes(c);
const isProcessCommand = (c: string): c is ProcessCommand => (PROCESS_COMMANDS as readonly string[]).includes(c);
const wantsHelp = (args: string[]): boolean => args.includes('--help') || args.includes('-h');

/** taskwire's version, from its package.json (two levels up from src/cli and from dist/cli alike). */
function packageVersion(): string {
  const pkg = JSON.parse(readFileSync(new URL('../../package.json', import.meta.url), 'utf8')) as { version?: unknown };
  return String(pkg.version);
}

/**
 * `taskwire <command> [options]`; returns the exit code: 0 ok / task succeeded, 1 task failed or
 * cancelled, not found, refused; 2 usage or configuration; 3 server unreachable (docs/cli.md).
 */
export async function main(argv: string[]): Promise<number> {
  // `taskwire --json tasks` as `taskwire tasks --json`: the flag before the command was taken for one.
  const leadingJson = argv[0] === '--json';
  const [command = 'dev', ...given] = leadingJson ? argv.slice(1) : argv;
  const rest = leadingJson ? ['--json', ...given] : given;
  const io = processIo();
  const asJson = wantsJson(rest);
  if (command === '--help' || command === '-h' || command === 'help') {
    const topic = rest[0];
    io.out(`${(topic && COMMAND_HELP[topic]) || USAGE}\n`);
    return EXIT.ok;
  }
  if (command === '--version' || command === '-v' || command === 'version') {
    io.out(`${packageVersion()}\n`);
    return EXIT.ok;
  }
  if (!isClientCommand(command) && !isProcessCommand(command)) {
    const message = `unknown command "${visible(command)}"`;
    io.err(asJson ? errorJson({ code: CLI_CODES.usage, message }) : `taskwire: ${message}\n\n${USAGE}\n`);
    return EXIT.usage;
  }
  if (wantsHelp(rest)) {
    io.out(`${COMMAND_HELP[command]}\n`);
    return EXIT.ok;
  }
  try {
    if (isClientCommand(command)) {
      // Client commands read only TASKWIRE_URL, and load none of the server's code.
      const { runClientCommand } = await import('./client-commands.js');
      return await runClientCommand(command, rest, io, loadClientConfig());
    }
    // Loaded here, not above: its zod schema would double what `--help` and a client command load.
    const [{ runProcessCommand }, { loadConfig }] = await Promise.all([import('./process-commands.js'), import('../config.js')]);
    return await runProcessCommand(command, rest, loadConfig());
  } catch (error) {
    if (error instanceof UsageError) {
      io.err(asJson ? errorJson({ code: CLI_CODES.usage, message: error.message, field: error.field }) : usageText(error));
      return EXIT.usage;
    }
    if (error instanceof ConfigError) {
      // Its own lines kept: a configuration error lists one problem a line (values in it are quoted, their controls escaped).
      io.err(asJson ? errorJson(error) : `taskwire: ${visible(error.message, '\n')}\n`);
      return EXIT.usage;
    }
    throw error;
  }
}

/** What a process command's failure prints (client commands report their own): a line, or --json's object. */
function failureText(error: unknown, asJson: boolean): string {
  if (error instanceof AppError) return asJson ? errorJson(error) : `taskwire: ${error.code}: ${visible(error.message)}\n`;
  const message = error instanceof Error ? error.message : String(error);
  return asJson ? errorJson({ code: CLI_CODES.unexpected, message }) : `taskwire: unexpected error: ${visible(message)}\n`;
}

// The only process.exit (in exitAfterFlush): everything else returns an exit code. No stack traces
// for users: the message is enough to act on, and a process logs its own errors with stacks
// (LOG_LEVEL=debug). process.exit does not wait for stdout and stderr: to a pipe (`taskwire tasks
// --json | jq`) they are asynchronous, and what the kernel had not taken yet (past 64 KiB) would be
// lost. Exit once both have flushed everything written before.
function exitAfterFlush(code: number): void {
  let pending = 2;
  const done = (): void => {
    if (--pending === 0) process.exit(code);
  };
  for (const stream of [process.stdout, process.stderr]) {
    if (stream.writableLength === 0 || stream.destroyed) done();
    else stream.write('', done);
  }
}

// A reader that went away (`taskwire status ID --watch | head -1`): a write then fails with EPIPE,
// which Node raised as an unhandled 'error' event, a stack trace and exit 1 ("the task failed").
// Stop quietly instead, with the status a shell shows for `yes | head` (SIGPIPE): nobody reads on.
for (const stream of [process.stdout, process.stderr]) {
  stream.on('error', (error: NodeJS.ErrnoException) => process.exit(error.code === 'EPIPE' ? EXIT.brokenPipe : EXIT.failed));
}

main(process.argv.slice(2)).then(
  (code) => exitAfterFlush(code),
  (error: unknown) => {
    process.stderr.write(failureText(error, wantsJson(process.argv.slice(2))));
    exitAfterFlush(EXIT.failed);
  },
);
