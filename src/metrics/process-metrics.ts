import { readdirSync } from 'node:fs';
import { monitorEventLoopDelay } from 'node:perf_hooks';
import type { MetricsRegistry } from './registry.js';

/**
 * The usual process basics (names as prom-client's defaults, so existing dashboards work):
 * CPU, memory, open file descriptors, start time, event-loop delay. Returns a function that
 * stops the event-loop sampler.
 */
export function registerProcessMetrics(registry: MetricsRegistry): () => void {
  const startSeconds = Math.round((Date.now() - performance.now()) / 1000);
  const loop = monitorEventLoopDelay({ resolution: 20 });
  loop.enable();

  registry.collected('process_cpu_user_seconds_total', 'counter', 'User CPU time spent, in seconds.', () => [
    { value: process.cpuUsage().user / 1e6 },
  ]);
  registry.collected('process_cpu_system_seconds_total', 'counter', 'System CPU time spent, in seconds.', () => [
    { value: process.cpuUsage().system / 1e6 },
  ]);
  registry.collected('process_resident_memory_bytes', 'gauge', 'Resident memory size, in bytes.', () => [
    { value: process.memoryUsage.rss() },
  ]);
  registry.collected('process_start_time_seconds', 'gauge', 'Start time of the process since the Unix epoch, in seconds.', () => [
    { value: startSeconds },
  ]);
  registry.collected('process_open_fds', 'gauge', 'Open file descriptors (Linux only; absent elsewhere).', () => {
    try {
      return [{ value: readdirSync('/proc/self/fd').length }];
    } catch {
      return [];
    }
  });
  registry.collected('nodejs_heap_size_used_bytes', 'gauge', 'V8 heap in use, in bytes.', () => [
    { value: process.memoryUsage().heapUsed },
  ]);
  registry.collected('nodejs_heap_size_total_bytes', 'gauge', 'V8 heap allocated, in bytes.', () => [
    { value: process.memoryUsage().heapTotal },
  ]);
  registry.collected(
    'nodejs_eventloop_delay_p99_seconds',
    'gauge',
    '99th percentile of the event-loop delay since the previous scrape, in seconds (sampled every 20 ms).',
    () => {
      // Reset per scrape: a stall shows in the scrape after it, not averaged into the whole uptime.
      const p99 = loop.count > 0 ? loop.percentile(99) / 1e9 : 0;
      loop.reset();
      return [{ value: p99 }];
    },
  );
  registry.collected('nodejs_version_info', 'gauge', 'Node.js version of the process.', () => [
    { labels: { version: process.version }, value: 1 },
  ]);
  return () => loop.disable();
}
