import { describe, expect, it } from 'vitest';
import { useTestServer } from '../helpers/app.js';
import { onlyError } from '../helpers/graphql.js';
import { waitFor } from '../helpers/wait.js';

// Per-task timeoutMs, resultTtlMs and backoff over the API (docs/graphql.md, Enqueueing): what the
// core's EnqueueInput takes, on every input that enqueues (enqueueTask, workflow steps, schedules).

const env = useTestServer({ runner: {} });

const TASK = `id status timeoutMs resultTtlMs backoff { baseMs maxMs factor jitter }
  runAfter finishedAt expiresAt errors { exceptionType message at }`;

interface SeenTask {
  id: string;
  status: string;
  timeoutMs: number | null;
  resultTtlMs: number | null;
  backoff: { baseMs: number; maxMs: number; factor: number; jitter: number };
  runAfter: string | null;
  finishedAt: string | null;
  expiresAt: string | null;
  errors: { exceptionType: string; message: string; at: string }[];
}

async function post(query: string, variables: Record<string, unknown> = {}) {
  return env.server.post({ query, variables });
}

async function enqueue(input: Record<string, unknown>): Promise<SeenTask> {
  const res = await post(`mutation ($input: EnqueueTaskInput!) { enqueueTask(input: $input) { task { ${TASK} } } }`, { input });
  expect(res.errors).toBeUndefined();
  return (res.data as { enqueueTask: { task: SeenTask } }).enqueueTask.task;
}

async function read(id: string): Promise<SeenTask> {
  const res = await post(`query ($id: ID!) { taskResult(id: $id) { ${TASK} } }`, { id });
  expect(res.errors).toBeUndefined();
  return (res.data as { taskResult: SeenTask }).taskResult;
}

function until(id: string, status: string): Promise<SeenTask> {
  return waitFor(async () => {
    const task = await read(id);
    return task.status === status ? task : undefined;
  }, { message: `task ${id} ${status}` });
}

const ms = (text: string | null): number => Date.parse(text as string);

