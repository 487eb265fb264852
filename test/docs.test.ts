import { readFileSync, readdirSync } from 'node:fs';
import { buildSchema, parse, validate } from 'graphql';
import { describe, expect, it } from 'vitest';

const schema = buildSchema(readFileSync('schema/schema.graphql', 'utf8'));
const documents = ['README.md', ...readdirSync('docs').filter((f) => f.endsWith('.md')).map((f) => `docs/${f}`)];

describe('documentation', () => {
  // Examples people copy must work against the committed contract, so they cannot rot silently.
  it.each(documents)('every GraphQL example in %s is valid against schema/schema.graphql', (file) => {
    const blocks = [...readFileSync(file, 'utf8').matchAll(/```graphql\n([\s\S]*?)```/g)].map((m) => m[1] ?? '');
    for (const block of blocks) {
      const errors = validate(schema, parse(block)).map((e) => e.message);
      expect({ block: block.slice(0, 60), errors }).toEqual({ block: block.slice(0, 60), errors: [] });
    }
  });
});
