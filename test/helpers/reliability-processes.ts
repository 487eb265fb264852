import { readFile } from 'node:fs/promises';
import { setTimeout as delay } from 'node:timers/promises';
import { createClient, type Client } from 'graphql-ws';
import WebSocket from 'ws';
import type { Executor } from '../../src/db/client.js';
// For a server that must come back on the same port.
export { freePort } from '../../src/db/embedded.js';
import { spawnTaskwire, type TaskwireProcess } from './taskwire-process.js';

/** The operations the process tests send as plain strings (they run against the CLI, not codegen). */
export const ENQUEUE = 'mutation ($input: EnqueueTaskInput!) { enqueueTask(input: $input) { task { id } } }';
export const WATCH = 'subscription ($id: ID!) { taskStatusChanged(id: $id) { id status version attempts } }';
export type Change = { taskStatusChanged: { id: string; status: string; version: number; attempts: number } };

/**
 * Every visible change of a task (a version bump) as a row of `task_audit`, written by a
 * trigger in the same transaction as the change: what a task went through, including
 * changes no NOTIFY reached anyone for. Heartbeats (no version bump) are not audited.
 */
export const TASK_AUDIT_SQL = `
CREATE TABLE IF NOT EXISTS task_audit (
  task_id uuid NOT NULL, old_status task_status NOT NULL, new_status task_status NOT NULL,
  old_version int NOT NULL, new_version int NOT NULL, old_return jsonb, new_return jsonb,
  old_locked_by text, new_locked_by text, at timestamptz NOT NULL DEFAULT clock_timestamp());
CREATE OR REPLACE FUNCTION audit_task_change() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  INSERT INTO task_audit (task_id, old_status, new_status, old_version, new_version, old_return, new_return, old_locked_by, new_locked_by)
  VALUES (NEW.id, OLD.status, NEW.status, OLD.version, NEW.version, OLD.return_value_json::jsonb, NEW.return_value_json::jsonb, OLD.locked_by, NEW.locked_by);
  RETURN NULL;
END $$;
DROP TRIGGER IF EXISTS tasks_audit ON tasks;
CREATE TRIGGER tasks_audit AFTER UPDATE ON tasks FOR EACH ROW
  WHEN (OLD.version IS DISTINCT FROM NEW.version OR OLD.status IS DISTINCT FROM NEW.status
        OR OLD.return_value_json::text IS DISTINCT FROM NEW.return_value_json::text)
  EXECUTE FUNCTION audit_task_change();`;

/** Every lease written to a RUNNING task (claims and heartbeats), with the time it was written. */
export const LEASE_LOG_SQL = `
CREATE TABLE IF NOT EXISTS lease_log (task_id uuid NOT NULL, attempts int NOT NULL, lease_expires_at timestamptz, at timestamptz NOT NULL DEFAULT clock_timestamp());
CREATE OR REPLACE FUNCTION log_lease() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  INSERT INTO lease_log (task_id, attempts, lease_expires_at) VALUES (NEW.id, NEW.attempts, NEW.lease_expires_at);
  RETURN NULL;
END $$;
DROP TRIGGER IF EXISTS tasks_lease_log ON tasks;
CREATE TRIGGER tasks_lease_log AFTER UPDATE OF lease_expires_at ON tasks FOR EACH ROW
  WHEN (NEW.status = 'RUNNING') EXECUTE FUNCTION log_lease();`;

/**
 * Checks the audit for the exactly-once guarantees: each task reached SUCCEEDED at most
 * once, nothing changed a finished task afterwards (no overwritten result; these tests never
 * call retryTask), and every change bumped the version by exactly one. Counts the offending
 * rows of each kind (all zero when sound).
 */
export async function auditViolations(exec: Executor): Promise<{ twiceSucceeded: number; changedAfterFinish: number; versionJumps: number }> {
  const [row] = await exec`
    SELECT
      (SELECT count(*)::int FROM (SELECT task_id FROM task_audit WHERE new_status = 'SUCCEEDED' GROUP BY task_id HAVING count(*) > 1) x) AS twice_succeeded,
      (SELECT count(*)::int FROM task_audit WHERE old_status IN ('SUCCEEDED', 'FAILED', 'CANCELLED')) AS changed_after_finish,
      (SELECT count(*)::int FROM task_audit WHERE new_version <> old_version + 1) AS version_jumps`;
  return {
    twiceSucceeded: Number(row?.twiceSucceeded),
    changedAfterFinish: Number(row?.changedAfterFinish),
    versionJumps: Number(row?.versionJumps),
  };
}

/** Resident set size of a process, in MiB (Linux /proc). */
export async function rssMiB(pid: number): Promise<number> {
  const status = await readFile(`/proc/${pid}/status`, 'utf8');
  const kb = Number(/VmRSS:\s+(\d+)/.exec(status)?.[1]);
  return Math.round((kb / 1024) * 10) / 10;
}

