import { M } from './metrics.js';
import { fmt, type RatioLine, type Results, type TargetLine } from './report.js';
import type { Sizes, SystemName } from './protocol.js';
import { FLOW_METRICS } from '../scenarios/flow-control.js';

const PEERS: SystemName[] = ['graphile-worker', 'graphile-worker-batched', 'pg-boss'];

function div(a: number | undefined, b: number | undefined): number | undefined {
  return a === undefined || b === undefined || b === 0 ? undefined : a / b;
}

/** enqueueTask over HTTP with an API key ÷ without authentication (throughput: below 1 is a cost). */
function authEnqueueRatio(r: Results): number | undefined {
  return div(r.median('taskwire', 'graphql-enqueue', M.gqlEnqueueRateAuth), r.median('taskwire', 'graphql-enqueue', M.gqlEnqueueRate));
}

/**
 * Drain with the history ÷ on an empty table: the median of (h)'s per-repetition ratios, both drains
 * run side by side (results from before they were, or --only h without them: (h)'s drain ÷ (a)'s).
 */
function historyDrainRatio(r: Results): number | undefined {
  return r.median('taskwire', 'history', M.historyDrainRatio) ?? div(r.median('taskwire', 'history', M.historyDrain), r.median('taskwire', 'drain', M.drainRate));
}

/** Fan-out p99 with API keys ÷ without authentication (latency: above 1 is a cost). */
function authFanOutRatio(r: Results): number | undefined {
  return div(r.median('taskwire', 'fan-out', M.fanOutP99Auth), r.median('taskwire', 'fan-out', M.fanOutP99));
}

/** taskwire against each peer, by medians: throughput as taskwire ÷ peer, latency as peer ÷ taskwire. */
export function ratios(r: Results): RatioLine[] {
  const lines: RatioLine[] = [];
  const push = (label: string, value: number | undefined, unit: RatioLine['unit'] = '×'): void => {
    if (value !== undefined) lines.push({ label, value, unit });
  };
  for (const [scenario, metric] of [['drain', M.drainRate], ['single-enqueue', M.singleRate], ['single-enqueue', M.smallBatchRate], ['bulk-enqueue', M.bulkRate]] as const) {
    for (const peer of PEERS) push(`${metric}: taskwire ÷ ${peer}`, div(r.median('taskwire', scenario, metric), r.median(peer, scenario, metric)));
  }
  for (const metric of [M.startP50, M.startP99, M.finishedP50]) {
    for (const peer of PEERS) push(`${metric}: ${peer} ÷ taskwire (times lower)`, div(r.median(peer, 'latency', metric), r.median('taskwire', 'latency', metric)));
  }
  push('drain rate with history ÷ on an empty table (same repetition of h)', historyDrainRatio(r));
  push('enqueueTask ÷ {__typename} ceiling', div(r.median('taskwire', 'graphql-enqueue', M.gqlEnqueueRate), r.median('taskwire', 'graphql-enqueue', M.gqlCeilingRate)));
  // The same with the lean client (bench/lib/lean-http.ts): what the server's own cost makes of it.
  push('enqueueTask ÷ {__typename} ceiling, lean client', div(r.median('taskwire', 'graphql-enqueue', M.gqlEnqueueRateLean), r.median('taskwire', 'graphql-enqueue', M.gqlCeilingRateLean)));
  // Issue 12: what authentication costs, both sides measured in the same run (alternating order).
  push('enqueueTask over HTTP: auth on ÷ auth off', authEnqueueRatio(r));
  push('fan-out p99: auth on ÷ auth off', authFanOutRatio(r));
  const live = r.median('taskwire', 'live-result', M.liveP50);
  const finished = r.median('taskwire', 'latency', M.finishedP50);
  if (live !== undefined && finished !== undefined) push('subscriber sees SUCCEEDED p50 − (b) enqueue→finished p50', live - finished, 'ms');
  return lines;
}

/**
 * The issues' targets, each met / missed / not measured. Issue 17's come first and replace issue 4's
 * and 11's thresholds for the same measurements (drain, HTTP enqueue); the targets it does not set
 * stay under their own issue. `sizes` puts the run's sizes in the labels.
 */
