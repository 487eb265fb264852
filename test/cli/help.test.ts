import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { COMMAND_HELP, USAGE } from '../../src/cli/help.js';

/** Every check `taskwire doctor` can print, as the sources name them (`check: 'privileges'`). */
const CHECKS = [...new Set(['src/db/doctor.ts', 'src/cli/doctor.ts'].flatMap((file) => [...readFileSync(file, 'utf8').matchAll(/check: '(\w+)'/g)].map((m) => m[1] as string)))];

describe('taskwire doctor --help', () => {
  it('knows the checks', () => {
    expect(CHECKS).toEqual(expect.arrayContaining(['database', 'migrations', 'privileges', 'listen', 'clock', 'auth', 'tasks']));
  });

  // `privileges` became a real check, and neither the help nor docs/cli.md said so.
  it.each(CHECKS)('lists the %s check, as docs/cli.md does', (check) => {
    expect(COMMAND_HELP.doctor).toMatch(new RegExp(`^  ${check} +\\S`, 'm'));
    expect(readFileSync('docs/cli.md', 'utf8')).toContain(`| \`${check}\` |`);
  });
});

describe('taskwire --help', () => {
  it('says that a worker runs the maintenance loops too', () => {
    expect(USAGE).toMatch(/^ {2}worker +a worker and the maintenance loops/m);
    expect(COMMAND_HELP.worker).toContain('the bulk-action runner and the scheduler');
  });
});
