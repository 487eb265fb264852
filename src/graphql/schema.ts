import type { GraphQLSchema } from 'graphql';
import { builder } from './builder.js';
import './types/scalars.js';
import './types/task.js';
import './types/queries.js';
import './types/connection.js';
import './types/mutations.js';
import './types/subscriptions.js';
import './types/task-event.js';

builder.queryType({});
builder.mutationType({});
builder.subscriptionType({});

/** The taskwire GraphQL schema (printed to schema/schema.graphql by `npm run schema:print`). */
// Definition order, not alphabetical: TaskStatus keeps state-machine order, fields read as in DESIGN.md.
export const schema: GraphQLSchema = builder.toSchema({ sortSchema: false });
