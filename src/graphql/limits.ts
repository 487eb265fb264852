import {
  Kind,
  type ASTVisitor,
  type FragmentDefinitionNode,
  type GraphQLError,
  type SelectionSetNode,
  type ValidationContext,
  type ValidationRule,
} from 'graphql';
import { createGraphQLError, type Plugin } from 'graphql-yoga';
import { GRAPHQL_CODES, isGraphQLError } from './errors.js';

/** Bounds on one operation, checked before it runs (none of this touches the database). */
export interface GraphQLLimits {
  /** Deepest field nesting, fragments expanded; introspection fields (`__schema`, `__type`) do not count (default 10). */
  maxDepth: number;
  /** Fields selected in one operation, fragments expanded at each use (default 1,000). */
  maxFields: number;
  /** Aliased fields in one operation (default 30): aliases are how one request asks for the same thing many times. */
  maxAliases: number;
  /** Lexical tokens in one document, enforced while parsing (default 5,000). */
  maxTokens: number;
}

export const DEFAULT_LIMITS: GraphQLLimits = { maxDepth: 10, maxFields: 1000, maxAliases: 30, maxTokens: 5000 };

interface Measure {
  depth: number;
  fields: number;
  aliases: number;
}

/**
 * Measures the selection, expanding fragment spreads. A fragment seen again on the same path
 * is a cycle (reported by graphql-js's NoFragmentCycles); here it just stops the walk. Every
 * leaf is a field, so stopping once `maxFields` is passed bounds the walk, however the
 * document multiplies fragments (the other counts are then partial, and the fields error shows).
 */
function measure(set: SelectionSetNode, fragments: Map<string, FragmentDefinitionNode>, limits: GraphQLLimits): Measure {
  const m: Measure = { depth: 0, fields: 0, aliases: 0 };
  const over = (): boolean => m.fields > limits.maxFields;
  const walk = (node: SelectionSetNode, depth: number, introspection: boolean, path: Set<string>): void => {
    for (const selection of node.selections) {
      if (over()) return;
      if (selection.kind === Kind.FIELD) {
        m.fields += 1;
        if (selection.alias) m.aliases += 1;
        const inIntrospection = introspection || (selection.name.value.startsWith('__') && selection.name.value !== '__typename');
        const d = inIntrospection ? depth : depth + 1;
        if (!inIntrospection) m.depth = Math.max(m.depth, d);
        if (selection.selectionSet) walk(selection.selectionSet, d, inIntrospection, path);
      } else if (selection.kind === Kind.INLINE_FRAGMENT) {
        walk(selection.selectionSet, depth, introspection, path);
      } else {
        const name = selection.name.value;
        const fragment = fragments.get(name);
        if (!fragment || path.has(name)) continue;
        path.add(name);
        walk(fragment.selectionSet, depth, introspection, path);
        path.delete(name);
      }
    }
  };
  walk(set, 0, false, new Set());
  return m;
}

function limitError(message: string, limit: string, max: number, actual: number): GraphQLError {
  return createGraphQLError(message, { extensions: { code: GRAPHQL_CODES.validationFailed, limit, max, actual } });
}

/** A validation rule enforcing `limits` on every operation of the document. */
export function createLimitsRule(limits: GraphQLLimits = DEFAULT_LIMITS): ValidationRule {
  // Named: yoga keys its validation cache by the rules' names.
  return function TaskwireLimits(context: ValidationContext): ASTVisitor {
    const fragments = new Map<string, FragmentDefinitionNode>();
    for (const def of context.getDocument().definitions) {
      if (def.kind === Kind.FRAGMENT_DEFINITION) fragments.set(def.name.value, def);
    }
    return {
      OperationDefinition(operation) {
        const name = operation.name ? `Operation "${operation.name.value}"` : 'The operation';
        const m = measure(operation.selectionSet, fragments, limits);
        if (m.depth > limits.maxDepth) {
          context.reportError(limitError(`${name} nests fields ${m.depth} deep; at most ${limits.maxDepth} allowed`, 'maxDepth', limits.maxDepth, m.depth));
        }
        if (m.fields > limits.maxFields) {
          context.reportError(limitError(`${name} selects more than ${limits.maxFields} fields`, 'maxFields', limits.maxFields, m.fields));
        }
        if (m.aliases > limits.maxAliases) {
          context.reportError(limitError(`${name} uses more than ${limits.maxAliases} aliases`, 'maxAliases', limits.maxAliases, m.aliases));
        }
        return false;
      },
    };
  };
}

/**
 * The limits as a yoga plugin: `maxTokens` while parsing, the rest as a validation rule.
 * Yoga caches parse and validation results per document, so a repeated operation is measured once.
 */
export function useLimits(limits: GraphQLLimits = DEFAULT_LIMITS): Plugin {
  const rule = createLimitsRule(limits);
  return {
    onParse({ parseFn, setParseFn }) {
      setParseFn((source, options) => {
        try {
          return parseFn(source, { ...options, maxTokens: limits.maxTokens });
        } catch (error) {
          // Yoga marks parse errors too, but by instanceof, which a second copy of graphql defeats.
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
    onValidate({ addValidationRule }) {
      addValidationRule(rule);
    },
  };
}
