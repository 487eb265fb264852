/** Counters of one process's subscription traffic. Benchmarks and tests read them; nothing resets them. */
export interface TaskEventStats {
  /** NOTIFY payloads received on the events channel. */
  notifications: number;
  /** Changes announced in them (`id:version:status` each). */
  events: number;
  /** Changes that needed no read: nobody here watches the task, or a read already returned that version. */
  skippedEvents: number;
  /** SELECTs run for subscriptions: change reads, first-state (snapshot) reads and resyncs. */
  readQueries: number;
  /** Of readQueries, those that read changes announced by notifications (or resyncs). */
  changeReadQueries: number;
  /** Of readQueries, those that read first states of new subscriptions. */
  snapshotQueries: number;
  /** Task rows all those queries returned. */
  taskReads: number;
  /** Task states handed to subscribers (one per subscriber per state). */
  delivered: number;
  /** Subscriptions open now. */
  subscriptions: number;
  /** Times the LISTEN connection came back after a loss; each re-reads every watched task. */
  reconnects: number;
  /**
   * 1 while the hub LISTENs on the events channel, 0 while nobody has watched for the idle grace
   * (healthy: notifications then cost this server and its PostgreSQL backend nothing).
   */
  readonly listening: number;
  /** LISTENs made on demand: with the first subscriber, and again after each idle UNLISTEN (reconnects not counted). */
  readonly listens: number;
}
