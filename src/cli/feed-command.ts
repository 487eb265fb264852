import type { FeedEventWithTask, TaskEvent } from '../client/index.js';
import { EXIT, intOption, parseCommand, secondsOption, takePositionals } from './args.js';
import { COMMON, json, withClient, type Context } from './client-context.js';
import { eventLine, visible } from './output.js';
import { TASK_FILTER_OPTIONS, taskFilterOf } from './task-filter.js';

/**
 * `taskwire feed`: every event of every task the filter matches, live, in commit order, one line
 * each on stdout, from now or from `--after CURSOR`. It has no end of its own: it stops at --limit,
 * --timeout or Ctrl-C, and then says on stderr where to go on (`--after …`), so that a script can
 * follow the feed in runs and miss nothing between them.
 */
export async function feed(args: string[], ctx: Context): Promise<number> {
  const { values, positionals } = parseCommand('feed', args, {
    ...COMMON,
    ...TASK_FILTER_OPTIONS,
    after: { type: 'string' },
    'with-task': { type: 'boolean' },
    limit: { type: 'string' },
    timeout: { type: 'string' },
  });
  takePositionals('feed', positionals, []);
  const filter = taskFilterOf('feed', values);
  const limit = intOption('feed', '--limit', values.limit, 1, Number.MAX_SAFE_INTEGER);
  const timeoutMs = secondsOption('feed', '--timeout', values.timeout);
  const withTask = values['with-task'] === true;

  // Ctrl-C stops the feed here (not by closing the client under it), so that the cursor can be said.
  return withClient(
    'feed',
    values.url,
    ctx,
    async (client) => {
      const timeout = timeoutMs === undefined ? undefined : AbortSignal.timeout(timeoutMs);
      const signal = timeout ? AbortSignal.any([ctx.signal, timeout]) : ctx.signal;
      // Where to go on: the feed's position before the first event, then each event's.
      let cursor = values.after ?? (await client.feedCursor({ signal: ctx.signal }));
      let taken = 0;
      const print = (event: TaskEvent | FeedEventWithTask): void => {
        if (values.json) {
          ctx.io.out(json(event));
          return;
        }
        const name = 'task' in event ? `  ${visible(event.task.name)}` : '';
        ctx.io.out(`${event.at}  ${event.taskId}${name}  ${eventLine(event)}\n`);
      };
      try {
        for await (const event of client.feed({ filter, after: cursor, withTask, signal })) {
          print(event);
          cursor = event.cursor;
          if (++taken === limit) break;
        }
      } catch (error) {
        if (!signal.aborted) throw error;
      }
      ctx.io.err(`${taken} event${taken === 1 ? '' : 's'}; go on with: --after ${cursor}\n`);
      return ctx.signal.aborted ? EXIT.interrupted : EXIT.ok;
    },
    { closeOnInterrupt: false },
  );
}
