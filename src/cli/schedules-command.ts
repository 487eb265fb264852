import { TaskwireClientError, type MissedRunPolicy, type OverlapPolicy, type Schedule, type ScheduleDetail, type TaskwireClient, type UpsertScheduleInput } from '../client/index.js';
import { MAX_TIMER_MS } from '../client/options.js';
import { MAX_RESULT_TTL_MS } from '../queue/dates.js';
import { backoffOption, EXIT, intOption, jsonOption, parseCommand, takePositionals, UsageError } from './args.js';
import { COMMON, json, withClient, type Context } from './client-context.js';
import { backoffText, formatDuration, table, tasksTable, visible } from './output.js';

const OVERLAP: readonly OverlapPolicy[] = ['ALLOW', 'SKIP'];
const MISSED: readonly MissedRunPolicy[] = ['SKIP', 'RUN_ONCE', 'RUN_ALL'];
const COMMAND = 'schedules';
const SUBCOMMANDS = ['list', 'show', 'upsert', 'pause', 'resume', 'delete', 'trigger'] as const;
type Subcommand = (typeof SUBCOMMANDS)[number];

/** An ISO time without its milliseconds, `-` for none. */
const shortTime = (iso: string | null | undefined): string => (iso ? iso.replace('T', ' ').replace(/\.\d+Z$/, 'Z') : '-');

/**
 * The `taskwire schedules list` table: one row per schedule. TENANT always, first: a key names a
 * schedule only with its tenant (an admin lists every tenant's, and acts on another's with
 * --tenant), and a column that came and went with the rows would move the others under a script.
 */
export function schedulesTable(schedules: readonly Schedule[]): string {
  return table(
    ['TENANT', 'KEY', 'CRON', 'TIMEZONE', 'TASK', 'STATE', 'NEXT RUN', 'LAST RUN', 'LAST TASK'],
    schedules.map((s) => [
      s.tenant,
      s.key,
      s.cron,
      s.timezone,
      s.taskName,
      s.paused ? 'paused' : 'active',
      shortTime(s.nextRunAt),
      shortTime(s.lastRunAt),
      s.lastTask ? `${s.lastTask.status} ${s.lastTask.id}` : '-',
    ]),
  );
}

/** A schedule as `key: value` lines (control characters shown escaped), then its next occurrences and its latest tasks. */
export function scheduleBlock(s: ScheduleDetail): string {
  const rows: [string, string][] = [
    ['key', s.key],
    ['tenant', s.tenant],
    ['cron', `${s.cron} (${s.timezone})`],
    ['task', `${s.taskName} ${JSON.stringify(s.args)}${s.kwargs && Object.keys(s.kwargs as object).length > 0 ? ` ${JSON.stringify(s.kwargs)}` : ''}`],
    ['queue', s.queue],
    ...(s.concurrencyKey ? [['concurrency key', s.concurrencyKey] as [string, string]] : []),
    ['attempts', `${s.maxAttempts}${s.maxAttempts > 1 ? `, backoff ${backoffText(s.backoff)}` : ''}`],
    ...(s.timeoutMs != null ? [['timeout', formatDuration(s.timeoutMs)] as [string, string]] : []),
    ...(s.resultTtlMs != null ? [['result ttl', formatDuration(s.resultTtlMs)] as [string, string]] : []),
    ['state', s.paused ? 'paused' : 'active'],
    ['overlap', s.overlap],
    ['missed', s.missed],
    ['next run', shortTime(s.nextRunAt)],
    ['last run', shortTime(s.lastRunAt)],
    ['last task', s.lastTask ? `${s.lastTask.id} ${s.lastTask.status}` : '-'],
  ];
  const width = Math.max(...rows.map(([k]) => k.length)) + 1;
  const head = rows.map(([k, v]) => `${`${k}:`.padEnd(width)} ${visible(v)}\n`).join('');
  const upcoming = s.upcoming.length > 0 ? `\nupcoming:\n${s.upcoming.map((at) => `  ${shortTime(at)}\n`).join('')}` : '';
  const runs = s.runs.edges.map((e) => e.node);
  return `${head}${upcoming}\nlatest tasks:\n${runs.length > 0 ? tasksTable(runs) : '  none yet\n'}`;
}

