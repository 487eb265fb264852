import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { chain, createClient, type TaskwireClient, type Workflow } from '../../src/client/index.js';
import { uuidv7 } from '../../src/queue/uuid.js';
import type { Runner } from '../../src/worker/runner.js';
import { FAST_RUNNER, startTestServer, type TestServer } from '../helpers/graphql.js';
import { waitFor } from '../helpers/wait.js';
import { dependsOnCell } from '../../src/cli/workflow-command.js';
import { runCli, startCli } from './run-cli.js';

let server: TestServer;
let client: TaskwireClient;
let env: Record<string, string>;
const runners: Runner[] = [];

beforeAll(async () => {
  // No runner at first: each test starts one for its own queue when it wants the steps to run.
  server = await startTestServer();
  client = createClient({ url: server.url });
  env = { TASKWIRE_URL: server.url };
});

afterAll(async () => {
  await Promise.all(runners.map((r) => r.stop()));
  await client?.close();
  await server?.close();
});

async function runQueue(queue: string): Promise<void> {
  const runner = server.deps.createRunner({ ...FAST_RUNNER, queues: [queue] });
  runners.push(runner);
  await runner.start();
}

/** a → (b, c) → d, every step demo.echo on `queue`. */
const diamond = (queue: string, name = 'cli diamond') => {
  const task = { name: 'demo.echo', args: [1], queue };
  return { name, steps: [{ ref: 'a', task }, { ref: 'b', task, dependsOn: ['a'] }, { ref: 'c', task, dependsOn: ['a'] }, { ref: 'd', task, dependsOn: ['b', 'c'] }] };
};

/** The STEP and STATUS columns of the view's rows. */
const rows = (stdout: string): string[][] =>
  stdout
    .trim()
    .split('\n')
    .slice(2)
    .map((line) => line.split(/ {2,}/).slice(0, 2));

