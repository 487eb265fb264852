import { Kind, valueFromASTUntyped, type ValueNode } from 'graphql';
import { createGraphQLError } from 'graphql-yoga';
import { parseDateTime as parseDateTimeText } from '../../queue/dates.js';
import { builder } from '../builder.js';

// A full date-time with a zone that exists on the calendar (queue/dates.ts says why): the same
// check for a literal, a variable and the CLI's --run-after. Neither error knows its field here:
// graphql/input-errors.ts names it (`input.runAfter`) for both.
function parseDateTime(value: unknown, node?: ValueNode): Date {
  const date = typeof value === 'string' ? parseDateTimeText(value) : undefined;
  if (!date) {
    // A literal's error has no path (graphql-js reports it as thrown): the node gives it the value's
    // location, and input-errors.ts finds its field from the node.
    throw createGraphQLError(`DateTime must be an ISO-8601 date-time with a zone, of a day and time that exist, e.g. "2025-01-31T12:00:00Z"; got ${JSON.stringify(value)}`, {
      ...(node ? { nodes: node } : {}),
      extensions: { code: 'BAD_USER_INPUT' },
    });
  }
  return date;
}

/** ISO-8601 date-time strings out (always UTC, `…Z`); a date-time with a zone in. */
export const DateTimeScalar = builder.scalarType('DateTime', {
  description: 'An ISO-8601 date-time with a zone, e.g. "2025-01-31T12:00:00.000Z".',
  serialize: (value) => (value instanceof Date ? value : parseDateTime(value)).toISOString(),
  parseValue: (value) => parseDateTime(value),
  parseLiteral: (ast) => parseDateTime(ast.kind === Kind.STRING ? ast.value : undefined, ast),
});

/** Any JSON value (task arguments, return values). */
export const JsonScalar = builder.scalarType('JSON', {
  description: 'Any JSON value.',
  serialize: (value) => value,
  parseValue: (value) => value,
  parseLiteral: (ast, variables) => valueFromASTUntyped(ast, variables),
});