/** The URL a `taskwire serve|dev` process logs once it listens. */
export async function serverUrl(p: TaskwireProcess, timeoutMs = 30_000): Promise<string> {
  const line = await p.waitForLog((l) => typeof l.url === 'string', timeoutMs);
  return line.url as string;
}

/** The id of the worker a `taskwire worker|dev` process runs. */
export async function workerIdOf(p: TaskwireProcess, timeoutMs = 30_000): Promise<string> {
  const line = await p.waitForLog((l) => l.msg === 'worker started', timeoutMs);
  return line.workerId as string;
}

const stderrTails = new WeakMap<TaskwireProcess, string[]>();

/** `taskwire <command>` with quiet-but-useful logs; the caller stops it (or kills it). */
export function spawnCli(command: 'serve' | 'worker' | 'dev', env: Record<string, string>): TaskwireProcess {
  const p = spawnTaskwire([command], { LOG_LEVEL: 'info', HOST: '127.0.0.1', ...env });
  // What is not a JSON log line (a crash's stack, say), kept for failure messages.
  const tail: string[] = [];
  stderrTails.set(p, tail);
  p.child.stderr?.on('data', (chunk: Buffer) => {
    for (const line of chunk.toString().split('\n')) if (line.trim() && !line.startsWith('{')) tail.push(line);
    tail.splice(0, Math.max(0, tail.length - 40));
  });
  p.child.once('exit', (code, signal) => tail.push(`[exited: code ${code}, signal ${signal}]`));
  return p;
}

/** How a CLI process is doing, for failure messages: alive or how it ended, and its last non-JSON stderr. */
export function describeProcess(p: TaskwireProcess): string {
  const logs = p.logs.slice(-12).map((l) => `  ${JSON.stringify({ msg: l.msg, level: l.level, time: l.time, err: (l.err as { message?: string } | undefined)?.message, running: l.running })}`);
  return [`${command(p)} pid ${p.child.pid}: ${alive(p) ? 'alive' : 'ended'}`, ...logs, ...(stderrTails.get(p) ?? [])].join('\n');
}

function command(p: TaskwireProcess): string {
  return p.child.spawnargs.slice(2).join(' ');
}

/** SIGKILL, then the exit. */
export async function killHard(p: TaskwireProcess): Promise<void> {
  if (p.child.exitCode !== null || p.child.signalCode !== null) return;
  const exited = new Promise<void>((resolve) => p.child.once('exit', () => resolve()));
  p.child.kill('SIGKILL');
  await exited;
}

/** Whether the process is still running (did not crash). */
export function alive(p: { child: { exitCode: number | null; signalCode: NodeJS.Signals | null } }): boolean {
  return p.child.exitCode === null && p.child.signalCode === null;
}

export interface RetryingClient {
  client: Client;
  /** Times the socket was (re)connected and acknowledged. */
  connections(): number;
}

/**
 * A graphql-ws client that reconnects on its own: every close (a killed server, a refused
 * connection) is retried, quickly (50 ms doubling to 1 s), up to `retryAttempts`. Active
 * subscriptions are sent again on the new socket by graphql-ws itself.
 */
export function retryingClient(wsUrl: string, retryAttempts = 60): RetryingClient {
  let connections = 0;
  const client = createClient({
    url: wsUrl,
    webSocketImpl: WebSocket,
    lazy: true,
    retryAttempts,
    shouldRetry: () => true,
    retryWait: (retries) => delay(Math.min(1000, 50 * 2 ** retries)),
    on: { connected: () => void (connections += 1) },
  });
  return { client, connections: () => connections };
}

export interface Watched<T> {
  values: T[];
  /** Settles with 'complete', or rejects with what ended the subscription otherwise. */
  done: Promise<'complete'>;
}

/** Subscribes with `client` and collects every `data` value. */
export function watch<T>(client: Client, query: string, variables: Record<string, unknown>): Watched<T> {
  const values: T[] = [];
  const done = new Promise<'complete'>((resolve, reject) => {
    client.subscribe<T>(
      { query, variables },
      {
        next: (result) => {
          if (result.errors) reject(new Error(JSON.stringify(result.errors)));
          else if (result.data) values.push(result.data as T);
        },
        error: (error) => reject(error instanceof Error ? error : new Error(JSON.stringify(error))),
        complete: () => resolve('complete'),
      },
    );
  });
  done.catch(() => undefined);
  return { values, done };
}

/** POSTs a GraphQL operation; returns the HTTP status and the parsed body. */
export async function gql<T = Record<string, unknown>>(
  url: string,
  query: string,
  variables: Record<string, unknown> = {},
): Promise<{ status: number; data?: T; errors?: { message: string; extensions?: Record<string, unknown> }[] }> {
  const res = await fetch(url, {
    method: 'POST',
    headers: { 'content-type': 'application/json', accept: 'application/graphql-response+json' },
    body: JSON.stringify({ query, variables }),
  });
  const body = (await res.json()) as { data?: T; errors?: { message: string; extensions?: Record<string, unknown> }[] };
  return { status: res.status, ...body };
}