export function targets(r: Results, runSeconds: number | undefined, sizes: Sizes): TargetLine[] {
  const t: TargetLine[] = [];
  const atLeast = (label: string, target: string, actual: number | undefined, min: number, show: (v: number) => string): void => {
    t.push({ label, target, actual: actual === undefined ? 'not measured' : show(actual), met: actual === undefined ? undefined : actual >= min });
  };
  const atMost = (label: string, target: string, actual: number | undefined, max: number, show: (v: number) => string): void => {
    t.push({ label, target, actual: actual === undefined ? 'not measured' : show(actual), met: actual === undefined ? undefined : actual <= max });
  };
  const x = (v: number): string => `${v.toFixed(2)}×`;
  const ms = (v: number): string => `${v.toFixed(2)} ms`;
  const tw = (scenario: Parameters<Results['median']>[1], metric: string): number | undefined => r.median('taskwire', scenario, metric);

  const n = (v: number): string => v.toLocaleString('en-US');
  const pct = (v: number): string => `${(v * 100).toFixed(1)}%`;
  const gw = (scenario: Parameters<Results['median']>[1], metric: string): number | undefined => r.median('graphile-worker', scenario, metric);

  // Issue 17: the second performance round, every ratio from this one run.
  const drain = tw('drain', M.drainRate);
  atLeast(`issue 17: drain ${n(sizes.drainTasks)} (event log on) vs graphile-worker (batched)`, '≥ 1.1×', div(drain, r.median('graphile-worker-batched', 'drain', M.drainRate)), 1.1, x);
  atLeast(`issue 17: drain ${n(sizes.drainTasks)} (event log on) vs pg-boss`, '≥ 5×', div(drain, r.median('pg-boss', 'drain', M.drainRate)), 5, x);
  atLeast('issue 17: drain with 4 worker processes vs 1 (median of per-repetition ratios)', '≥ 1.5×', tw('drain-processes', M.drainProcessesRatio), 1.5, x);
  atLeast(`issue 17: bulk enqueue ${n(sizes.bulkTasks)} vs graphile-worker`, '≥ 1.5×', div(tw('bulk-enqueue', M.bulkRate), gw('bulk-enqueue', M.bulkRate)), 1.5, x);
  atLeast(`issue 17: single enqueue, ${sizes.producers} producers, vs graphile-worker`, '≥ 3×', div(tw('single-enqueue', M.singleRate), gw('single-enqueue', M.singleRate)), 3, x);
  atMost('issue 17: enqueue→start p50 (idle worker), taskwire ÷ graphile-worker', '≤ 1.00×', div(tw('latency', M.startP50), gw('latency', M.startP50)), 1, x);
  atMost('issue 17: enqueue→start p99 (idle worker), taskwire ÷ graphile-worker', '≤ 1.00×', div(tw('latency', M.startP99), gw('latency', M.startP99)), 1, x);
  atLeast('issue 17: GraphQL enqueueTask over HTTP', '≥ 2,500/s', tw('graphql-enqueue', M.gqlEnqueueRate), 2500, (v) => `${fmt(v)}/s`);
  atLeast('issue 17: GraphQL enqueueTask vs {__typename} ceiling', '≥ 50%', div(tw('graphql-enqueue', M.gqlEnqueueRate), tw('graphql-enqueue', M.gqlCeilingRate)), 0.5, pct);
  const subscribers = `${n(sizes.fanOutSubscribers)} subscribers`;
  atMost(`issue 17: fan-out to ${subscribers}: every subscriber sees the change p99`, '≤ 250 ms', tw('fan-out', M.fanOutP99), 250, ms);
  atMost(`issue 17: fan-out to ${subscribers}: server memory per subscriber`, '≤ 10 KB', tw('fan-out', M.rssPerSubscriber), 10 * 1024, (v) => `${(v / 1024).toFixed(2)} KB`);
  atMost(`issue 17: fan-out to ${subscribers}: DB reads per change per server`, '1', tw('fan-out', M.readsPerChange), 1, (v) => v.toFixed(2));
  // The target is the median claim (p50); the p99 is shown beside it.
  const claimP99 = tw('claim-probe', M.claimP99);
  atMost(
    `issue 17: claim of 10 at ${n(sizes.claimProbePending)} pending, no statistics, p50`,
    '≤ 1 ms',
    tw('claim-probe', M.claimP50),
    1,
    (v) => `${ms(v)}${claimP99 === undefined ? '' : ` (p99 ${ms(claimP99)})`}`,
  );
  atLeast(`issue 17: drain with ${n(sizes.historyRows)} finished tasks in history vs empty table (median of per-repetition ratios)`, '≥ 90%', historyDrainRatio(r), 0.9, pct);

  // Issue 4 (first round): the absolute latency floor and what issue 17 does not restate.
  atMost('issue 4: enqueue→start p50', '≤ 2.0 ms', tw('latency', M.startP50), 2, ms);
  atMost('issue 4: enqueue→start p99', '≤ 5 ms', tw('latency', M.startP99), 5, ms);
  const live = tw('live-result', M.liveP50);
  const finished = tw('latency', M.finishedP50);
  atMost('issue 4: finished→subscriber p50 (f p50 − b finished p50)', '≤ 2 ms more', live !== undefined && finished !== undefined ? live - finished : undefined, 2, ms);
  // Over GraphQL when the server ran, else through the core API (the label says which).
  const viaGraphql = tw('history', M.pageFirstP50) !== undefined;
  const pages = viaGraphql ? [tw('history', M.pageFirstP50), tw('history', M.pageDeepP50)] : [tw('history', M.corePageFirstP50), tw('history', M.corePageDeepP50)];
  const worstPage = pages.every((p) => p !== undefined) ? Math.max(...(pages as number[])) : undefined;
  atMost(`issue 4: ${viaGraphql ? 'tasks' : 'listTasks'}(first: 50) p50, worst of first page and deep`, '≤ 5 ms', worstPage, 5, ms);
  // Issue 11: the event log reaches its followers quickly (its drain thresholds are issue 17's above).
  atMost('event log under load + restart: commit → taskEvents p99', '≤ 50 ms', tw('event-log', M.taskEventsP99), 50, ms);
  atMost('event log under load + restart: commit → taskEventFeed p99', '≤ 50 ms', tw('event-log', M.feedP99), 50, ms);
  atMost('event log: events lost or repeated', '0', tw('event-log', M.lostOrRepeated), 0, (v) => v.toFixed(0));
  atMost('output at 2,000 chunks/s: write → subscriber p99', '≤ 100 ms', tw('output-stream', M.outputP99), 100, ms);
  // Issue 12: authentication (API key) costs at most 10 % of each, auth off measured in the same run.
  atLeast('auth on (API key): enqueueTask over HTTP vs auth off', '≥ 90%', authEnqueueRatio(r), 0.9, pct);
  atMost('auth on (API key): fan-out p99 vs auth off', '≤ 110%', authFanOutRatio(r), 1.1, pct);
  // Issue 14: 1,000 schedules due each second, two scheduler processes.
  atMost('schedule fire latency (occurrence → task inserted) p99', '≤ 1 s', tw('schedule-fire', M.scheduleFireP99), 1000, ms);
  atMost('schedule occurrences missed or fired twice', '0', tw('schedule-fire', M.scheduleMissedOrRepeated), 0, (v) => v.toFixed(0));
  // Issue 13: a 10,000-wide chord's callback is claimable within 50 ms of its last header task (released
  // by that task's statement: claimable from its commit; the claim by a worker is reported beside it).
  atMost('chord fan-in: last header task → callback released p99', '≤ 50 ms', tw('workflow-fan-in', M.fanInReleaseP99), 50, ms);
  // Issue 15: a generous limit costs the drain at most 20 % (both drains in the same run); a pause stops new starts within 100 ms.
  atLeast('drain with a generous queue limit vs none', '≥ 80%', tw('flow-control', FLOW_METRICS.limitedRatio), 0.8, pct);
  atMost('pauseQueue commit → last task start p99', '≤ 100 ms', tw('flow-control', FLOW_METRICS.pauseLastStartP99), 100, ms);
  atMost('full `npm run bench` wall time', '< 15 min', runSeconds, 15 * 60, (v) => `${(v / 60).toFixed(1)} min`);
  return t;
}
