import { readFileSync } from 'node:fs';
import { parseArgs, type ParseArgsConfig } from 'node:util';
import { isAppError } from '../errors.js';
import type { BackoffOptions } from '../client/index.js';
import { maskUrlPassword } from '../masking.js';
import { checkBackoff } from '../queue/backoff.js';
import { parseDateTime } from '../queue/dates.js';
import { visible } from './output.js';

/** Exit codes of the `taskwire` command (docs/cli.md). */
export const EXIT = {
  /** Done; the task succeeded (or is not finished yet, for `status`). */
  ok: 0,
  /** The task failed or was cancelled, there is no such task, or the server refused the operation. */
  failed: 1,
  /** Bad usage or configuration: unknown command or flag, bad JSON or value, unknown task name. */
  usage: 2,
  /** The server cannot be reached (or is not a taskwire GraphQL endpoint). */
  unreachable: 3,
  /** Interrupted (Ctrl-C), as shells report SIGINT. */
  interrupted: 130,
  /** Stopped by SIGTERM (`taskwire feed`, which stops cleanly then), as shells report it (128 + 15). */
  terminated: 143,
  /** The reader of stdout or stderr went away (`| head`), as shells report a process SIGPIPE ended (128 + 13). */
  brokenPipe: 141,
} as const;

/**
 * Codes of the errors the command reports itself (with `--json`, in `{"error":{"code",…}}`); the
 * others are the server's (`extensions.code`) and the client's (CONNECTION_FAILED …), docs/cli.md.
 */
export const CLI_CODES = {
  /** A mistake in the command line (exit 2). */
  usage: 'BAD_USAGE',
  /** `cancel|retry --filter`: the bulk action ended FAILED (exit 1). */
  bulkActionFailed: 'BULK_ACTION_FAILED',
  /** Anything not expected (exit 1). */
  unexpected: 'UNEXPECTED_ERROR',
  /** `enqueue --wait` stopped by Ctrl-C (exit 130): the task goes on, and the error names it. */
  interrupted: 'INTERRUPTED',
} as const;

/** A mistake in the command line: reported as one line, exit code 2. */
export class UsageError extends Error {
  constructor(
    readonly command: string,
    message: string,
    /** The option at fault, as typed (`--priority`), or a path into its JSON value (`--filter.enqueuedAfter`). */
    readonly field?: string,
  ) {
    super(message);
    this.name = 'UsageError';
  }
}

/** A UsageError as printed without --json: the mistake, then where the usage is. */
export function usageText(error: UsageError): string {
  return `taskwire ${error.command}: ${visible(error.message)}\nRun "taskwire ${error.command} --help" for usage.\n`;
}

type Options = NonNullable<ParseArgsConfig['options']>;

export interface Parsed<O extends Options> {
  values: ReturnType<typeof parseArgs<{ options: O; allowPositionals: true; strict: true }>>['values'];
  positionals: string[];
}

/**
 * `--priority -5` → `--priority=-5`: parseArgs refuses a value that starts with a dash as
 * ambiguous, but a negative number after a flag that takes a value is what anyone means.
 */
function joinNegativeNumbers(args: string[], options: Options): string[] {
  const out: string[] = [];
  for (let i = 0; i < args.length; i++) {
    const arg = args[i] as string;
    const next = args[i + 1];
    const name = arg.startsWith('--') ? arg.slice(2) : undefined;
    if (name && options[name]?.type === 'string' && next !== undefined && /^-\d/.test(next)) {
      out.push(`${arg}=${next}`);
      i++;
    } else out.push(arg);
  }
  return out;
}

/** node:util parseArgs in strict mode, its errors turned into UsageErrors naming the command. */
export function parseCommand<O extends Options>(command: string, args: string[], options: O): Parsed<O> {
  // util.parseArgs keeps the last of an option given twice: `--args '[1]' --args '[2]'` enqueued [2].
  const seen = new Set<string>();
  for (const arg of args) {
    if (arg === '--') break;
    const name = /^--([^=]+)/.exec(arg)?.[1];
    if (name === undefined || !(name in options) || (options[name] as { multiple?: boolean }).multiple) continue;
    if (seen.has(name)) throw new UsageError(command, `--${name} is given twice: give it once`, `--${name}`);
    seen.add(name);
  }
  try {
    const { values, positionals } = parseArgs({ args: joinNegativeNumbers(args, options), options, allowPositionals: true, strict: true });
    return { values, positionals };
  } catch (error) {
    const message = error instanceof Error ? error.message.replace(/\. To specify a positional argument.*$/s, '') : String(error);
    // util.parseArgs names the option in quotes ("Unknown option '--admin'", "Option '--limit <value>' argument missing").
    throw new UsageError(command, message, /'(--?[^'\s<]+)/.exec(message)?.[1]);
  }
}

/** The positionals a command takes, exactly: `taskwire status ID`. */
export function takePositionals(command: string, positionals: string[], names: string[]): string[] {
  if (positionals.length < names.length) throw new UsageError(command, `missing ${names.slice(positionals.length).join(' ')}`);
  if (positionals.length > names.length) throw new UsageError(command, `unexpected argument "${positionals[names.length]}"`);
  return positionals;
}

