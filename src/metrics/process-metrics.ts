import { collectDefaultMetrics, Registry } from 'prom-client';

let shared: Registry | undefined;

/**
 * prom-client's default metrics (CPU, memory, file descriptors, start time, heap, event-loop
 * lag, GC, Node.js version) in a registry of their own, not prom-client's global one. Made once
 * per process and shared by every app in it: the figures describe the process, and their
 * samplers (an event-loop delay histogram, a GC observer) cannot be stopped, so one set per
 * app would pile up in a process that builds many (the tests).
 */
export function processMetricsRegistry(): Registry {
  if (!shared) {
    shared = new Registry();
    collectDefaultMetrics({ register: shared });
  }
  return shared;
}
