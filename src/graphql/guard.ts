/**
 * The one authorization layer of the GraphQL API (DESIGN Part 2 §B). Every root field of
 * Query, Mutation and Subscription has a rule in GUARD_RULES; guardSchema wraps each root
 * resolver (subscriptions: the subscribe function) once, when the schema is built, so that no
 * resolver checks scopes itself. A root field without a rule stops the schema from building.
 *
 * Tenants are not checked here: the server hands every operation a queue and an event hub already
 * limited to the principal's tenant, where another tenant's id reads as an unknown one.
 */
import type { GraphQLFieldConfig, GraphQLFieldResolver, GraphQLObjectType, GraphQLSchema } from 'graphql';
import type { Principal } from '../auth/principal.js';
import { hasScope, mayEnqueue, mayEnqueueSome } from '../auth/scopes.js';
import { ForbiddenError, UnauthenticatedError } from '../errors.js';
import type { GraphQLContext } from './context.js';
import { readTokenContext } from './read-token-view.js';
import { scheduleTaskName } from './schedule-guard.js';
import { enqueueStepNames } from './workflow-guard.js';

/** The root types the guard covers. */
export const ROOT_TYPES = ['Query', 'Mutation', 'Subscription'] as const;
export type RootType = (typeof ROOT_TYPES)[number];

/**
 * What a principal other than a read token needs for a field: a scope (`admin` holds every one),
 * `tasks:enqueue` (the scope itself or any `tasks:enqueue:<glob>`; the rule's `check` then tests
 * the task name), or `authenticated` (any principal).
 */
export type FieldNeed = 'tasks:read' | 'tasks:enqueue' | 'tasks:cancel' | 'tasks:retry' | 'schedules:write' | 'queues:admin' | 'admin' | 'authenticated';

export interface FieldRule {
  needs: FieldNeed;
  /**
   * Whether a read token may use the field. Absent: never (FORBIDDEN). Present: the resolver runs
   * with a queue and an event hub that hold only the token's tasks, so another id answers exactly
   * as an unknown one (null or NOT_FOUND, as the field does). `requiredArg`: only with that
   * argument given (taskStatusChanged without `id` would watch every task).
   */
  readToken?: { requiredArg?: string };
  /** A check of the arguments, after the scope (enqueueTask: the task name against the enqueue globs). */
  check?: (principal: Principal, args: Readonly<Record<string, unknown>>) => void;
}

export type GuardRules = Readonly<Record<RootType, Readonly<Record<string, FieldRule>>>>;

/** enqueueTask: the name must match `tasks:enqueue` or one of the principal's `tasks:enqueue:<glob>`. */
function enqueueName(principal: Principal, args: Readonly<Record<string, unknown>>): void {
  const input = args.input as { name?: unknown } | undefined;
  const name = typeof input?.name === 'string' ? input.name : '';
  if (!mayEnqueue(principal, name)) {
    throw new ForbiddenError(`This credential may not enqueue "${name}": no tasks:enqueue scope matches the name`, {
      field: 'input.name',
      details: { requiredScope: `tasks:enqueue:${name}` },
    });
  }
}

/** enqueueTasks: enqueueName for each input, the refusal naming `inputs[i].name`. */
function enqueueNames(principal: Principal, args: Readonly<Record<string, unknown>>): void {
  const inputs = args.inputs;
  if (!Array.isArray(inputs)) return;
  inputs.forEach((input: { name?: unknown } | null, i) => {
    const name = typeof input?.name === 'string' ? input.name : '';
    if (mayEnqueue(principal, name)) return;
    throw new ForbiddenError(`This credential may not enqueue "${name}" (inputs[${i}]): no tasks:enqueue scope matches the name`, {
      field: `inputs[${i}].name`,
      details: { requiredScope: `tasks:enqueue:${name}` },
    });
  });
}

/** A read token may use the field for its own tasks. */
const OWN_TASKS: FieldRule['readToken'] = Object.freeze({});

