import { ConnectionError, requestError } from './errors.js';
import { mutationById } from './mutation-answer.js';
import type { AnswerOptions } from './task-state.js';
import {
  CancelWorkflowDocument,
  CancelWorkflowStateDocument,
  EnqueueWorkflowDocument,
  GetWorkflowDocument,
  WatchWorkflowDocument,
  type ClientWorkflowFragment,
  type ClientWorkflowStateFragment,
  type DependencyFailurePolicy,
  type EnqueueWorkflowInput,
  type WorkflowStatus,
  type WorkflowStepInput,
} from './generated/graphql.js';
import type { HttpTransport } from './http.js';
import { backoffMs, delay, untilTryAgain, type RetryOptions, type WsTransport } from './ws.js';

/** A workflow as the client reads it: its steps with their tasks (a step's state is its task's status). */
export type Workflow = ClientWorkflowFragment;
export type WorkflowStep = Workflow['steps'][number];
/** A workflow whose steps' tasks are TaskState (no payload): `cancelWorkflow(id, { payload: false })`. */
export type WorkflowState = ClientWorkflowStateFragment;
export type { DependencyFailurePolicy, EnqueueWorkflowInput, WorkflowStatus, WorkflowStepInput };

export interface WatchWorkflowOptions {
  signal?: AbortSignal;
}

/** The workflow methods of TaskwireClient (docs/workflows.md). */
export interface WorkflowClient {
  /**
   * Stores the whole graph in one statement, or nothing: a cycle, an unknown or duplicate ref or
   * a bad step is RequestError `BAD_USER_INPUT` whose `field` names the step. Build `input` by
   * hand or with `chain` / `group` / `chord`.
   */
  enqueueWorkflow(input: EnqueueWorkflowInput): Promise<Workflow>;
  /** The workflow, or null when there is no such workflow. */
  workflow(id: string): Promise<Workflow | null>;
  /**
   * Cancels what has not finished; the workflow becomes CANCELLED. Unknown id: RequestError `NOT_FOUND`.
   * Needs tasks:cancel; its steps' payloads need tasks:read too (else `{ payload: false }`: AnswerOptions).
   */
  cancelWorkflow(id: string, options: AnswerOptions & { payload: false }): Promise<WorkflowState>;
  cancelWorkflow(id: string, options?: AnswerOptions & { payload?: true | undefined }): Promise<Workflow>;
  cancelWorkflow(id: string, options?: AnswerOptions): Promise<Workflow | WorkflowState>;
  /**
   * The workflow's states (`workflowChanged` over graphql-ws): the current one first, then each
   * newer version, in order and none twice, ending after it is finished (SUCCEEDED, FAILED or
   * CANCELLED). A dropped socket or a server restart resubscribes and goes on from the newest
   * version seen (intermediate versions may be skipped, never repeated). Unknown id: `NOT_FOUND`.
   */
  watchWorkflow(id: string, options?: WatchWorkflowOptions): AsyncGenerator<Workflow, void, undefined>;
}

export interface WorkflowClientParts {
  http: HttpTransport;
  ws: WsTransport;
  retry: RetryOptions;
  /** Aborted when the client closes. */
  lifetime: AbortSignal;
}

/** The workflow methods, over the client's transports. */
export function createWorkflowMethods({ http, ws, retry, lifetime }: WorkflowClientParts): WorkflowClient {
  const withLifetime = (signal?: AbortSignal): AbortSignal => AbortSignal.any(signal ? [signal, lifetime] : [lifetime]);

  async function* watchWorkflow(id: string, options: WatchWorkflowOptions = {}): AsyncGenerator<Workflow, void, undefined> {
    const signal = withLifetime(options.signal);
    let last = 0;
    let fruitless = 0;
    for (;;) {
      let progressed = false;
      let finished = false;
      // A server that is stopping, or whose database is away, refuses it (SHUTTING_DOWN,
      // DATABASE_UNAVAILABLE): untilTryAgain ends it then, and it is made again as after an early end.
      for await (const result of untilTryAgain(ws.subscribe(WatchWorkflowDocument, { id }, signal))) {
        if (result.errors && result.errors.length > 0) throw requestError(result.errors);
        const workflow = result.data?.workflowChanged;
        if (!workflow) continue;
        finished = workflow.status !== 'RUNNING';
        if (workflow.version <= last) continue;
        last = workflow.version;
        progressed = true;
        yield workflow;
      }
      if (finished) return;
      // Ended before the workflow did: the server is going away. Each new subscription starts
      // with the current state, so nothing is lost; give up only when that keeps happening.
      fruitless = progressed ? 0 : fruitless + 1;
      if (fruitless > retry.attempts) {
        throw new ConnectionError('CONNECTION_FAILED', `The server kept ending the watch of workflow ${id} before it finished`);
      }
      await delay(backoffMs(fruitless, retry), signal);
    }
  }

  return {
    async enqueueWorkflow(input) {
      return (await http.request(EnqueueWorkflowDocument, { input }, lifetime)).enqueueWorkflow.workflow;
    },
    async workflow(id) {
      return (await http.request(GetWorkflowDocument, { id }, lifetime)).workflow;
    },
    cancelWorkflow: mutationById(http, lifetime, 'cancelWorkflow', 'cancelWorkflow', { full: CancelWorkflowDocument, state: CancelWorkflowStateDocument }) as WorkflowClient['cancelWorkflow'],
    watchWorkflow,
  };
}
