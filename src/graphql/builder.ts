import SchemaBuilder from '@pothos/core';
import type { GraphQLContext } from './context.js';

/**
 * The one Pothos builder. Fields are non-null unless they say `nullable: true`, as in the
 * contract (DESIGN.md); arguments and input fields are optional unless `required: true`.
 */
export const builder = new SchemaBuilder<{
  Context: GraphQLContext;
  DefaultFieldNullability: false;
  Scalars: {
    ID: { Input: string; Output: string };
    DateTime: { Input: Date; Output: Date };
    JSON: { Input: unknown; Output: unknown };
  };
}>({ defaultFieldNullability: false });