describe('enqueueTask with per-task options', () => {
  it('timeoutMs: a handler running past it is aborted and the attempt fails with a TimeoutError', async () => {
    const task = await enqueue({ name: 'demo.sleep', args: [60_000], timeoutMs: 300 });
    expect(task.timeoutMs).toBe(300);
    const failed = await until(task.id, 'FAILED');
    expect(failed.errors).toHaveLength(1);
    expect(failed.errors[0]).toMatchObject({ exceptionType: 'TimeoutError' });
    expect(failed.errors[0]!.message).toContain('300 ms');
  });

  it('resultTtlMs beyond 2^31 ms: expiresAt is finishedAt plus it', async () => {
    const ttl = 30 * 86_400_000; // 30 days: more than an Int holds
    const task = await enqueue({ name: 'math.copysign', args: [1, -1], resultTtlMs: ttl });
    expect(task.resultTtlMs).toBe(ttl);
    const done = await until(task.id, 'SUCCEEDED');
    expect(ms(done.expiresAt) - ms(done.finishedAt)).toBe(ttl);
  });

  it('backoff: the retry is due baseMs after the failure, as asked', async () => {
    const backoff = { baseMs: 45_000, maxMs: 45_000, factor: 1, jitter: 0 };
    const task = await enqueue({ name: 'demo.fail', args: ['once'], maxAttempts: 2, backoff });
    expect(task.backoff).toEqual(backoff);
    const retrying = await until(task.id, 'RETRYING');
    // run_after is the failure's store time + the delay; the error's time is when the handler threw, a few ms before.
    const delay = ms(retrying.runAfter) - ms(retrying.errors[0]!.at);
    expect(delay).toBeGreaterThanOrEqual(45_000);
    expect(delay).toBeLessThan(46_000);
    await post('mutation ($id: ID!) { cancelTask(id: $id) { id } }', { id: task.id });
  });

  it("backoff settings left out (or null) keep the definition's, then the defaults", async () => {
    // demo.fail is defined with { baseMs: 100, maxMs: 2000 }.
    const task = await enqueue({ name: 'demo.fail', args: ['twice'], maxAttempts: 2, backoff: { factor: 1, jitter: 0, maxMs: null } });
    expect(task.backoff).toEqual({ baseMs: 100, maxMs: 2000, factor: 1, jitter: 0 });
    const failed = await until(task.id, 'FAILED');
    expect(failed.errors).toHaveLength(2);
    expect(ms(failed.errors[1]!.at) - ms(failed.errors[0]!.at)).toBeGreaterThanOrEqual(100);
  });

  it("a baseMs given alone raises the definition's lower maxMs to itself; one given with its maxMs is kept as given", async () => {
    // demo.fail's definition caps at 2 s: { baseMs: 30000 } retried every 2 s, silently.
    const alone = await enqueue({ name: 'demo.fail', args: ['x'], runAfter: new Date(Date.now() + 3_600_000).toISOString(), backoff: { baseMs: 30_000, factor: 1 } });
    expect(alone.backoff).toMatchObject({ baseMs: 30_000, maxMs: 30_000, factor: 1 });
    const beyondDefault = await enqueue({ name: 'math.copysign', args: [1, 1], runAfter: new Date(Date.now() + 3_600_000).toISOString(), backoff: { baseMs: 3_600_000 } });
    expect(beyondDefault.backoff).toMatchObject({ baseMs: 3_600_000, maxMs: 3_600_000 });
    const both = await enqueue({ name: 'demo.fail', args: ['x'], runAfter: new Date(Date.now() + 3_600_000).toISOString(), backoff: { baseMs: 30_000, maxMs: 5_000 } });
    expect(both.backoff).toMatchObject({ baseMs: 30_000, maxMs: 5_000 });
    for (const t of [alone, beyondDefault, both]) await post('mutation ($id: ID!) { cancelTask(id: $id) { id } }', { id: t.id });
  });

  it('a task enqueued without them shows the effective defaults (backoff) and nulls (timeoutMs, resultTtlMs)', async () => {
    const task = await enqueue({ name: 'math.copysign', args: [1, 1] });
    expect(task).toMatchObject({ timeoutMs: null, resultTtlMs: null, backoff: { baseMs: 1000, maxMs: 600_000, factor: 2, jitter: 0.25 } });
  });

  it('the same idempotency key returns the first task: the options of the second are ignored', async () => {
    const first = await enqueue({ name: 'math.copysign', args: [1, 1], idempotencyKey: 'opts-once', timeoutMs: 5000, resultTtlMs: 60_000 });
    const second = await enqueue({ name: 'math.copysign', args: [1, 1], idempotencyKey: 'opts-once', timeoutMs: 9000, backoff: { baseMs: 5 } });
    expect(second.id).toBe(first.id);
    expect(second).toMatchObject({ timeoutMs: 5000, resultTtlMs: 60_000, backoff: { baseMs: 1000 } });
  });

  it.each([
    [{ timeoutMs: 0 }, 'input.timeoutMs', 'from 1 to 2147483647'],
    [{ timeoutMs: 2 ** 31 }, 'input.timeoutMs', 'Int cannot represent'],
    [{ resultTtlMs: -1 }, 'input.resultTtlMs', 'from 0 to 31557600000000'],
    [{ resultTtlMs: 1.5 }, 'input.resultTtlMs', 'must be an integer'],
    [{ resultTtlMs: 4e13 }, 'input.resultTtlMs', 'from 0 to 31557600000000'],
    [{ backoff: { factor: 0.5 } }, 'input.backoff.factor', 'from 1 to 100'],
    [{ backoff: { jitter: 2 } }, 'input.backoff.jitter', 'from 0 to 1'],
    [{ backoff: { baseMs: -1 } }, 'input.backoff.baseMs', 'from 0 to 31536000000'],
    [{ backoff: { maxMs: 1e12 } }, 'input.backoff.maxMs', 'from 0 to 31536000000'],
    [{ backoff: { factor: 'x' } }, 'input.backoff.factor', 'Float cannot represent'],
  ])('%j is BAD_USER_INPUT naming %s, and stores nothing', async (options, field, why) => {
    const before = await env.server.countTasks();
    const res = await post('mutation ($input: EnqueueTaskInput!) { enqueueTask(input: $input) { task { id } } }', {
      input: { name: 'math.copysign', args: [1, 1], ...options },
    });
    const error = onlyError(res);
    expect(error.extensions).toMatchObject({ code: 'BAD_USER_INPUT', field });
    expect(error.message).toContain(field.split('.').at(-1));
    expect(error.message).toContain(why);
    expect(res.status).toBeLessThan(500);
    expect(await env.server.countTasks()).toBe(before);
  });
});

