/**
 * Queue-control changes travel on the jobs channel (JOBS_CHANNEL, which every worker LISTENs
 * to already) as `queue-control:<paused|resumed|limits>:<name>`, so a pause reaches a worker in
 * the time of one notification, without a second listening connection.
 */
export const QUEUE_CONTROL_PREFIX = 'queue-control:';

export type QueueControlChange = 'paused' | 'resumed' | 'limits';

export interface QueueControlNotice {
  change: QueueControlChange;
  queue: string;
}

/** The notice in a jobs-channel payload, or undefined when the payload is something else (a queue to wake, a cancel). */
export function decodeQueueControl(payload: string): QueueControlNotice | undefined {
  if (!payload.startsWith(QUEUE_CONTROL_PREFIX)) return undefined;
  const rest = payload.slice(QUEUE_CONTROL_PREFIX.length);
  const colon = rest.indexOf(':');
  const change = rest.slice(0, colon);
  if (colon < 0 || (change !== 'paused' && change !== 'resumed' && change !== 'limits')) return undefined;
  return { change, queue: rest.slice(colon + 1) };
}
