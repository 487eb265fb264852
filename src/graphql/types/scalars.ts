import { Kind, valueFromASTUntyped } from 'graphql';
import { createGraphQLError } from 'graphql-yoga';
import { builder } from '../builder.js';

// A full date-time with a zone (RFC 3339 profile of ISO-8601): a date alone or a local
// time would be read in the server's zone, which differs between machines.
const DATE_TIME = /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}(:\d{2}(\.\d{1,9})?)?(Z|[+-]\d{2}:\d{2})$/i;

function parseDateTime(value: unknown): Date {
  const date = typeof value === 'string' && DATE_TIME.test(value) ? new Date(value) : undefined;
  if (!date || Number.isNaN(date.getTime())) {
    throw createGraphQLError(`DateTime must be an ISO-8601 date-time with a zone, e.g. "2025-01-31T12:00:00Z"; got ${JSON.stringify(value)}`, {
      extensions: { code: 'BAD_USER_INPUT' },
    });
  }
  return date;
}

/** ISO-8601 date-time strings out (always UTC, `…Z`); a date-time with a zone in. */
export const DateTimeScalar = builder.scalarType('DateTime', {
  description: 'An ISO-8601 date-time with a zone, e.g. "2025-01-31T12:00:00.000Z".',
  serialize: (value) => (value instanceof Date ? value : parseDateTime(value)).toISOString(),
  parseValue: parseDateTime,
  parseLiteral: (ast) => parseDateTime(ast.kind === Kind.STRING ? ast.value : undefined),
});

/** Any JSON value (task arguments, return values). */
export const JsonScalar = builder.scalarType('JSON', {
  description: 'Any JSON value.',
  serialize: (value) => value,
  parseValue: (value) => value,
  parseLiteral: (ast, variables) => valueFromASTUntyped(ast, variables),
});