/** `--flag N`: an integer in [min, max], or undefined when not given. */
export function intOption(command: string, flag: string, value: string | undefined, min: number, max: number): number | undefined {
  if (value === undefined) return undefined;
  const n = /^[+-]?\d+$/.test(value.trim()) ? Number(value) : Number.NaN;
  if (!Number.isSafeInteger(n) || n < min || n > max) {
    throw new UsageError(command, `${flag} must be a whole number from ${min} to ${max}, got "${value}"`, flag);
  }
  return n;
}

/** `--flag SECONDS`: a positive number of seconds, as ms. */
export function secondsOption(command: string, flag: string, value: string | undefined): number | undefined {
  if (value === undefined) return undefined;
  const n = Number(value);
  if (value.trim() === '' || !Number.isFinite(n) || n <= 0) throw new UsageError(command, `${flag} must be a positive number of seconds, got "${value}"`, flag);
  return Math.round(n * 1000);
}

/** Set once an option has read stdin (`-`): a second would read nothing. */
let stdinTakenBy: string | undefined;

/**
 * A JSON option's text: as given, or the contents of a file (`@path`) or of stdin (`-`). One
 * argument holds at most 128 KiB on Linux (MAX_ARG_STRLEN), under the 256 KiB of arguments a task
 * may have; neither form is JSON, so neither shadows a value.
 */
function jsonText(command: string, flag: string, value: string): string {
  if (value !== '-' && !value.startsWith('@')) return value;
  if (value === '-') {
    if (stdinTakenBy !== undefined) throw new UsageError(command, `${flag} - and ${stdinTakenBy} - both read stdin: give one of them @file`, flag);
    stdinTakenBy = flag;
  }
  try {
    return readFileSync(value === '-' ? 0 : value.slice(1), 'utf8');
  } catch (error) {
    const reason = (error as NodeJS.ErrnoException).code ?? (error instanceof Error ? error.message : String(error));
    throw new UsageError(command, `${flag} ${value}: cannot read ${value === '-' ? 'stdin' : 'the file'} (${reason})`, flag);
  }
}

/** `--flag JSON` of the given shape (or `@file`, or `-` for stdin), or undefined when not given. */
export function jsonOption(command: string, flag: string, value: string | undefined, shape: 'array' | 'object'): unknown {
  if (value === undefined) return undefined;
  const text = jsonText(command, flag, value);
  let parsed: unknown;
  try {
    parsed = JSON.parse(text);
  } catch (error) {
    const shown = text === value ? value : `${value} (${text.length} characters)`;
    throw new UsageError(command, `${flag} is not valid JSON (${error instanceof Error ? error.message : String(error)}): ${shown}`, flag);
  }
  const ok = shape === 'array' ? Array.isArray(parsed) : typeof parsed === 'object' && parsed !== null && !Array.isArray(parsed);
  if (!ok) throw new UsageError(command, `${flag} must be a JSON ${shape === 'array' ? 'array, e.g. \'[1, -1]\'' : 'object, e.g. \'{"key": 1}\''}, got ${text === value ? value : `${value}, which holds ${JSON.stringify(text.slice(0, 40))}…`}`, flag);
  return parsed;
}

/** `--url`: an http(s) URL. */
export function urlOption(command: string, value: string): string {
  // As TASKWIRE_URL's errors show it (config.ts describeValue): its password as ***.
  const shown = maskUrlPassword(value) ?? '(not shown: it may hold a password)';
  if (!URL.canParse(value) || !/^https?:$/.test(new URL(value).protocol)) {
    throw new UsageError(command, `--url must be an http:// or https:// URL, got "${shown}"`, '--url');
  }
  const { username, password } = new URL(value);
  if (username !== '' || password !== '') {
    throw new UsageError(command, `--url must not carry a user or password (fetch refuses it); send the key as TASKWIRE_TOKEN; got "${shown}"`, '--url');
  }
  return value;
}

/**
 * A date-time option (`--run-after`, `--filter`'s `enqueuedAfter`, named by `field`): checked with
 * the server's DateTime parser, so a date it refuses is refused here, before connecting (Date.parse
 * took anything it could read, a date alone or "Jan 1 2030", and rolled 2030-02-31 over to March 3).
 * Undefined when not given; the text as given otherwise.
 */
export function dateTimeOption(command: string, field: string, value: unknown): string | undefined {
  if (value === undefined) return undefined;
  if (typeof value === 'string' && parseDateTime(value)) return value;
  const got = typeof value === 'string' ? `"${value}"` : JSON.stringify(value);
  throw new UsageError(command, `${field} must be an ISO-8601 time with a zone, of a day and time that exist, e.g. 2030-01-01T09:00:00Z, got ${got}`, field);
}

/**
 * `--backoff JSON`: an object of baseMs, maxMs, factor and/or jitter, checked with the server's own
 * limits (src/queue/backoff.ts), so a bad setting is named here (`--backoff.factor`), before connecting.
 */
export function backoffOption(command: string, flag: string, value: string | undefined): BackoffOptions | undefined {
  const parsed = jsonOption(command, flag, value, 'object');
  if (parsed === undefined) return undefined;
  try {
    return checkBackoff(parsed, flag);
  } catch (error) {
    if (isAppError(error)) throw new UsageError(command, error.message, error.field);
    throw error;
  }
}
