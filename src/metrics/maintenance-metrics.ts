import { Counter, Gauge, type Registry } from 'prom-client';
import type { ObservableRounds, Round } from '../queue/maintenance/rounds.js';

/**
 * The background services' families: the rescuer, the cleaner, the scheduler and the bulk-action
 * runner each run in rounds, and until now said nothing unless something went wrong (a warn line per
 * failed round). An alert on `taskwire_maintenance_last_success_timestamp_seconds` catches a service
 * that stopped getting through (its database refusing it, its loop gone); the counters say what the
 * rounds did. Each process counts its own rounds: these services run in every taskwire process (serve,
 * worker, dev) and share the work through locks, so the cluster's figure is the sum over processes.
 */
export function createMaintenanceMetrics(registry: Registry): { observe(services: readonly ObservableRounds[]): () => void } {
  const registers = [registry];
  const rounds = new Counter({
    name: 'taskwire_maintenance_rounds_total',
    help: 'Rounds of this process\'s background services (rescuer, cleaner, scheduler, bulk-actions), by result: ok, or failed (its warn line says why).',
    labelNames: ['service', 'result'],
    registers,
  });
  const lastSuccess = new Gauge({
    name: 'taskwire_maintenance_last_success_timestamp_seconds',
    help: 'When a round of this process\'s background service last ended without failing, in seconds since the epoch.',
    labelNames: ['service'],
    registers,
  });
  const deleted = new Counter({
    name: 'taskwire_tasks_deleted_total',
    help: 'Finished tasks past their retention (expiresAt) that this process\'s cleaner deleted.',
    registers,
  });
  const occurrences = new Counter({
    name: 'taskwire_schedule_occurrences_total',
    help: 'Schedule occurrences this process\'s scheduler handled, by result: fired (a task enqueued), skipped (overlap SKIP: the previous task unfinished), duplicate (refused: its task existed already).',
    labelNames: ['result'],
    registers,
  });
  const bulkTasks = new Counter({
    name: 'taskwire_bulk_action_tasks_total',
    help: 'Tasks this process\'s bulk-action runner changed, counted after each pass (a batch of every running action): cancelled (a running one: its cancellation asked for) or retried; tasks it found finished already, or waiting already, are not counted.',
    registers,
  });

  function count(round: Round): void {
    rounds.inc({ service: round.service, result: round.ok ? 'ok' : 'failed' });
    if (round.ok) lastSuccess.set({ service: round.service }, Date.now() / 1000);
    if (round.deleted) deleted.inc(round.deleted);
    if (round.fired) occurrences.inc({ result: 'fired' }, round.fired);
    if (round.skipped) occurrences.inc({ result: 'skipped' }, round.skipped);
    if (round.duplicates) occurrences.inc({ result: 'duplicate' }, round.duplicates);
    if (round.changed) bulkTasks.inc(round.changed);
  }

  return {
    observe(services) {
      const detach = services.map((service) => service.onRound(count));
      return () => {
        for (const d of detach) d();
      };
    },
  };
}