function policy<T extends string>(flag: string, value: string | undefined, allowed: readonly T[]): T | undefined {
  if (value === undefined) return undefined;
  const upper = value.trim().toUpperCase();
  if (!(allowed as readonly string[]).includes(upper)) throw new UsageError(COMMAND, `${flag} must be one of ${allowed.join(', ')}, got "${value}"`);
  return upper as T;
}

/** `upsert KEY --cron … --task NAME …` as the API's input. */
function upsertInput(key: string, values: Record<string, string | boolean | undefined>): UpsertScheduleInput {
  const str = (name: string): string | undefined => (typeof values[name] === 'string' ? (values[name] as string) : undefined);
  const cron = str('cron');
  const task = str('task');
  if (cron === undefined) throw new UsageError(COMMAND, 'upsert needs --cron, e.g. --cron "0 3 * * *"');
  if (task === undefined) throw new UsageError(COMMAND, 'upsert needs --task NAME, the task each occurrence enqueues');
  if (values.paused && values.active) throw new UsageError(COMMAND, '--paused and --active contradict each other');
  const args = jsonOption(COMMAND, '--args', str('args'), 'array') as unknown[] | undefined;
  const kwargs = jsonOption(COMMAND, '--kwargs', str('kwargs'), 'object') as Record<string, unknown> | undefined;
  const priority = intOption(COMMAND, '--priority', str('priority'), -100, 100);
  const maxAttempts = intOption(COMMAND, '--max-attempts', str('max-attempts'), 1, 1000);
  const timeoutMs = intOption(COMMAND, '--timeout-ms', str('timeout-ms'), 1, MAX_TIMER_MS);
  const resultTtlMs = intOption(COMMAND, '--result-ttl-ms', str('result-ttl-ms'), 0, MAX_RESULT_TTL_MS);
  const backoff = backoffOption(COMMAND, '--backoff', str('backoff'));
  const overlap = policy('--overlap', str('overlap'), OVERLAP);
  const missed = policy('--missed', str('missed'), MISSED);
  const timezone = str('timezone');
  const queue = str('queue');
  const concurrencyKey = str('concurrency-key');
  const tenant = str('tenant');
  return {
    key,
    ...(tenant === undefined ? {} : { tenant }),
    cron,
    task: {
      name: task,
      ...(args === undefined ? {} : { args }),
      ...(kwargs === undefined ? {} : { kwargs }),
      ...(queue === undefined ? {} : { queue }),
      ...(concurrencyKey === undefined ? {} : { concurrencyKey }),
      ...(priority === undefined ? {} : { priority }),
      ...(maxAttempts === undefined ? {} : { maxAttempts }),
      ...(timeoutMs === undefined ? {} : { timeoutMs }),
      ...(resultTtlMs === undefined ? {} : { resultTtlMs }),
      ...(backoff === undefined ? {} : { backoff }),
    },
    ...(timezone === undefined ? {} : { timezone }),
    ...(overlap === undefined ? {} : { overlap }),
    ...(missed === undefined ? {} : { missed }),
    // Neither flag: an update keeps the schedule's pause.
    ...(values.paused ? { paused: true } : values.active ? { paused: false } : {}),
  };
}

const UPSERT_OPTIONS = {
  cron: { type: 'string' },
  task: { type: 'string' },
  args: { type: 'string' },
  kwargs: { type: 'string' },
  timezone: { type: 'string' },
  queue: { type: 'string' },
  'concurrency-key': { type: 'string' },
  priority: { type: 'string' },
  'max-attempts': { type: 'string' },
  'timeout-ms': { type: 'string' },
  'result-ttl-ms': { type: 'string' },
  backoff: { type: 'string' },
  overlap: { type: 'string' },
  missed: { type: 'string' },
  paused: { type: 'boolean' },
  active: { type: 'boolean' },
} as const;

