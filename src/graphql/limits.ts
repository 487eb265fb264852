import { costLimitRule } from '@escape.tech/graphql-armor-cost-limit';
import { maxAliasesPlugin } from '@escape.tech/graphql-armor-max-aliases';
import { maxDepthPlugin } from '@escape.tech/graphql-armor-max-depth';
import { maxTokensPlugin } from '@escape.tech/graphql-armor-max-tokens';
import { Kind, OperationTypeNode, visit, type ASTNode, type ASTVisitor, type DocumentNode, type FieldNode, type FragmentDefinitionNode, type GraphQLError, type SelectionSetNode, type ValidationContext, type ValidationRule } from 'graphql';
import { createGraphQLError, type Plugin } from 'graphql-yoga';
import { GRAPHQL_CODES, isGraphQLError } from './errors.js';

/**
 * Bounds on one operation, checked before it runs (none of this touches the database), by
 * GraphQL Armor's plugins. graphql-js's own MaxIntrospectionDepthRule (a specified rule) bounds
 * circular introspection (`fields { type { fields … } }`), which the depth and cost bounds skip.
 */
export interface GraphQLLimits {
  /** Deepest field nesting; fragments add no level; `__schema` and below do not count (default 10). */
  maxDepth: number;
  /**
   * Fields selected in one operation, fragments expanded at each use (a spread adds 2, an inline
   * fragment 1), `__schema` and below not counted (default 1,000): Armor's cost with every cost 1
   * and `first`/`last` not multiplying (see countFieldsRule).
   */
  maxFields: number;
  /** Aliased fields in one operation, fragments expanded, `__typename` included (default 30). */
  maxAliases: number;
  /** Lexical tokens in one document, counted while parsing (default 5,000). */
  maxTokens: number;
  /**
   * The most an operation may ask for, with its variables, before it runs (default 10,000; see
   * operationCost): the items its pages may hold, page sizes multiplied along their nesting.
   */
  maxCost: number;
}

export const DEFAULT_LIMITS: GraphQLLimits = { maxDepth: 10, maxFields: 1000, maxAliases: 30, maxTokens: 5000, maxCost: 10_000 };

/** Paged fields: their size argument, its default and its largest value (the resolvers refuse more, naming it). */
const PAGED: Readonly<Record<string, { arg: readonly string[]; default: number; max: number; weight: number }>> = {
  tasks: { arg: ['first', 'last'], default: 20, max: 100, weight: 1 },
  schedules: { arg: ['first'], default: 20, max: 100, weight: 1 },
  runs: { arg: ['first'], default: 20, max: 100, weight: 1 },
  events: { arg: ['first', 'last'], default: 100, max: 1000, weight: 1 },
  // Computed on the server, synchronously: a rare cron (`0 0 29 2 *`) costs ~0.5 ms an occurrence.
  upcoming: { arg: ['count'], default: 5, max: 100, weight: 10 },
};
/**
 * The fields of a task that carry its payloads (args and result up to MAX_ARGS_BYTES and
 * MAX_RESULT_BYTES, every attempt's traceback). An event's output or error is not among them: a
 * task's output in all is bounded by MAX_OUTPUT_BYTES, so its events count as items.
 */
const HEAVY_FIELDS = new Set(['args', 'kwargs', 'returnValue', 'errors']);
/** What an object selecting any of HEAVY_FIELDS counts, beside its place in its page. */
const HEAVY_WEIGHT = 40;

/**
 * Fields whose answer holds one item per element of a list argument: `enqueueTasks(inputs:)`
 * answers a task per input, and an input may name (by its idempotency key) a stored task of any
 * size, so 1,000 inputs of one key were 1,000 copies of that task's args (250 MB from a 62 KB
 * request, a tester's find).
 */
const SIZED_BY_LIST: Readonly<Record<string, { arg: string; list: string }>> = { enqueueTasks: { arg: 'inputs', list: 'tasks' } };

/**
 * Lists of objects without a page size, and reachable in a cycle (Task.workflow → Workflow.steps →
 * WorkflowStep.task → Task.dependsOn → Task.workflow …): `workflow { steps { task { workflow { steps
 * { task { workflow { steps { ref } } } } } } } }` was 27 M objects from a 300-step workflow, within
 * depth and field bounds, and took the server down (out of memory), a tester's find. A workflow's steps count
 * as a page of 100; a task's dependsOn once (its parents; under a workflow's steps, those steps'
 * edges). Any of them inside another counts as MAX_WORKFLOW_STEPS each (what a workflow may hold),
 * far over the bound: nothing a client needs nests them.
 */
