import type { Backoff } from './task.js';

/** The result of checking a task's arguments: ok, or the first failing path and why. */
export type ArgumentsCheck = { ok: true } | { ok: false; path: string; message: string };

/**
 * What the queue needs to know about a task name to accept an enqueue: it exists, its
 * arguments fit, and its defaults. The worker's registry implements it; the queue core
 * does not know how handlers run.
 */
export interface TaskSpec {
  name: string;
  queue?: string;
  priority?: number;
  maxAttempts?: number;
  timeoutMs?: number;
  resultTtlMs?: number;
  backoff?: Partial<Backoff>;
  checkArguments(args: unknown[], kwargs: Record<string, unknown>): ArgumentsCheck;
}

export interface TaskCatalog {
  get(name: string): TaskSpec | undefined;
  names(): string[];
}
