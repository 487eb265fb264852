import { ConnectionError, type FeedEventWithTask, type TaskEvent } from '../client/index.js';
import { EXIT, intOption, parseCommand, secondsOption, takePositionals } from './args.js';
import { COMMON, json, withClient, withTimeout, type Context } from './client-context.js';
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

  // Ctrl-C and SIGTERM (a `timeout`, a service manager) stop the feed here, not by closing the client
  // under it or by ending the process, so that the cursor to go on from can be said.
  const terminated = new AbortController();
  const onTerm = (): void => terminated.abort(new Error('terminated'));
  process.once('SIGTERM', onTerm);
  const stop = AbortSignal.any([ctx.signal, terminated.signal]);
  try {
    return await withClient(
      'feed',
      values.url,
      ctx,
      async (client) => {
        const signal = withTimeout(stop, timeoutMs);
        // Where to go on: the feed's position before the first event, then each event's.
        let cursor = values.after ?? (await client.feedCursor({ signal: stop }));
        let taken = 0;
        const print = (event: TaskEvent | FeedEventWithTask): void => {
          if (values.json) {
            ctx.io.out(json(event));
            return;
          }
          const name = 'task' in event && event.task ? `  ${visible(event.task.name)}` : '';
          ctx.io.out(`${event.at}  ${event.taskId}${name}  ${eventLine(event)}\n`);
        };
        const goOn = (): void => ctx.io.err(`${taken} event${taken === 1 ? '' : 's'}; go on with: --after ${cursor}\n`);
        try {
          for await (const event of client.feed({ filter, after: cursor, withTask, signal })) {
            print(event);
            cursor = event.cursor;
            if (++taken === limit) break;
          }
        } catch (error) {
          if (!signal.aborted) {
            // What was printed stays printed: where to go on comes before the error (exit 3 when the
            // server stayed away), or a loop would print it all again. Not for a refusal of what was
            // asked (a malformed cursor: there is nowhere to go on from).
            if (taken > 0 || error instanceof ConnectionError) goOn();
            throw error;
          }
        }
        goOn();
        if (ctx.signal.aborted) return EXIT.interrupted;
        return terminated.signal.aborted ? EXIT.terminated : EXIT.ok;
      },
      { closeOnInterrupt: false },
    );
  } finally {
    process.off('SIGTERM', onTerm);
  }
}
