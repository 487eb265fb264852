import type { GraphQLSchema } from 'graphql';
import { builder } from './builder.js';
import { guardSchema } from './guard.js';
import './types/scalars.js';
import './types/task.js';
import './types/queries.js';
import './types/connection.js';
import './types/mutations.js';
import './types/subscriptions.js';
import './types/task-event.js';
import './types/read-tokens.js';
import './types/viewer.js';
import './types/bulk-action.js';
import './types/schedule.js';
import './types/schedule-operations.js';
import './types/workflow.js';
import './types/queue-control.js';

builder.queryType({});
builder.mutationType({});
builder.subscriptionType({});

/**
 * The taskwire GraphQL schema (printed to schema/schema.graphql by `npm run schema:print`), every
 * root field behind the guard (src/graphql/guard.ts): a root field without a rule fails here.
 */
// Definition order, not alphabetical: TaskStatus keeps state-machine order, fields read as in DESIGN.md.
export const schema: GraphQLSchema = guardSchema(builder.toSchema({ sortSchema: false }));
