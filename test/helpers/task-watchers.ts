import { createClient, type Client } from 'graphql-ws';
import WebSocket from 'ws';

const TERMINAL = new Set(['SUCCEEDED', 'FAILED', 'CANCELLED']);
const WATCH_ONE = 'subscription ($id: ID!) { taskStatusChanged(id: $id) { status version } }';

/** A subscription to many tasks' changes: the terminal state of each task it saw. */
export interface StreamWatch {
  /** Task id → terminal status (or terminal event type) seen. */
  terminal: Map<string, string>;
  /** Terminal states seen for a task that had one already. */
  twice: number;
  /** Set when the stream errored or completed (a many-task stream never should). */
  failure?: unknown;
}

/** One taskStatusChanged(id:) stream: the versions it delivered, its last status and how it ended. */
export interface TaskWatch {
  id: string;
  versions: number[];
  last?: string;
  end?: 'complete' | 'error';
}

type Data = Record<string, Record<string, string> | undefined>;

export interface TaskWatchers {
  /** Subscribes with `query` on a connection of its own; `pick` names the task and its state (or event type) in each value. */
  follow(url: string, query: string, pick: (data: Data) => { id: string; state: string }): StreamWatch;
  /** One taskStatusChanged(id:) per id, all on one connection. */
  watchEach(url: string, ids: readonly string[]): TaskWatch[];
  /** Closes every connection opened so far. */
  dispose(): Promise<void>;
}

/** graphql-ws subscribers against taskwire servers (http URLs of /graphql), without retries: a lost socket shows. */
export function createTaskWatchers(): TaskWatchers {
  const clients: Client[] = [];
  const open = (url: string): Client => {
    const c = createClient({ url: url.replace(/^http/, 'ws'), webSocketImpl: WebSocket, retryAttempts: 0 });
    clients.push(c);
    return c;
  };
  return {
    follow(url, query, pick) {
      const seen: StreamWatch = { terminal: new Map(), twice: 0 };
      open(url).subscribe<Data>(
        { query },
        {
          next: (r) => {
            if (r.errors) seen.failure = r.errors;
            if (!r.data) return;
            const { id, state } = pick(r.data);
            if (!TERMINAL.has(state)) return;
            if (seen.terminal.has(id)) seen.twice += 1;
            seen.terminal.set(id, state);
          },
          error: (error) => void (seen.failure = error ?? 'error'),
          complete: () => void (seen.failure ??= 'completed'),
        },
      );
      return seen;
    },
    watchEach(url, ids) {
      const c = open(url);
      return ids.map((id) => {
        const w: TaskWatch = { id, versions: [] };
        c.subscribe<{ taskStatusChanged: { status: string; version: number } }>(
          { query: WATCH_ONE, variables: { id } },
          {
            next: (r) => {
              if (!r.data) return void (w.end = 'error');
              w.versions.push(r.data.taskStatusChanged.version);
              w.last = r.data.taskStatusChanged.status;
            },
            error: () => void (w.end = 'error'),
            complete: () => void (w.end ??= 'complete'),
          },
        );
        return w;
      });
    },
    async dispose() {
      await Promise.all(clients.splice(0).map((c) => c.dispose()));
    },
  };
}
