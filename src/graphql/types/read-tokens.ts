import { BadUserInputError, ForbiddenError, NotFoundError } from '../../errors.js';
import { assertTaskId } from '../../queue/get.js';
import type { Task } from '../../queue/task.js';
import { builder } from '../builder.js';
import type { GraphQLContext } from '../context.js';
import { issueReadToken, type IssuedReadToken } from '../issue-read-token.js';

/** Most task ids one read token covers (a token travels in a header: ~40 bytes an id). */
export const MAX_READ_TOKEN_TASKS = 100;
/** Longest lifetime a caller may ask of a read token, in seconds (1 day); omitted: READ_TOKEN_TTL_S. */
export const MAX_READ_TOKEN_TTL_S = 86_400;

const ReadTokenRef = builder.objectRef<IssuedReadToken>('ReadToken').implement({
  description: 'A signed, short-lived token good only to read and subscribe to some tasks (send it as `Authorization: Bearer …`).',
  fields: (t) => ({
    token: t.exposeString('token'),
    expiresAt: t.expose('expiresAt', { type: 'DateTime', description: 'When it stops working.' }),
  }),
});

function checkTtl(ttlSeconds: number | null | undefined): number | undefined {
  if (ttlSeconds == null) return undefined;
  if (ttlSeconds < 1 || ttlSeconds > MAX_READ_TOKEN_TTL_S) {
    throw new BadUserInputError(`ttlSeconds must be 1..${MAX_READ_TOKEN_TTL_S}, got ${ttlSeconds}`, { field: 'ttlSeconds' });
  }
  return ttlSeconds;
}

/** The tasks of `taskIds`, each visible to the caller; names the first bad one as `taskIds[i]`. */
async function visibleTasks(ctx: GraphQLContext, taskIds: readonly string[]): Promise<Task[]> {
  if (taskIds.length === 0 || taskIds.length > MAX_READ_TOKEN_TASKS) {
    throw new BadUserInputError(`taskIds must hold 1..${MAX_READ_TOKEN_TASKS} ids, got ${taskIds.length}`, { field: 'taskIds' });
  }
  taskIds.forEach((id, i) => assertTaskId(id, `taskIds[${i}]`));
  // UUIDs: PostgreSQL reads them in any case, tasks come back with their ids lowercased.
  const ids = taskIds.map((id) => id.toLowerCase());
  // One read; the queue is the caller's tenant's, so another tenant's task is missing like an unknown one.
  const found = new Map((await ctx.queue.getTasks([...new Set(ids)])).map((task) => [task.id, task]));
  const missing = ids.findIndex((id) => !found.has(id));
  if (missing >= 0) throw new NotFoundError('Task', taskIds[missing] as string, { field: `taskIds[${missing}]` });
  const tasks = [...found.values()];
  if (new Set(tasks.map((task) => task.tenant)).size > 1) {
    throw new BadUserInputError('A read token covers the tasks of one tenant: ask for one token per tenant', { field: 'taskIds' });
  }
  return tasks;
}

builder.mutationField('createReadToken', (t) =>
  t.field({
    type: ReadTokenRef,
    description:
      `A read token for taskIds (1..${MAX_READ_TOKEN_TASKS} tasks you can read): it reads and subscribes to those tasks only ` +
      '(taskResult, node, taskStatusChanged(id:), taskEvents). Needs tasks:read. ' +
      `ttlSeconds: 1..${MAX_READ_TOKEN_TTL_S} (default READ_TOKEN_TTL_S, 3600), never past your own credential's expiry: expiresAt says when it ends. ` +
      'An id you cannot see is NOT_FOUND naming taskIds[i]. With AUTH_MODE=off there are no read tokens: FORBIDDEN.',
    args: { taskIds: t.arg.idList({ required: true }), ttlSeconds: t.arg.int() },
    resolve: async (_root, args, ctx) => {
      if (!ctx.readTokens) {
        throw new ForbiddenError('Read tokens need AUTH_MODE=on; with auth off every task can be read without one');
      }
      const ttlSeconds = checkTtl(args.ttlSeconds);
      const tasks = await visibleTasks(ctx, args.taskIds);
      return (await issueReadToken(ctx, tasks, ttlSeconds)) as IssuedReadToken;
    },
  }),
);
