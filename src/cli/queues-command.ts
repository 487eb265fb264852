import type { QueueInfo, QueueLimitsInput, TaskwireClient } from '../client/index.js';
import { EXIT, intOption, parseCommand, takePositionals, UsageError } from './args.js';
import { COMMON, json, withClient, type Context } from './client-context.js';
import { table, visible } from './output.js';

const COMMAND = 'queues';
const SUBCOMMANDS = ['list', 'pause', 'resume', 'limits'] as const;
type Subcommand = (typeof SUBCOMMANDS)[number];

const LIMIT_OPTIONS = {
  concurrency: { type: 'string' },
  rate: { type: 'string' },
  'per-key': { type: 'string' },
  clear: { type: 'boolean' },
} as const;

const orDash = (value: number | null | undefined): string => (value === null || value === undefined ? '-' : String(value));

/** The `taskwire queues` table: one row per queue, its state, its limits and the caller's counts. */
export function queuesTable(queues: readonly QueueInfo[]): string {
  return table(
    ['QUEUE', 'STATE', 'CONCURRENCY', 'RATE', 'PER KEY', 'PENDING', 'RUNNING', 'TOTAL'],
    queues.map((q) => [
      q.name,
      q.paused ? 'paused' : 'active',
      orDash(q.concurrency),
      q.rateLimit ? `${q.rateLimit.max}/${q.rateLimit.perMs}ms` : '-',
      orDash(q.perKeyConcurrency),
      String(q.stats.pending + q.stats.retrying),
      String(q.stats.running),
      String(q.stats.total),
    ]),
  );
}

/** `--concurrency N --rate MAX/MS --per-key N` (or `--clear`) as the API's input; `--rate none` clears only the rate. */
function limitsInput(values: { concurrency?: string; rate?: string; 'per-key'?: string; clear?: boolean }): QueueLimitsInput {
  const given = values.concurrency !== undefined || values.rate !== undefined || values['per-key'] !== undefined;
  if (values.clear) {
    if (given) throw new UsageError(COMMAND, '--clear removes every limit: give it alone', '--clear');
    return { concurrency: null, rateLimit: null, perKeyConcurrency: null };
  }
  if (!given) throw new UsageError(COMMAND, 'limits needs --concurrency N, --rate MAX/MS, --per-key N, or --clear');
  const limits: QueueLimitsInput = {};
  const intOrNone = (flag: string, value: string | undefined): number | null | undefined =>
    value === 'none' ? null : intOption(COMMAND, flag, value, 1, 1_000_000);
  if (values.concurrency !== undefined) limits.concurrency = intOrNone('--concurrency', values.concurrency);
  if (values['per-key'] !== undefined) limits.perKeyConcurrency = intOrNone('--per-key', values['per-key']);
  if (values.rate !== undefined) {
    if (values.rate === 'none') limits.rateLimit = null;
    else {
      const match = /^(\d+)\/(\d+)(ms)?$/.exec(values.rate.trim());
      if (!match) throw new UsageError(COMMAND, `--rate must be MAX/MS, e.g. 50/1000 (50 starts per second), or none; got "${values.rate}"`, '--rate');
      limits.rateLimit = {
        max: intOption(COMMAND, '--rate MAX', match[1], 1, 1_000_000) as number,
        perMs: intOption(COMMAND, '--rate MS', match[2], 1, 86_400_000) as number,
      };
    }
  }
  return limits;
}

const describe = (q: QueueInfo): string =>
  `${visible(q.name)} ${q.paused ? 'paused' : 'active'}, concurrency ${orDash(q.concurrency)}, rate ${q.rateLimit ? `${q.rateLimit.max}/${q.rateLimit.perMs}ms` : '-'}, per key ${orDash(q.perKeyConcurrency)}\n`;

async function run(sub: Subcommand, args: string[], ctx: Context): Promise<number> {
  const options = sub === 'limits' ? { ...COMMON, ...LIMIT_OPTIONS } : COMMON;
  const { values, positionals } = parseCommand(COMMAND, args, options as typeof COMMON & typeof LIMIT_OPTIONS);
  const [name = ''] = takePositionals(COMMAND, positionals, sub === 'list' ? [] : ['NAME']);
  const limits = sub === 'limits' ? limitsInput(values) : undefined;
  const out = (value: unknown, text: string): number => {
    ctx.io.out(values.json ? json(value) : text);
    return EXIT.ok;
  };
  return withClient(COMMAND, values.url, ctx, async (client: TaskwireClient) => {
    switch (sub) {
      case 'list': {
        const queues = await client.queues();
        return out(queues, queues.length === 0 ? 'no queues\n' : queuesTable(queues));
      }
      case 'pause': {
        const q = await client.pauseQueue(name);
        return out(q, describe(q));
      }
      case 'resume': {
        const q = await client.resumeQueue(name);
        return out(q, describe(q));
      }
      case 'limits': {
        const q = await client.setQueueLimits(name, limits as QueueLimitsInput);
        return out(q, describe(q));
      }
    }
  });
}

/**
 * `taskwire queues [list] | pause NAME | resume NAME | limits NAME --concurrency N --rate MAX/MS --per-key N | --clear`
 * over the server's GraphQL API (docs/flow-control.md).
 */
export async function queues(args: string[], ctx: Context): Promise<number> {
  const [first, ...rest] = args;
  // No subcommand (or only options): list.
  if (first === undefined || first.startsWith('-')) return run('list', args, ctx);
  if (!(SUBCOMMANDS as readonly string[]).includes(first)) {
    throw new UsageError(COMMAND, `unknown subcommand "${first}"; use one of ${SUBCOMMANDS.join(', ')}`);
  }
  return run(first as Subcommand, rest, ctx);
}
