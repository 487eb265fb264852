import type { CodegenConfig } from '@graphql-codegen/cli';

/** What both targets share: NodeNext-friendly imports, string-literal enums, JSON scalars. */
const common = {
  useTypeImports: true,
  // NodeNext: relative imports need their .js extension.
  emitLegacyCommonJSImports: false,
  enumsAsTypes: true,
  strictScalars: true,
  scalars: { DateTime: 'string', JSON: 'unknown' },
  avoidOptionals: { field: true, inputValue: false, object: false, defaultValue: false },
};

/**
 * Typed documents generated from the committed schema/schema.graphql (run `npm run codegen`
 * after changing the schema or an operation):
 * - test/generated/: the operations in test/**\/*.graphql, as TypedDocumentNodes for the tests;
 * - src/client/generated/: the typed client's operations (src/client/operations.graphql and
 *   src/client/schedules.graphql, src/client/bulk-actions.graphql), as
 *   typed document *strings*, so the published client needs no graphql-js at run time.
 */
const config: CodegenConfig = {
  schema: 'schema/schema.graphql',
  ignoreNoDocuments: false,
  generates: {
    'test/generated/': {
      documents: ['test/**/*.graphql'],
      preset: 'client',
      presetConfig: { fragmentMasking: false },
      config: common,
    },
    'src/client/generated/': {
      documents: ['src/client/operations.graphql', 'src/client/schedules.graphql', 'src/client/bulk-actions.graphql', 'src/client/queues.graphql'],
      preset: 'client',
      presetConfig: { fragmentMasking: false, gqlTagName: 'graphql' },
      config: { ...common, documentMode: 'string' },
    },
  },
};

export default config;