describe('taskwire workflow', () => {
  it('shows the workflow and one row per step with its state, dependencies and task', async () => {
    const w = await client.enqueueWorkflow(diamond('cli-wf-idle'));
    const result = await runCli(['workflow', w.id], env);
    expect(result.code).toBe(0);
    const [head, header] = result.stdout.split('\n');
    expect(head).toBe(`workflow ${w.id} (cli diamond): RUNNING · version ${w.version} · 4 steps, 0 ended, 0 succeeded`);
    expect(header?.split(/ {2,}/)).toEqual(['STEP', 'STATUS', 'TASK', 'DEPENDS ON', 'TASK ID', 'DURATION']);
    expect(rows(result.stdout)).toEqual([['a', 'PENDING'], ['b', 'BLOCKED'], ['c', 'BLOCKED'], ['d', 'BLOCKED']]);
    expect(result.stdout).toMatch(new RegExp(`^d +BLOCKED +demo\\.echo +b,c +${w.steps[3]?.task.id}`, 'm'));

    const json = await runCli(['workflow', w.id, '--json'], env);
    expect((JSON.parse(json.stdout) as Workflow).steps.map((s) => s.ref)).toEqual(['a', 'b', 'c', 'd']);
  });

  it('keeps a wide fan-in readable: the first parents and a count of the rest (--json has them all)', () => {
    expect(dependsOnCell([])).toBe('-');
    expect(dependsOnCell(['a', 'b', 'c'])).toBe('a,b,c');
    const parents = Array.from({ length: 200 }, (_, i) => `w${i}`);
    expect(dependsOnCell(parents)).toBe('w0,w1,w2,… (+197)');
  });

  it('--watch prints each change until the workflow is finished, then the final view (exit 0)', async () => {
    const w = await client.enqueueWorkflow(diamond('cli-wf-watch'));
    const watch = startCli(['workflow', w.id, '--watch'], env);
    // The first state: one line per step.
    await watch.waitForStderr(/^v\d+ +d +BLOCKED$/m);
    await runQueue('cli-wf-watch');
    const result = await watch.done;
    expect(result.code).toBe(0);
    const lines = result.stderr.trim().split('\n');
    expect(lines.slice(0, 4).map((l) => l.split(/ +/).slice(1))).toEqual([['a', 'PENDING'], ['b', 'BLOCKED'], ['c', 'BLOCKED'], ['d', 'BLOCKED']]);
    expect(lines.at(-1)).toMatch(/^v\d+ +workflow RUNNING → SUCCEEDED$/);
    expect(lines).toContainEqual(expect.stringMatching(/^v\d+ +d +(BLOCKED|PENDING|RUNNING) → SUCCEEDED$/));
    const versions = lines.map((l) => Number(/^v(\d+)/.exec(l)?.[1]));
    expect(versions).toEqual([...versions].sort((x, y) => x - y));
    expect(result.stdout).toMatch(new RegExp(`^workflow ${w.id} \\(cli diamond\\): SUCCEEDED`));
    expect(rows(result.stdout).map(([, status]) => status)).toEqual(['SUCCEEDED', 'SUCCEEDED', 'SUCCEEDED', 'SUCCEEDED']);
  });

  it('--watch --json prints the workflow once per version, versions increasing', async () => {
    const w = await client.enqueueWorkflow(chain({ name: 'demo.echo', args: [1], queue: 'cli-wf-json' }, { name: 'demo.echo', args: [2], queue: 'cli-wf-json' }));
    const watch = startCli(['workflow', w.id, '--watch', '--json'], env);
    await waitFor(() => watch.stdout.includes('\n'), { message: 'the first JSON line' });
    await runQueue('cli-wf-json');
    const result = await watch.done;
    expect(result.code).toBe(0);
    const states = result.stdout.trim().split('\n').map((l) => JSON.parse(l) as Workflow);
    expect(states[0]?.status).toBe('RUNNING');
    expect(states.at(-1)?.status).toBe('SUCCEEDED');
    for (let i = 1; i < states.length; i++) expect(states[i]?.version).toBeGreaterThan(states[i - 1]?.version as number);
  });

  it('exits 1 for a FAILED or CANCELLED workflow and for an unknown id, 2 for a malformed one', async () => {
    const failed = await client.enqueueWorkflow(chain({ name: 'demo.fail', args: ['no'], queue: 'cli-wf-fail' }, { name: 'demo.echo', queue: 'cli-wf-fail' }));
    const watch = startCli(['workflow', failed.id, '--watch'], env);
    await watch.waitForStderr(/^v\d+ +1 +BLOCKED$/m);
    await runQueue('cli-wf-fail');
    const watched = await watch.done;
    expect(watched.code).toBe(1);
    expect(watched.stderr).toMatch(/workflow RUNNING → FAILED$/m);
    expect(rows(watched.stdout)).toEqual([['0', 'FAILED'], ['1', 'CANCELLED']]);

    const cancelled = await client.enqueueWorkflow(diamond('cli-wf-idle'));
    await client.cancelWorkflow(cancelled.id);
    expect((await runCli(['workflow', cancelled.id], env)).code).toBe(1);

    const unknown = await runCli(['workflow', uuidv7()], env);
    expect(unknown.code).toBe(1);
    expect(unknown.stderr).toMatch(/^taskwire: NOT_FOUND: no workflow /);
    const malformed = await runCli(['workflow', 'not-an-id'], env);
    expect(malformed.code).toBe(2);
    expect(malformed.stderr).toMatch(/BAD_USER_INPUT/);
  });

  it('has help, and --timeout only with --watch', async () => {
    const help = await runCli(['workflow', '--help']);
    expect(help.code).toBe(0);
    expect(help.stdout).toMatch(/^Usage: taskwire workflow ID \[--watch\]/);
    expect((await runCli(['--help'])).stdout).toMatch(/^ {2}workflow ID +show a workflow's steps/m);
    const misuse = await runCli(['workflow', uuidv7(), '--timeout', '5'], env);
    expect(misuse.code).toBe(2);
  });
});
