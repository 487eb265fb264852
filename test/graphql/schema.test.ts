import { execFile } from 'node:child_process';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { promisify } from 'node:util';
import { describe, expect, it } from 'vitest';
import { helperScriptArgs } from '../helpers/spawned-code.js';

const run = promisify(execFile);
const root = path.resolve(import.meta.dirname, '../..');

/** Exit code and output of a command run from the project root. */
async function exec(file: string, args: string[]): Promise<{ code: number; output: string }> {
  try {
    const { stdout, stderr } = await run(file, args, { cwd: root });
    return { code: 0, output: stdout + stderr };
  } catch (error) {
    const e = error as { code: number; stdout: string; stderr: string };
    return { code: e.code, output: e.stdout + e.stderr };
  }
}

// The schema is printed in a child process: the Pothos schema is built with the CJS build of
// graphql, which vitest's ESM resolution of `graphql` would not accept as the same realm. The
// run's compiled copy of the script (spawned-code.ts), as the other spawned processes: through
// tsx each print took a second or two of CPU more, loading the schema's modules.
const printSchema = (args: string[]) => exec(process.execPath, [...helperScriptArgs(path.join(root, 'src/graphql/print-schema.ts')), ...args]);

describe('schema/schema.graphql', () => {
  it('is what the Pothos schema prints (npm run schema:print after changing the schema)', async () => {
    const { code, output } = await printSchema(['--check']);
    expect(output).toContain('up to date');
    expect(code).toBe(0);
  });

  it('--check exits 1 on drift', async () => {
    const dir = await mkdtemp(path.join(tmpdir(), 'taskwire-schema-'));
    try {
      const file = path.join(dir, 'schema.graphql');
      const committed = await readFile(path.join(root, 'schema/schema.graphql'), 'utf8');
      await writeFile(file, committed.replace('taskResult(id: ID!): Task', 'taskResult(id: ID!): Task!'));
      const { code, output } = await printSchema(['--check', '--file', file]);
      expect(output).toContain('differs');
      expect(code).toBe(1);
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });

  it('keeps the contract names of DESIGN.md', async () => {
    const sdl = await readFile(path.join(root, 'schema/schema.graphql'), 'utf8');
    for (const line of [
      'scalar DateTime',
      'scalar JSON',
      'type Task implements Node',
      'node(id: ID!): Node',
      'taskResult(id: ID!): Task',
      'tasks(first: Int, after: String, last: Int, before: String, filter: TaskFilter): TaskConnection!',
      'queueStats: [QueueStats!]!',
      'enqueueTask(input: EnqueueTaskInput!): EnqueueTaskPayload!',
      'cancelTask(id: ID!): Task!',
      'retryTask(id: ID!): Task!',
      'taskStatusChanged(id: ID, filter: TaskFilter): Task!',
      // Part 2 §C workflows
      'workflow(id: ID!): Workflow',
      'enqueueWorkflow(input: EnqueueWorkflowInput!): EnqueueWorkflowPayload!',
      'cancelWorkflow(id: ID!): Workflow!',
      'workflowChanged(id: ID!): Workflow!',
      'dependsOn: [Task!]!',
      // §D schedules (the key-addressed fields gained an optional tenant: an admin's reach to another tenant's schedule)
      'schedules(first: Int, after: String): ScheduleConnection!',
      'schedule(key: String!, tenant: String): Schedule',
      'upsertSchedule(input: UpsertScheduleInput!): Schedule!',
      'pauseSchedule(key: String!, tenant: String): Schedule!',
      'resumeSchedule(key: String!, tenant: String): Schedule!',
      'deleteSchedule(key: String!, tenant: String): Boolean!',
      'triggerSchedule(key: String!, tenant: String): Task!',
      'upcoming(count: Int): [DateTime!]!',
      'runs(first: Int, after: String): TaskConnection!',
      'scheduledFor: DateTime',
      // §E flow control
      'queues: [Queue!]!',
      'bulkAction(id: ID!): BulkAction',
      'pauseQueue(name: String!): Queue!',
      'resumeQueue(name: String!): Queue!',
      'setQueueLimits(name: String!, limits: QueueLimitsInput!): Queue!',
      'cancelTasks(filter: TaskFilter!): BulkAction!',
      'retryTasks(filter: TaskFilter!): BulkAction!',
      'bulkActionChanged(id: ID!): BulkAction!',
      'waitReason: WaitReason',
      'concurrencyKey: String',
    ]) {
      expect(sdl).toContain(line);
    }
    expect(sdl).toMatch(/enum TaskStatus \{\s+BLOCKED\s+PENDING\s+RUNNING\s+RETRYING\s+SUCCEEDED\s+FAILED\s+CANCELLED\s+\}/);
  });

  it('test/generated matches the operations and the schema (npm run codegen)', async () => {
    const { code, output } = await exec(process.execPath, ['node_modules/@graphql-codegen/cli/cjs/bin.js', '--config', 'codegen.ts', '--check']);
    expect(output).not.toContain('error');
    expect(code).toBe(0);
  });
});