/** The rule of every root field. A new root field needs a line here, or the schema does not build. */
export const GUARD_RULES: GuardRules = {
  Query: {
    node: { needs: 'tasks:read', readToken: OWN_TASKS },
    taskResult: { needs: 'tasks:read', readToken: OWN_TASKS },
    tasks: { needs: 'tasks:read' },
    queueStats: { needs: 'tasks:read' },
    viewer: { needs: 'authenticated', readToken: OWN_TASKS },
    // For measuring a client's clock against the tasks' stamps: whoever reads no task has none to measure.
    now: { needs: 'tasks:read' },
    // Schedules: not for read tokens (a schedule is not one of the token's tasks).
    schedules: { needs: 'tasks:read' },
    schedule: { needs: 'tasks:read' },
    // Workflows: not for read tokens (a workflow shows every step's task).
    workflow: { needs: 'tasks:read' },
    bulkAction: { needs: 'tasks:read' },
    // Settings are deployment-wide; a tenant lists only the queues its tasks are in, with its own counts.
    queues: { needs: 'tasks:read' },
    // A position in the feed, which read tokens cannot subscribe to.
    taskEventFeedCursor: { needs: 'tasks:read' },
  },
  Mutation: {
    enqueueTask: { needs: 'tasks:enqueue', check: enqueueName },
    enqueueTasks: { needs: 'tasks:enqueue', check: enqueueNames },
    cancelTask: { needs: 'tasks:cancel' },
    retryTask: { needs: 'tasks:retry' },
    // Runs a task sooner, as a retry does: the same operator's scope.
    runTaskNow: { needs: 'tasks:retry' },
    createReadToken: { needs: 'tasks:read' },
    // A schedule enqueues its task: upsert checks the name here, trigger in its resolver (the name is the stored one).
    // Their `tenant:` is no scope: a caller limited to its tenant finds another's schedules unknown (schedulesIn), as ids.
    upsertSchedule: { needs: 'schedules:write', check: scheduleTaskName },
    pauseSchedule: { needs: 'schedules:write' },
    resumeSchedule: { needs: 'schedules:write' },
    deleteSchedule: { needs: 'schedules:write' },
    triggerSchedule: { needs: 'schedules:write' },
    enqueueWorkflow: { needs: 'tasks:enqueue', check: enqueueStepNames },
    cancelWorkflow: { needs: 'tasks:cancel' },
    cancelTasks: { needs: 'tasks:cancel' },
    retryTasks: { needs: 'tasks:retry' },
    // A queue's pause and limits hold for every tenant: an operator's scope.
    pauseQueue: { needs: 'queues:admin' },
    resumeQueue: { needs: 'queues:admin' },
    setQueueLimits: { needs: 'queues:admin' },
  },
  Subscription: {
    taskStatusChanged: { needs: 'tasks:read', readToken: { requiredArg: 'id' } },
    taskEvents: { needs: 'tasks:read', readToken: OWN_TASKS },
    taskEventFeed: { needs: 'tasks:read' },
    workflowChanged: { needs: 'tasks:read' },
    bulkActionChanged: { needs: 'tasks:read' },
  },
};

/** A read token: limited to its task ids, whatever scopes it carries. */
export function isReadToken(principal: Principal): boolean {
  return principal.kind === 'read-token' || principal.taskIds !== undefined;
}

function allows(principal: Principal, need: FieldNeed): boolean {
  if (need === 'authenticated') return true;
  if (need === 'tasks:enqueue') return mayEnqueueSome(principal);
  return hasScope(principal, need);
}

/** Root fields a read token may use, for error messages. */
function readTokenFields(rules: GuardRules): string {
  return ROOT_TYPES.flatMap((type) =>
    Object.entries(rules[type])
      .filter(([, rule]) => rule.readToken)
      .map(([name, rule]) => (rule.readToken?.requiredArg ? `${name}(${rule.readToken.requiredArg}:)` : name)),
  ).join(', ');
}

