import { AppError, BadUserInputError } from '../../errors.js';
import type { TaskCatalog } from '../catalog.js';
import { prepareTask, type EnqueueLimits, type QueueScope } from '../enqueue.js';
import { isStorableText } from '../json.js';
import type { NewTaskRow } from '../sql/insert-tasks.js';
import { uuidv7 } from '../uuid.js';
import { DEPENDENCY_FAILURE_POLICIES, type DependencyFailurePolicy, type EnqueueWorkflowInput } from './types.js';

/** Most steps in one workflow (a 10,000-wide chord and its callback fit). */
export const MAX_WORKFLOW_STEPS = 20_000;
const MAX_REF = 200;
const MAX_NAME = 200;
const MAX_KEY = 255;

/** A step ready to insert: its task row plus its place in the graph (ids made here). */
export interface PreparedStep {
  row: NewTaskRow;
  ref: string;
  /** Parent task ids, in the order of `dependsOn`. */
  dependsOn: string[];
  /** Child task ids. */
  dependents: string[];
  policy: DependencyFailurePolicy;
}

export interface PreparedWorkflow {
  id: string;
  tenant: string;
  name: string | null;
  idempotencyKey: string | null;
  createdBy: string | null;
  steps: PreparedStep[];
}

/**
 * Checks a whole graph before the database sees any of it: every error is BAD_USER_INPUT and
 * names the step (`steps[3] "resize"`) and the field. A cycle, an unknown or duplicate ref, a
 * step depending on itself, or a bad task (whatever prepareTask refuses) stores nothing.
 */
export function prepareWorkflow(catalog: TaskCatalog, input: EnqueueWorkflowInput, limits: EnqueueLimits, scope: QueueScope): PreparedWorkflow {
  if (typeof input !== 'object' || input === null) throw new BadUserInputError('input must be an object', { field: 'input' });
  const name = input.name ?? null;
  if (name !== null && (typeof name !== 'string' || name.length === 0 || name.length > MAX_NAME || !isStorableText(name))) {
    throw new BadUserInputError(`name must be a non-empty string of at most ${MAX_NAME} characters`, { field: 'name' });
  }
  const key = input.idempotencyKey ?? null;
  if (key !== null && (typeof key !== 'string' || key.length === 0 || key.length > MAX_KEY || !isStorableText(key))) {
    throw new BadUserInputError(`idempotencyKey must be a non-empty string of at most ${MAX_KEY} characters`, { field: 'idempotencyKey' });
  }
  const steps = input.steps;
  if (!Array.isArray(steps) || steps.length === 0 || steps.length > MAX_WORKFLOW_STEPS) {
    throw new BadUserInputError(`steps must hold 1 to ${MAX_WORKFLOW_STEPS} steps`, { field: 'steps' });
  }

  const indexByRef = new Map<string, number>();
  steps.forEach((step, i) => {
    const ref = (step as { ref?: unknown } | null)?.ref;
    if (typeof ref !== 'string' || ref.length === 0 || ref.length > MAX_REF || !isStorableText(ref)) {
      throw new BadUserInputError(`steps[${i}]: ref must be a non-empty string of at most ${MAX_REF} characters`, { field: `steps[${i}].ref` });
    }
    if (indexByRef.has(ref)) throw stepError(i, ref, 'ref', `the ref "${ref}" is used by steps[${indexByRef.get(ref)}] too`);
    indexByRef.set(ref, i);
  });

  const prepared: PreparedStep[] = steps.map((step, i) => {
    const ref = step.ref;
    const policy = step.onDependencyFailure ?? 'CANCEL';
    if (!DEPENDENCY_FAILURE_POLICIES.includes(policy)) {
      throw stepError(i, ref, 'onDependencyFailure', `onDependencyFailure must be one of ${DEPENDENCY_FAILURE_POLICIES.join(', ')}`);
    }
    const dependsOn = step.dependsOn ?? [];
    if (!Array.isArray(dependsOn)) throw stepError(i, ref, 'dependsOn', 'dependsOn must be a list of step refs');
    const seen = new Set<string>();
    for (const parent of dependsOn) {
      if (typeof parent !== 'string' || !indexByRef.has(parent)) {
        throw stepError(i, ref, 'dependsOn', `depends on ${JSON.stringify(parent)}, which is no step of this workflow`);
      }
      if (parent === ref) throw stepError(i, ref, 'dependsOn', 'a step cannot depend on itself');
      if (seen.has(parent)) throw stepError(i, ref, 'dependsOn', `names "${parent}" twice`);
      seen.add(parent);
    }
    if (typeof step.task !== 'object' || step.task === null) throw stepError(i, ref, 'task', 'task is required');
    if (step.task.tenant !== undefined && step.task.tenant !== scope.writeTenant) {
      throw stepError(i, ref, 'task.tenant', 'every step belongs to the workflow\'s tenant');
    }
    if (step.task.idempotencyKey !== undefined) {
      throw stepError(i, ref, 'task.idempotencyKey', 'steps take no idempotency key: give the workflow one (idempotencyKey)');
    }
    let row: NewTaskRow;
    try {
      row = prepareTask(catalog, step.task, limits, scope, `steps[${i}].task.`);
    } catch (error) {
      if (!(error instanceof AppError)) throw error;
      throw new BadUserInputError(`steps[${i}] "${ref}": ${error.message}`, { field: error.field, cause: error, details: { step: ref, reason: error.code } });
    }
    return { row, ref, dependsOn: [], dependents: [], policy };
  });
  steps.forEach((step, i) => {
    for (const parent of step.dependsOn ?? []) {
      const p = prepared[indexByRef.get(parent) as number] as PreparedStep;
      const c = prepared[i] as PreparedStep;
      c.dependsOn.push(p.row.id);
      p.dependents.push(c.row.id);
    }
  });
  assertAcyclic(steps.map((s) => (s.dependsOn ?? []).map((r) => indexByRef.get(r) as number)), steps.map((s) => s.ref));
  return { id: uuidv7(), tenant: scope.writeTenant, name, idempotencyKey: key, createdBy: scope.createdBy, steps: prepared };
}

/** Kahn's algorithm: whatever cannot be ordered lies on (or behind) a cycle; the error names one step of it. */
function assertAcyclic(parents: number[][], refs: string[]): void {
  const waiting = parents.map((p) => p.length);
  const children: number[][] = parents.map(() => []);
  parents.forEach((ps, child) => ps.forEach((p) => (children[p] as number[]).push(child)));
  const ready = waiting.flatMap((n, i) => (n === 0 ? [i] : []));
  let ordered = 0;
  while (ready.length > 0) {
    const i = ready.pop() as number;
    ordered += 1;
    for (const c of children[i] as number[]) {
      waiting[c] = (waiting[c] as number) - 1;
      if (waiting[c] === 0) ready.push(c);
    }
  }
  if (ordered === refs.length) return;
  // Walk parents among the unordered steps until one repeats: that one is on a cycle.
  let at = waiting.findIndex((n) => n > 0);
  const visited = new Set<number>();
  while (!visited.has(at)) {
    visited.add(at);
    at = (parents[at] as number[]).find((p) => (waiting[p] as number) > 0) as number;
  }
  throw stepError(at, refs[at] as string, 'dependsOn', 'its dependsOn make a cycle');
}

function stepError(i: number, ref: string, field: string, message: string): BadUserInputError {
  return new BadUserInputError(`steps[${i}] "${ref}": ${message}`, { field: `steps[${i}].${field}`, details: { step: ref } });
}
