export { createQueueControl } from './queue-control.js';
export { QUEUE_CONTROL_PREFIX, decodeQueueControl, type QueueControlNotice, type QueueControlChange } from './channel.js';
export { claimLimitedTasks, MAX_KEYS_PER_CLAIM, type LimitedClaim, type LimitedClaimParams } from './sql/claim-limited-tasks.js';
export { readHeldQueues } from './sql/queue-settings.js';
export { comesFirst, readQueueHeads, type QueueHead } from './sql/queue-heads.js';
export { WAIT_REASONS, type QueueControl, type QueueInfo, type QueueLimitsInput, type QueueSettings, type RateLimit, type StatsRead, type WaitReason, type WaitingTask } from './types.js';