/**
 * Decides one root field for the operation's principal: throws FORBIDDEN (UNAUTHENTICATED when
 * the context carries no principal at all), or gives the context the resolver runs with.
 */
export function authorize(
  rules: GuardRules,
  type: RootType,
  field: string,
  args: Readonly<Record<string, unknown>>,
  ctx: GraphQLContext,
): GraphQLContext {
  const rule = rules[type][field];
  // Both "cannot happen" (guardSchema checks the table, the server always sets a principal): fail closed.
  if (!rule) throw new ForbiddenError(`${type}.${field} has no authorization rule`);
  const principal = ctx.principal as Principal | undefined;
  if (!principal) throw new UnauthenticatedError();
  if (isReadToken(principal)) {
    if (!rule.readToken) {
      throw new ForbiddenError(`A read token may only read its own tasks (${readTokenFields(rules)}); ${field} needs an API key or a JWT`);
    }
    const required = rule.readToken.requiredArg;
    if (required !== undefined && args[required] == null) {
      throw new ForbiddenError(`With a read token, ${field} needs \`${required}\` (one of the token's tasks)`, { field: required });
    }
    return readTokenContext(ctx, principal);
  }
  if (!allows(principal, rule.needs)) {
    const also = rule.needs === 'tasks:enqueue' ? ' (or tasks:enqueue:<name glob>)' : '';
    throw new ForbiddenError(`${field} needs the scope ${rule.needs}${also}`, { details: { requiredScope: rule.needs } });
  }
  rule.check?.(principal, args);
  return ctx;
}

/** Every root field of `schema`, as `Type.field`. */
export function rootFields(schema: GraphQLSchema): string[] {
  return ROOT_TYPES.flatMap((type) => Object.keys(rootType(schema, type)?.getFields() ?? {}).map((name) => `${type}.${name}`));
}

/** Root fields of `schema` that have no rule in `rules`. */
export function unguardedFields(schema: GraphQLSchema, rules: GuardRules = GUARD_RULES): string[] {
  return rootFields(schema).filter((path) => {
    const [type, field] = path.split('.') as [RootType, string];
    return !Object.hasOwn(rules[type], field);
  });
}

function rootType(schema: GraphQLSchema, type: RootType): GraphQLObjectType | null | undefined {
  if (type === 'Query') return schema.getQueryType();
  if (type === 'Mutation') return schema.getMutationType();
  return schema.getSubscriptionType();
}

type Resolver = GraphQLFieldResolver<unknown, GraphQLContext, Record<string, unknown>>;

function guarded(rules: GuardRules, type: RootType, field: string, inner: Resolver): Resolver {
  return (root, args, ctx, info) => inner(root, args, authorize(rules, type, field, args, ctx), info);
}

/**
 * Puts the guard in front of every root field of `schema` (in place; returns it), after
 * checking that each has a rule: throws, naming them, when some have none. Subscriptions are
 * authorized when they start (their `subscribe`); the events they then deliver are not re-checked.
 */
export function guardSchema(schema: GraphQLSchema, rules: GuardRules = GUARD_RULES): GraphQLSchema {
  const missing = unguardedFields(schema, rules);
  if (missing.length > 0) {
    throw new Error(`Root fields without an authorization rule (add them to GUARD_RULES in src/graphql/guard.ts): ${missing.join(', ')}`);
  }
  for (const type of ROOT_TYPES) {
    for (const [name, field] of Object.entries(rootType(schema, type)?.getFields() ?? {})) {
      const config = field as Pick<GraphQLFieldConfig<unknown, GraphQLContext>, 'resolve' | 'subscribe'>;
      const key = type === 'Subscription' ? 'subscribe' : 'resolve';
      const inner = config[key] as Resolver | undefined;
      if (!inner) throw new Error(`${type}.${name} has no ${key} function to guard`);
      config[key] = guarded(rules, type, name, inner);
    }
  }
  return schema;
}