/** Every subcommand that names a schedule by KEY: the key's tenant (default the caller's own). */
const KEY_OPTIONS = { ...COMMON, tenant: { type: 'string' } } as const;

async function run(sub: Subcommand, args: string[], ctx: Context): Promise<number> {
  const options = sub === 'upsert' ? { ...KEY_OPTIONS, ...UPSERT_OPTIONS } : sub === 'list' ? { ...COMMON, limit: { type: 'string' } } : KEY_OPTIONS;
  const { values, positionals } = parseCommand(COMMAND, args, options as typeof KEY_OPTIONS & typeof UPSERT_OPTIONS & { limit: { type: 'string' } });
  const [key = ''] = takePositionals(COMMAND, positionals, sub === 'list' ? [] : ['KEY']);
  const at = values.tenant === undefined ? {} : { tenant: values.tenant };
  const unknown = (): TaskwireClientError =>
    new TaskwireClientError('NOT_FOUND', `no schedule "${key}"${values.tenant === undefined ? '' : ` in tenant "${values.tenant}"`}`);
  const limit = sub === 'list' ? (intOption(COMMAND, '--limit', values.limit, 1, 1_000_000) ?? 100) : 0;
  const input = sub === 'upsert' ? upsertInput(key, values) : undefined;
  const out = (value: unknown, text: string): number => {
    ctx.io.out(values.json ? json(value) : text);
    return EXIT.ok;
  };
  return withClient(COMMAND, values.url, ctx, async (client: TaskwireClient) => {
    switch (sub) {
      case 'list': {
        const found: Schedule[] = [];
        for await (const page of client.listSchedules({ pageSize: Math.min(limit, 100), limit, signal: ctx.signal })) found.push(...page.schedules);
        return out(found, found.length === 0 ? 'no schedules\n' : schedulesTable(found));
      }
      case 'show': {
        const schedule = await client.schedule(key, at);
        if (!schedule) throw unknown();
        return out(schedule, scheduleBlock(schedule));
      }
      case 'upsert': {
        const s = await client.upsertSchedule(input as UpsertScheduleInput);
        return out(s, `${visible(s.key)} ${s.paused ? 'paused' : `next run ${shortTime(s.nextRunAt)}`}\n`);
      }
      case 'pause': {
        const s = await client.pauseSchedule(key, at);
        return out(s, `${visible(s.key)} paused\n`);
      }
      case 'resume': {
        const s = await client.resumeSchedule(key, at);
        return out(s, `${visible(s.key)} resumed, next run ${shortTime(s.nextRunAt)}\n`);
      }
      case 'delete': {
        const existed = await client.deleteSchedule(key, at);
        if (!existed) throw unknown();
        return out({ deleted: key }, `${visible(key)} deleted\n`);
      }
      case 'trigger': {
        const task = await client.triggerSchedule(key, at);
        return out(task, `${task.id}\n`);
      }
    }
  });
}

/**
 * `taskwire schedules list|show KEY|upsert KEY --cron … --task NAME …|pause KEY|resume KEY|delete KEY|trigger KEY`
 * (each KEY with an optional `--tenant T`) over the server's GraphQL API (docs/schedules.md).
 */
export async function schedules(args: string[], ctx: Context): Promise<number> {
  const [sub, ...rest] = args;
  if (sub === undefined || !(SUBCOMMANDS as readonly string[]).includes(sub)) {
    throw new UsageError(COMMAND, sub === undefined ? `missing a subcommand: ${SUBCOMMANDS.join(', ')}` : `unknown subcommand "${sub}"; use one of ${SUBCOMMANDS.join(', ')}`);
  }
  return run(sub as Subcommand, rest, ctx);
}
