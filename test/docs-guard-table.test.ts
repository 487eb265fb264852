import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { GUARD_RULES, ROOT_TYPES, type FieldRule } from '../src/graphql/guard.js';

/** docs/auth.md's table of root-field rules: `Type.field` → [scope, read token], one per field a row names. */
function documentedRules(): Map<string, [string, string]> {
  const rows = new Map<string, [string, string]>();
  const lines = readFileSync('docs/auth.md', 'utf8').split('\n');
  const start = lines.findIndex((line) => line.startsWith('| type | field | scope'));
  for (const line of lines.slice(start + 2)) {
    if (!line.startsWith('|')) break;
    const [type = '', fields = '', scope = '', readToken = ''] = line.split(' | ').map((cell) => cell.replace(/^\| |\s*\|$/g, ''));
    for (const [, field] of fields.matchAll(/`(\w+)`/g)) rows.set(`${type}.${field}`, [scope, readToken]);
  }
  return rows;
}

/** How the table words a rule's need. */
const scopeWords = (rule: FieldRule): string => (rule.needs === 'authenticated' ? 'any credential' : `\`${rule.needs}\``);

describe('docs/auth.md', () => {
  const documented = documentedRules();
  const rules = ROOT_TYPES.flatMap((type) => Object.entries(GUARD_RULES[type]).map(([field, rule]) => [`${type}.${field}`, rule] as const));

  // The table once listed only the task fields: schedules, workflows, queues and bulk actions were missing.
  it.each(rules)('gives %s its rule from src/graphql/guard.ts', (path, rule) => {
    const row = documented.get(path);
    expect(row, `${path} is not in the table`).toBeDefined();
    const [scope, readToken] = row as [string, string];
    expect(scope.startsWith(scopeWords(rule))).toBe(true);
    expect(readToken === 'no').toBe(rule.readToken === undefined);
    if (rule.readToken?.requiredArg) expect(readToken).toContain(`\`${rule.readToken.requiredArg}:\``);
  });

  it('names no root field the guard does not know', () => {
    expect([...documented.keys()].filter((path) => !rules.some(([known]) => known === path))).toEqual([]);
  });
});