const UNSIZED_LISTS: Readonly<Record<string, number>> = { steps: 100, dependsOn: 0 };
/**
 * Lists of every queue the caller's tenant has (`queues`, `queueStats`): a tenant names as many queues
 * as it likes, and 30 aliases of `queues` over 10,000 queues were 123 MB of answer (a server at 1.4
 * GB, /healthz unanswered for every tenant: a tester's find). Each counts half the default bound, so
 * an operation holds one of them (with room for a page of tasks beside it), however it is aliased.
 */
const WHOLE_LISTS: Readonly<Record<string, number>> = { queues: 5_001, queueStats: 5_001 };

/**
 * A subscription's payload is executed once per event: a page selected inside it (`taskEvents {
 * task { events(first: 1000) } }`) is read and sent again for each, so it counts as this many
 * pages. 284 MB went to each of a tester's subscribers for 188 KB of output, five of them kept a
 * server 86 % busy for two minutes. What no client needs: the typed client's and the dashboard's
 * subscriptions select no page.
 */
const SUBSCRIPTION_EVENTS = 100;

/** What an unsized list inside another counts, per enclosing item: a workflow's most steps (src/queue/workflows/validate.ts). */
const NESTED_UNSIZED = 20_000;

/** Whether `field`, met under the unsized lists `outer` and the field `parent`, is a workflow's step's parents (its edges). */
function isStepParents(field: string, outer: readonly string[], parent: string | undefined): boolean {
  return field === 'dependsOn' && outer.length === 1 && outer[0] === 'steps' && parent === 'task';
}

/** How many elements a list argument holds (a single value where a list is expected counts 1). */
function listLength(field: FieldNode, argName: string, variables: Readonly<Record<string, unknown>>): number {
  const arg = field.arguments?.find((a) => a.name.value === argName);
  if (!arg) return 0;
  if (arg.value.kind === Kind.VARIABLE) {
    const value = variables[arg.value.name.value];
    return Array.isArray(value) ? value.length : value == null ? 0 : 1;
  }
  return arg.value.kind === Kind.LIST ? arg.value.values.length : 1;
}

function pageSize(field: FieldNode, variables: Readonly<Record<string, unknown>>): number | undefined {
  const sizedBy = SIZED_BY_LIST[field.name.value];
  if (sizedBy !== undefined) return listLength(field, sizedBy.arg, variables);
  const paged = PAGED[field.name.value];
  if (!paged) return undefined;
  for (const arg of field.arguments ?? []) {
    if (!paged.arg.includes(arg.name.value)) continue;
    const value = arg.value.kind === Kind.VARIABLE ? variables[arg.value.name.value] : arg.value.kind === Kind.INT ? Number(arg.value.value) : undefined;
    if (typeof value === 'number' && Number.isFinite(value)) return Math.min(Math.max(0, value), paged.max);
  }
  return paged.default;
}

/**
 * What an operation may make the server read and send, counted before it runs with its variables:
 * each paged field counts the items its page may hold (its `first`, `last` or `count`, else its
 * default; `enqueueTasks` the length of its `inputs`), times the pages it sits in (`tasks(first: 100) { … events(first: 100) }`: 100 + 10,000),
 * an upcoming occurrence 10 (computed in process), and each object selecting a payload (args,
 * kwargs, returnValue, errors) 40 more. The field and alias bounds do not multiply by page
 * sizes: 12 aliases of `tasks(first: 100) { … args returnValue }` were 400 MB of answer, and 30 of
 * `schedules(first: 100) { upcoming(count: 100) }` a minute of the event loop, every tenant and the
 * in-process worker's lease renewals blocked behind it. Lists without a size: UNSIZED_LISTS.
 */