describe('other inputs that enqueue', () => {
  it("a workflow step's task takes them; a bad one names the step's field", async () => {
    const steps = [{ ref: 'a', task: { name: 'math.copysign', args: [1, -1], timeoutMs: 700, resultTtlMs: 3e9, backoff: { baseMs: 250, jitter: null } } }];
    const query = `mutation ($input: EnqueueWorkflowInput!) { enqueueWorkflow(input: $input) { workflow { steps { task { ${TASK} } } } } }`;
    const res = await post(query, { input: { steps } });
    expect(res.errors).toBeUndefined();
    const [step] = (res.data as { enqueueWorkflow: { workflow: { steps: { task: SeenTask }[] } } }).enqueueWorkflow.workflow.steps;
    expect(step!.task).toMatchObject({ timeoutMs: 700, resultTtlMs: 3e9, backoff: { baseMs: 250, maxMs: 600_000, factor: 2, jitter: 0.25 } });
    const done = await until(step!.task.id, 'SUCCEEDED');
    expect(ms(done.expiresAt) - ms(done.finishedAt)).toBe(3e9);

    const bad = await post(query, { input: { steps: [{ ref: 'a', task: { name: 'math.copysign', args: [1, 1], backoff: { factor: 101 } } }] } });
    expect(onlyError(bad).extensions).toMatchObject({ code: 'BAD_USER_INPUT', field: 'input.steps[0].task.backoff.factor' });
  });

  it("a schedule's task takes them: the schedule shows them and its tasks get them", async () => {
    const task = { name: 'math.copysign', args: [1, 1], timeoutMs: 1234, resultTtlMs: 5e9, backoff: { baseMs: 30_000, factor: 1 } };
    const res = await post(
      'mutation ($input: UpsertScheduleInput!) { upsertSchedule(input: $input) { key timeoutMs resultTtlMs backoff { baseMs maxMs factor jitter } } }',
      { input: { key: 'opts', cron: '0 0 1 1 *', paused: true, task } },
    );
    expect(res.errors).toBeUndefined();
    const backoff = { baseMs: 30_000, maxMs: 600_000, factor: 1, jitter: 0.25 };
    expect(res.data).toEqual({ upsertSchedule: { key: 'opts', timeoutMs: 1234, resultTtlMs: 5e9, backoff } });
    const triggered = await post(`mutation { triggerSchedule(key: "opts") { ${TASK} } }`);
    expect(triggered.errors).toBeUndefined();
    expect((triggered.data as { triggerSchedule: SeenTask }).triggerSchedule).toMatchObject({ timeoutMs: 1234, resultTtlMs: 5e9, backoff });

    const bad = await post('mutation ($input: UpsertScheduleInput!) { upsertSchedule(input: $input) { key } }', {
      input: { key: 'opts-bad', cron: '0 0 1 1 *', task: { name: 'math.copysign', args: [1, 1], timeoutMs: -5 } },
    });
    expect(onlyError(bad).extensions).toMatchObject({ code: 'BAD_USER_INPUT', field: 'input.task.timeoutMs' });
  });
});
