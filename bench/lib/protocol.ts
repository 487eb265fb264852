/** The queue systems the harness knows. */
export const SYSTEMS = ['taskwire', 'graphile-worker', 'graphile-worker-batched', 'pg-boss'] as const;
export type SystemName = (typeof SYSTEMS)[number];

/** Scenario keys: a–h from issue 4, i–j from issue 11 (the event log). */
export const SCENARIOS = {
  a: 'drain',
  b: 'latency',
  c: 'single-enqueue',
  d: 'bulk-enqueue',
  e: 'graphql-enqueue',
  f: 'live-result',
  g: 'fan-out',
  h: 'history',
  i: 'event-log',
  j: 'output-stream',
  /** Issue 14: occurrence → task with 1,000 per-second schedules and two scheduler processes. */
  k: 'schedule-fire',
  /** Issue 15: drain with a generous limit vs none (same run); pause → last start. */
  l: 'flow-control',
  /** Issue 17: the drain of (a) by one worker process vs by 4. */
  m: 'drain-processes',
  /** Issue 17: the claim at a 100,000 backlog on a table never analyzed. */
  n: 'claim-probe',
  /** Issue 13: a chord's callback claimable after its last header task; creating a 1,000-step workflow. */
  w: 'workflow-fan-in',
} as const;
export type ScenarioKey = keyof typeof SCENARIOS;
export type ScenarioName = (typeof SCENARIOS)[ScenarioKey];

/** Sizes of every scenario; `--quick` uses smaller ones. */
export interface Sizes {
  drainTasks: number;
  latencyTasks: number;
  latencyGapMs: number;
  singleEnqueues: number;
  producers: number;
  bulkTasks: number;
  httpRequests: number;
  httpClients: number;
  liveTasks: number;
  fanOutSubscribers: number;
  fanOutConnections: number;
  fanOutTasks: number;
  historyRows: number;
  historyDepth: number;
  pageQueries: number;
  /** (i) 1 ms tasks drained while the event log is followed. */
  eventLogTasks: number;
  /** (i) taskEvents subscribers, each on its own graphql-ws connection … */
  eventLogSubscribers: number;
  /** … each subscribed to this many tasks, spread over the drain order. */
  eventLogTasksPerSubscriber: number;
  /** (i) taskEventFeed subscribers, each on its own connection. */
  eventLogFeeds: number;
  /** (j) output chunks the streaming task writes … */
  outputChunks: number;
  /** … at this rate, chunks/s. */
  outputPerSecond: number;
  /** (j) taskEvents(types: OUTPUT) subscribers, each on its own connection. */
  outputSubscribers: number;
  /** (j) demo.output(100, 0) tasks whose log is weighed (and 5× as many math.copysign). */
  outputSizeTasks: number;
  /** (k) schedules of `* * * * * *` … */
  scheduleCount: number;
  /** … fired for this many seconds. */
  scheduleSeconds: number;
  /** (w) header tasks of each chord … */
  fanInWidth: number;
  /** … and chords per repetition. */
  fanInChords: number;
  /** (w) steps of the workflow whose creation is timed. */
  workflowSteps: number;
  /** (n) pending tasks behind the timed claims. */
  claimProbePending: number;
  /** (n) timed claims per batch size and repetition. */
  claimProbeClaims: number;
}

/** One child process's assignment: one system, one scenario, `repeat` repetitions. */
export interface ChildJob {
  system: SystemName;
  scenario: ScenarioName;
  /** URL of the server's maintenance database; the child creates a database per repetition. */
  adminUrl: string;
  /** Migrated template database of this system. */
  template: string;
  repeat: number;
  sizes: Sizes;
  /** The repository root, where the profiles and the server child live. */
  root: string;
  /** When set, taskwire server processes write V8 CPU profiles here (and fan-out a heap snapshot). */
  profileDir?: string;
}

/** One metric measured once per repetition. */
export interface Measurement {
  metric: string;
  unit: string;
  /** One value per repetition. */
  values: number[];
}

export interface ChildResult {
  measurements: Measurement[];
  notes: string[];
}

/** Collects per-repetition values by metric name, keeping first-seen order. */
export class Recorder {
  private readonly byMetric = new Map<string, Measurement>();
  readonly notes: string[] = [];

  add(metric: string, unit: string, value: number): void {
    if (!Number.isFinite(value)) throw new Error(`${metric}: measured ${value}`);
    let m = this.byMetric.get(metric);
    if (!m) {
      m = { metric, unit, values: [] };
      this.byMetric.set(metric, m);
    }
    m.values.push(value);
  }

  result(): ChildResult {
    return { measurements: [...this.byMetric.values()], notes: this.notes };
  }
}