export function operationCost(document: DocumentNode, operationName: string | null | undefined, variables: Readonly<Record<string, unknown>>): number {
  const fragments = new Map<string, FragmentDefinitionNode>();
  let operation: SelectionSetNode | undefined;
  // How often a page of the operation is read: once, or once per event of a subscription.
  let readsPerPage = 1;
  for (const definition of document.definitions) {
    if (definition.kind === Kind.FRAGMENT_DEFINITION) fragments.set(definition.name.value, definition);
    else if (definition.kind === Kind.OPERATION_DEFINITION && (operationName == null || definition.name?.value === operationName) && !operation) {
      operation = definition.selectionSet;
      if (definition.operation === OperationTypeNode.SUBSCRIPTION) readsPerPage = SUBSCRIPTION_EVENTS;
    }
  }
  /**
   * `counted`: the list field of a SIZED_BY_LIST field's answer, whose items that field counted already;
   * `outer`: the UNSIZED_LISTS the selection is under; `parent`: the field whose selection it is.
   */
  const walk = (
    set: SelectionSetNode | undefined,
    pages: number,
    within: ReadonlySet<string>,
    counted?: string,
    outer: readonly string[] = [],
    parent?: string,
    perEvent = readsPerPage,
  ): number => {
    if (!set) return 0;
    let cost = 0;
    let heavy = false;
    for (const selection of set.selections) {
      if (selection.kind === Kind.FIELD) {
        const name = selection.name.value;
        if (HEAVY_FIELDS.has(name)) heavy = true;
        const unsized = selection.selectionSet ? UNSIZED_LISTS[name] : undefined;
        if (unsized !== undefined) {
          const each = outer.length === 0 || isStepParents(name, outer, parent) ? unsized : NESTED_UNSIZED;
          // A list counted 0 each holds as many as its own parents: the items inside count per enclosing item.
          const items = each === 0 ? pages : pages * each;
          cost += (each === 0 ? 0 : items) + walk(selection.selectionSet, items, within, undefined, [...outer, name], name, perEvent);
          continue;
        }
        const whole = WHOLE_LISTS[name];
        if (whole !== undefined) {
          cost += pages * whole + walk(selection.selectionSet, pages, within, undefined, outer, name, perEvent);
          continue;
        }
        const size = name === counted ? undefined : pageSize(selection, variables);
        if (size === undefined) cost += walk(selection.selectionSet, pages, within, undefined, outer, name, perEvent);
        else {
          // In a subscription a page inside the payload is read again for every event (SIZED_BY_LIST fields are
          // mutations'); once per page: the pages inside it multiply by it already.
          const events = PAGED[name] ? perEvent : 1;
          const items = pages * size * events;
          const list = SIZED_BY_LIST[name]?.list;
          cost += items * (PAGED[name]?.weight ?? 1) + walk(selection.selectionSet, items, within, list, outer, name, events === 1 ? perEvent : 1);
        }
      } else if (selection.kind === Kind.INLINE_FRAGMENT) {
        cost += walk(selection.selectionSet, pages, within, counted, outer, parent, perEvent);
      } else if (!within.has(selection.name.value)) {
        // A cycle of spreads is a validation error; the guard keeps the walk finite before it.
        cost += walk(fragments.get(selection.name.value)?.selectionSet, pages, new Set([...within, selection.name.value]), counted, outer, parent, perEvent);
      }
    }
    return cost + (heavy ? pages * HEAVY_WEIGHT : 0);
  };
  return walk(operation, 1, new Set());
}

/** Refuses, before it runs, an operation whose cost (operationCost) is over `maxCost`. */
function useOperationCost(maxCost: number): Plugin {
  const refuse = (cost: number): { errors: GraphQLError[] } => ({
    errors: [
      createGraphQLError(
        `The operation asks for up to ${cost} items, over the limit of ${maxCost}: page sizes multiply along their nesting ` +
          `(a task with args, kwargs, returnValue or errors counts ${HEAVY_WEIGHT} more, an upcoming occurrence 10, ` +
          `a workflow's steps 100, steps or dependsOn nested in each other ${NESTED_UNSIZED} each, queues and queueStats 5,001: one a request); ` +
          'ask for smaller pages, fewer aliases or fewer fields',
        { extensions: { code: GRAPHQL_CODES.validationFailed, limit: 'maxCost', max: maxCost, cost, http: { status: 400 } } },
      ),
    ],
  });
  return {
    onExecute({ args, setResultAndStopExecution }) {
      const cost = operationCost(args.document, args.operationName, (args.variableValues ?? {}) as Record<string, unknown>);
      if (cost > maxCost) setResultAndStopExecution(refuse(cost));
    },
    onSubscribe({ args, setResultAndStopExecution }) {
      const cost = operationCost(args.document, args.operationName, (args.variableValues ?? {}) as Record<string, unknown>);
      if (cost > maxCost) setResultAndStopExecution(refuse(cost));
    },
  };
}

