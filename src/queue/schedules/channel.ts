/**
 * NOTIFY channel that wakes schedulers when a schedule's next_run_at may have come earlier
 * (an upsert, a resume): the payload is the schedule id, and schedulers only re-read the earliest.
 */
export const SCHEDULES_CHANNEL = 'taskwire_schedules';
