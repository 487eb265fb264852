import {
  ListQueuesDocument,
  PauseQueueDocument,
  ResumeQueueDocument,
  SetQueueLimitsDocument,
  type ClientQueueFragment,
  type QueueLimitsInput,
} from './generated/graphql.js';
import type { HttpTransport } from './http.js';

/** A queue as the client reads it: its pause and limits (global) and the caller's counts in it. */
export type QueueInfo = ClientQueueFragment;
export type { QueueLimitsInput };

/** The flow-control methods of TaskwireClient (docs/flow-control.md). */
export interface QueueClient {
  /** The queues the caller's tasks are in (an admin: also every queue with settings). Needs tasks:read. */
  queues(): Promise<QueueInfo[]>;
  /** Pauses a queue on every worker (durable). Needs queues:admin. */
  pauseQueue(name: string): Promise<QueueInfo>;
  /** Resumes it. Needs queues:admin. */
  resumeQueue(name: string): Promise<QueueInfo>;
  /** Sets limits; a field given as null clears it, one left out keeps it. Needs queues:admin. */
  setQueueLimits(name: string, limits: QueueLimitsInput): Promise<QueueInfo>;
}

/** The flow-control methods, over the client's HTTP transport. */
export function createQueueMethods({ http, lifetime }: { http: HttpTransport; lifetime: AbortSignal }): QueueClient {
  return {
    async queues() {
      return (await http.request(ListQueuesDocument, {}, lifetime)).queues;
    },
    async pauseQueue(name) {
      return (await http.request(PauseQueueDocument, { name }, lifetime)).pauseQueue;
    },
    async resumeQueue(name) {
      return (await http.request(ResumeQueueDocument, { name }, lifetime)).resumeQueue;
    },
    async setQueueLimits(name, limits) {
      return (await http.request(SetQueueLimitsDocument, { name, limits }, lifetime)).setQueueLimits;
    },
  };
}
