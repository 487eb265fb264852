import { costLimitRule } from '@escape.tech/graphql-armor-cost-limit';
import { maxAliasesPlugin } from '@escape.tech/graphql-armor-max-aliases';
import { maxDepthPlugin } from '@escape.tech/graphql-armor-max-depth';
import { maxTokensPlugin } from '@escape.tech/graphql-armor-max-tokens';
import { visit, type ASTNode, type ASTVisitor, type FragmentDefinitionNode, type GraphQLError, type ValidationContext, type ValidationRule } from 'graphql';
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
}

export const DEFAULT_LIMITS: GraphQLLimits = { maxDepth: 10, maxFields: 1000, maxAliases: 30, maxTokens: 5000 };

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
  ];
}