/**
 * Armor's rules throw their error out of `validate()` by default, which yoga and our graphql-ws
 * loop would treat as a crash. Reported through the validation context instead, with our code
 * and `extensions.limit` naming the bound, as any other validation error.
 */
function reportAs(limit: keyof GraphQLLimits, max: number) {
  return {
    propagateOnRejection: false,
    onReject: [
      (context: ValidationContext | null, error: GraphQLError): void => {
        const message = error.message.replace(/^Syntax Error: /, '');
        context?.reportError(createGraphQLError(message, { extensions: { code: GRAPHQL_CODES.validationFailed, limit, max } }));
      },
    ],
  };
}

/** A copy of `node` without its `first` and `last` arguments. */
function withoutPageSizes<T extends ASTNode>(node: T): T {
  return visit(node, { Argument: (arg) => (arg.name.value === 'first' || arg.name.value === 'last' ? null : undefined) });
}

/**
 * Armor's cost rule counting fields. Armor multiplies a selection under a literal `first: n` by n
 * but cannot see a variable's value, so `tasks(first: 100)` with the fields of docs/graphql.md's
 * page example would be refused while `tasks(first: $n)` passes, and a literal `first: 1000`
 * would get a cost error instead of BAD_USER_INPUT naming `first`. The rule sees the operation
 * and its fragments without those arguments: every page size counts once, as before (pages are
 * bounded by the resolver: at most 100).
 */
function countFieldsRule(maxFields: number): ValidationRule {
  const rule = costLimitRule({ maxCost: maxFields, objectCost: 1, scalarCost: 1, depthCostFactor: 1, flattenFragments: true, ...reportAs('maxFields', maxFields) });
  // Named: yoga keys its validation cache by the rules' names.
  return function TaskwireFieldCount(context: ValidationContext): ASTVisitor {
    const fragments = new Map<string, FragmentDefinitionNode | undefined>();
    const getFragment = (name: string): FragmentDefinitionNode | undefined => {
      if (!fragments.has(name)) {
        const fragment = context.getFragment(name);
        fragments.set(name, fragment ? withoutPageSizes(fragment) : undefined);
      }
      return fragments.get(name);
    };
    // The context as Armor sees it: the same, but for the fragments it looks up.
    const view = Object.create(context, { getFragment: { value: getFragment } }) as ValidationContext;
    const visitor = rule(view);
    return { OperationDefinition: (operation) => void visitor.OperationDefinition.enter(withoutPageSizes(operation)) };
  };
}

/**
 * Parse errors get their code and HTTP status here: yoga marks them too, but by `instanceof`,
 * which a second copy of graphql (Armor's parser, or vitest's ESM one) defeats. Listed after
 * Armor's token plugin, so it wraps that parser.
 */
function useParseErrorCodes(): Plugin {
  return {
    onParse({ parseFn, setParseFn }) {
      setParseFn((source, options) => {
        try {
          return parseFn(source, options);
        } catch (error) {
          if (isGraphQLError(error)) {
            error.extensions.code ??= GRAPHQL_CODES.parseFailed;
            error.extensions.http ??= { status: 400, spec: true };
          }
          // graphql-js parses recursively: a document nested a few thousand deep, still under the
          // token limit, overflows the stack. That is the client's document at fault, not us.
          if (error instanceof RangeError) {
            throw createGraphQLError('Syntax Error: the document is nested too deeply.', {
              extensions: { code: GRAPHQL_CODES.parseFailed, http: { status: 400, spec: true } },
            });
          }
          throw error;
        }
      });
    },
  };
}

/**
 * The limits as yoga plugins, for `createYoga({ plugins })`: tokens while parsing, the rest as
 * validation rules. Yoga caches parse and validation results per document, so a repeated
 * operation is measured once.
 */
export function limitPlugins(limits: GraphQLLimits = DEFAULT_LIMITS): Plugin[] {
  return [
    maxTokensPlugin({ n: limits.maxTokens }) as Plugin,
    useParseErrorCodes(),
    maxDepthPlugin({ n: limits.maxDepth, flattenFragments: true, ...reportAs('maxDepth', limits.maxDepth) }),
    // allowList: [] counts aliased `__typename` too (Armor's default lets those through).
    maxAliasesPlugin({ n: limits.maxAliases, allowList: [], ...reportAs('maxAliases', limits.maxAliases) }),
    { onValidate: ({ addValidationRule }) => addValidationRule(countFieldsRule(limits.maxFields)) },
    useOperationCost(limits.maxCost),
  ];
}
