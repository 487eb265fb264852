import type { CodegenConfig } from '@graphql-codegen/cli';

/**
 * Typed documents for the tests (and any TypeScript client): the operations in
 * test/**\/*.graphql, checked against the committed schema/schema.graphql, become
 * TypedDocumentNodes in test/generated/graphql.ts. Run `npm run codegen` after changing either.
 */
const config: CodegenConfig = {
  schema: 'schema/schema.graphql',
  documents: ['test/**/*.graphql'],
  ignoreNoDocuments: false,
  generates: {
    'test/generated/': {
      preset: 'client',
      presetConfig: { fragmentMasking: false },
      config: {
        useTypeImports: true,
        // NodeNext: relative imports need their .js extension.
        emitLegacyCommonJSImports: false,
        enumsAsTypes: true,
        strictScalars: true,
        scalars: { DateTime: 'string', JSON: 'unknown' },
        avoidOptionals: { field: true, inputValue: false, object: false, defaultValue: false },
      },
    },
  },
};

export default config;
