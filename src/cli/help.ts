/** `taskwire --help` and `taskwire <command> --help`. */

const CLIENT_OPTIONS = `  --url URL               the server's GraphQL endpoint (default: TASKWIRE_URL, else
                          http://127.0.0.1:4000/graphql)
  --json                  machine-readable output on stdout; an error as one JSON object,
                          {"error": {"code", "message", "field"}}, on stderr
  -h, --help              this help`;

export const USAGE = `taskwire — background tasks with results you can watch

Usage: taskwire <command> [options]        (taskwire <command> --help for details; --version)

Processes (they open the database):
  dev                     everything in one process: database (embedded unless DATABASE_URL),
                          migrations, GraphQL server and a worker (what \`npm start\` runs)
  serve                   the GraphQL server and the maintenance loops, no worker
  worker                  a worker and the maintenance loops, no GraphQL server
                          [--concurrency N] [--queues a,b]
  migrate                 apply database migrations and exit
  doctor                  check the database (reachable, migrated, privileges, LISTEN/NOTIFY,
                          clock) and the configuration (auth, TASK_MODULES), one line each
                          [--role serve|dev|worker] [--json]
  keys create             make an API key (printed once)  --tenant T --scopes a,b [--expires-in 30d]
  keys list               every API key: id, tenant, scopes, name, created, expires, revoked
  keys revoke ID          revoke an API key (requests with it fail from then on)

Client commands (they talk to a running server over GraphQL, --url or TASKWIRE_URL):
  enqueue NAME            enqueue a task  [--args JSON] [--kwargs JSON] [--wait] …
  status ID               show a task  [--watch: every transition, live]
  logs ID                 print a task's output  [--follow]
  feed                    every task's events, live, in commit order  [--after CURSOR] [--queue Q] …
  tasks                   list tasks, newest first  [--status S,…] [--queue Q] [--name N] [--workflow ID] [--limit N]
  cancel ID               cancel a task
  cancel --filter JSON    cancel every task matching now, following the bulk action to its end
  retry ID                run a failed or cancelled task again
  retry --filter JSON     retry every task matching now (each once), following it to its end
  run-now ID              make a delayed, snoozed or backing-off task due now
  stats                   task counts per queue
  workflow ID             show a workflow's steps and their states  [--watch: live until it ends]
  schedules list          cron schedules: tenant, key, cron, time zone, task, next and last run, last task
  schedules show KEY      one schedule, its next occurrences and latest tasks  [--tenant T: another tenant's]
  schedules upsert KEY    create or update one  --cron "0 3 * * *" --task NAME [--args JSON] [--timezone TZ] …
  schedules pause|resume|delete|trigger KEY
  queues                  queues: paused or active, limits, counts  (docs/flow-control.md)
  queues pause|resume NAME
  queues limits NAME      --concurrency N --rate MAX/MS --per-key N (none clears one) | --clear

Exit codes: 0 ok or task succeeded · 1 task failed/cancelled, not found, refused, or a doctor check failed ·
2 usage or configuration error · 3 server unreachable.
Configuration of the processes comes from the environment; see README.md.`;

export const COMMAND_HELP: Record<string, string> = {
  dev: `Usage: taskwire dev

Runs everything in one process: an embedded PostgreSQL (unless DATABASE_URL is set), the
migrations, the GraphQL server on HOST:PORT and a worker (RUN_WORKER=false: no worker).
What \`npm start\` runs. Stops gracefully on Ctrl-C / SIGTERM.`,
  serve: `Usage: taskwire serve

Runs the GraphQL server (and the maintenance loops) without a worker, on HOST:PORT.`,
  worker: `Usage: taskwire worker [--concurrency N] [--queues a,b]

Runs a worker without the GraphQL server, and the maintenance loops beside it: the rescuer, the
cleaner, the bulk-action runner and the scheduler (SCHEDULER_ENABLED); /metrics, /healthz and
/readyz on METRICS_PORT when it is set.
  --concurrency N         tasks run at once (default WORKER_CONCURRENCY, 10)
  --queues a,b            claim only from these queues (default WORKER_QUEUES: all)`,
  migrate: `Usage: taskwire migrate

Applies the database migrations and exits.`,
  doctor: `Usage: taskwire doctor [--role serve|dev|worker] [--json]

Checks what a deployment needs, one line each (ok, WARN or FAIL, and what to do):
  database                PostgreSQL (14 or later) answers at DATABASE_URL
  migrations              every migration applied; names the pending ones
  privileges              the database role may apply the pending migrations, or read and write
                          taskwire's tables and call its functions; names the grants it lacks
  listen                  a NOTIFY reaches a LISTEN (over DATABASE_LISTEN_URL when set)
  clock                   this process's clock against the database's (WARN over 1 s, FAIL over 10 s)
  auth                    AUTH_MODE against HOST (off is allowed on a loopback HOST only); with
                          AUTH_MODE=on, WARN when JWT_JWKS_URL answers no key set within 3 s,
                          or METRICS_TOKEN is unset (/metrics would answer 403 to everyone)
  tasks                   with TASK_MODULES set: its modules load (the task names they register),
                          or why serve, worker and dev would not start
Without DATABASE_URL it checks the embedded PostgreSQL under DATA_DIR (the one running, else it
starts it for the checks). Exit code 0 when nothing failed (warnings allowed), 1 otherwise.
  --role ROLE             what this host runs: serve or dev (default: checked as for a server),
                          or worker (serves no GraphQL: neither the AUTH_MODE/HOST rule nor the
                          JWKS is checked, METRICS_TOKEN only when METRICS_PORT is set)
  --json                  {"ok", "role", "checks": [{"check", "status", "message"}], "skipped"} on stdout`,
  keys: `Usage: taskwire keys create --tenant T --scopes a,b [--name N] [--expires-in 30d] [--json]
       taskwire keys list [--json]
       taskwire keys revoke ID [--json]

API keys for AUTH_MODE=on (docs/auth.md), written straight to the database (DATABASE_URL, else the
embedded PostgreSQL under DATA_DIR: the running one when there is one).
  create                  prints the key alone on stdout, once: only its hash is kept. Send it as
                          \`Authorization: Bearer <key>\`.
    --tenant T            the tenant whose tasks it sees and creates
    --scopes a,b          tasks:read, tasks:enqueue, tasks:enqueue:<name glob>, tasks:cancel,
                          tasks:retry, schedules:write, queues:admin, admin (every tenant)
    --name N              a label for people
    --expires-in D        a lifetime: 45s, 90m, 12h, 30d or 2w (default: never expires)
  list                    id, tenant, scopes, name, created, expires, revoked
  revoke ID               requests with the key fail from the next one on; open subscriptions end
                          within seconds. ID as \`keys list\` shows it, or without dashes as the key
                          carries it (tw_<ID>_…). Revoking twice is fine; an unknown ID exits 1.
  --json                  machine-readable output on stdout

Example:
  KEY=$(taskwire keys create --tenant acme --scopes tasks:read,tasks:enqueue --name ci --expires-in 90d)`,
  enqueue: `Usage: taskwire enqueue NAME [options]
       taskwire enqueue --from-jsonl FILE|- [--batch N] [--start-line N] [--json] [--url URL]

Enqueues the task NAME and prints its id (with --wait: its return value).
  --args JSON             positional arguments, a JSON array (default [])
  --kwargs JSON           keyword arguments, a JSON object (default {})
  --queue Q               queue (default: the task definition's, else "default")
  --priority P            -100..100, higher runs first (default 0)
  --max-attempts N        1..1000 attempts (default: the definition's, else 1)
  --run-after ISO         not before this time, e.g. 2030-01-01T09:00:00Z
  --idempotency-key K     the same key again returns the first task
  --concurrency-key K     whose turn it shares under the queue's per-key limit (docs/flow-control.md)
  --timeout-ms MS         each attempt's time limit, 1..2147483647 ms (default: the definition's);
                          past it the handler is aborted with a TimeoutError (not --timeout below)
  --result-ttl-ms MS      keep the finished task this long, 0..31557600000000 ms (default: the
                          definition's, else the server's RESULT_TTL_MS)
  --backoff JSON          retry spacing, e.g. '{"baseMs": 30000, "factor": 1}': baseMs, maxMs (ms,
                          up to a year), factor (1..100), jitter (0..1); unset: the definition's
  --wait                  follow the task (progress on stderr) and print its return value;
                          exit 1 with its errors if it fails or is cancelled
  --timeout SECONDS       with --wait: give up after this long (exit 1; the task runs on)
  --from-jsonl FILE|-     many tasks, one JSON object a line ({"name": …, "args": […], and any of
                          the options above as enqueueTask names them: kwargs, queue, priority,
                          runAfter, maxAttempts, idempotencyKey, concurrencyKey, timeoutMs,
                          resultTtlMs, backoff}); blank lines skipped. Sent --batch N lines at a
                          time (1..1000, default 1000; fewer when they pass 900 KiB, the server
                          takes 1 MiB a request), each batch all or nothing; prints each
                          stored task's id (--json: the task) in line order as its batch is stored.
                          A bad line stops there and says what the batches before it stored;
                          RATE_LIMITED waits and goes on, and a batch whose answer was lost is
                          sent again when all its lines have an idempotencyKey (else the error
                          says it may have been stored). Ctrl-C stops after the batch in flight
  --start-line N          with --from-jsonl: skip the lines before line N (to go on after a stop)
${CLIENT_OPTIONS}

Examples:
  taskwire enqueue math.copysign --args '[1, -1]' --wait      # prints -1
  printf '%s\\n' '{"name": "demo.echo", "args": [1]}' '{"name": "demo.echo", "args": [2]}' | taskwire enqueue --from-jsonl -`,
  status: `Usage: taskwire status ID [--watch] [options]

Shows a task. Exit code 1 when it FAILED or was CANCELLED, or when there is no such task.
  --watch                 its timeline from ENQUEUED, then live until it ends: one line per event
                          on stderr (version, type, status, attempt, worker, progress or error; on
                          a terminal, progress redraws one line with a bar), then the final state;
                          with --json: one JSON line per event on stdout. Output: taskwire logs
  --timeout SECONDS       with --watch: give up after this long (exit 1)
${CLIENT_OPTIONS}`,
  logs: `Usage: taskwire logs ID [--follow] [options]

Prints the output the task's handler wrote (ctx.output), every attempt's, in order: a string
chunk as it is, any other JSON value as one JSON line; "--- attempt N ---" on stderr where a new
attempt's output starts. Exit code 1 when the task FAILED or was CANCELLED (its errors on stderr),
or when there is no such task.
  -f, --follow            go on live until the task ends (without it: what exists now)
  --timeout SECONDS       with --follow: give up after this long (exit 1)
${CLIENT_OPTIONS}

With --json: the raw OUTPUT events, one JSON line each (version and attempt included).

Example:
  taskwire logs $(taskwire enqueue demo.output --args '[3, 100]') --follow`,
  feed: `Usage: taskwire feed [options]

Prints every event of every task the filters match (taskEventFeed), in the order their
transactions committed, live: one line each on stdout (when, task id, version, type, status,
attempt, worker, progress or error). It starts from now, or after --after's cursor, and runs until
--limit, --timeout or Ctrl-C; then stderr says where to go on ("go on with: --after …"): a run
started from there misses nothing and repeats nothing. Exit code 0 (130 after Ctrl-C).
  --after CURSOR          the events committed after this position (an event's cursor, or what a
                          previous run said)
  --status S,…            only events after which the task is in one of these statuses
  --queue Q               only this queue's tasks
  --name N                only tasks of this name
  --workflow ID           only the steps of this workflow
  --with-task             the task's name on each line (--json: the whole task, read when sent)
  --limit N               stop after N events
  --timeout SECONDS       stop after this long
${CLIENT_OPTIONS}

With --json: one JSON line per event, its cursor included (docs/event-log.md).

Example:
  taskwire feed --queue emails --json --timeout 60 > events.jsonl 2> resume.txt`,
  tasks: `Usage: taskwire tasks [options]

Lists tasks, newest first, as a table (--json: a JSON array).
  --status S,…            any of BLOCKED, PENDING, RUNNING, RETRYING, SUCCEEDED, FAILED, CANCELLED
  --queue Q               only this queue
  --name N                only this task name
  --workflow ID           only the steps of this workflow
  --limit N               at most N tasks (default 20)
  --after CURSOR          the tasks after that cursor: when there are more than --limit, stderr
                          ends with the one that lists the next ones (--after …)
${CLIENT_OPTIONS}`,
  cancel: `Usage: taskwire cancel ID [options]
       taskwire cancel --filter JSON [--all] [--timeout SECONDS] [options]

Cancels a task: a PENDING or RETRYING one at once; a RUNNING one has its handler aborted.
Cancelling a task that already SUCCEEDED or FAILED is refused (CONFLICT, exit 1).

With --filter: a bulk action (cancelTasks) over every task matching the filter now (tasks that
match later are not touched), run in batches by the workers; its progress is shown until it is
DONE (exit 0) or FAILED (exit 1). Tasks that finished meanwhile count as processed, not cancelled.
  --filter JSON           a TaskFilter: status (one or a list), name, queue, workflowId,
                          enqueuedAfter, enqueuedBefore (ISO-8601 times with a zone, as --run-after);
                          e.g. '{"status":"PENDING","name":"reports.build"}'
  --all                   needed when the filter names nothing ('{}'): every task
  --timeout SECONDS       stop following after this long (exit 1; the action goes on)
${CLIENT_OPTIONS}

With --json and --filter: one JSON line per version of the bulk action.`,
  retry: `Usage: taskwire retry ID [options]
       taskwire retry --filter JSON [--all] [--timeout SECONDS] [options]

Puts a FAILED or CANCELLED task back to PENDING, due now, with as many attempts again as it was
enqueued with (its errors are kept).
Anything else is refused (CONFLICT, exit 1).

With --filter: a bulk action (retryTasks) over every task matching the filter now, each retried
at most once, run in batches by the workers; its progress is shown until it is DONE (exit 0) or
FAILED (exit 1). Tasks no longer FAILED or CANCELLED count as processed, not retried.
  --filter JSON           a TaskFilter, e.g. '{"status":"FAILED","queue":"emails"}'
  --all                   needed when the filter names nothing ('{}'): every task
  --timeout SECONDS       stop following after this long (exit 1; the action goes on)
${CLIENT_OPTIONS}

With --json and --filter: one JSON line per version of the bulk action.`,
  'run-now': `Usage: taskwire run-now ID [options]

Makes a PENDING or RETRYING task that waits for its run-after time (enqueued for later, snoozed,
backing off before its next attempt) due now: its status and attempts stay, a PROMOTED event is
logged, and its queue's workers take it as soon as they have room. A paused queue, queue limits or
a workflow's parents still hold it. A waiting task that is already due is shown as it is.
A RUNNING, finished or BLOCKED task is refused (CONFLICT, exit 1). Needs tasks:retry.
${CLIENT_OPTIONS}`,
  workflow: `Usage: taskwire workflow ID [--watch] [options]

Shows a workflow (docs/workflows.md): its status and version, then one row per step (ref,
status, task name, the refs it depends on, task id, duration). Exit code 1 when it FAILED or was
CANCELLED, or when there is no such workflow.
  --watch                 live until it is finished: one line per change on stderr (a step's
                          state as the workflow records it, the workflow's status), then the final
                          view; with --json: the workflow as one JSON line per version on stdout
  --timeout SECONDS       with --watch: give up after this long (exit 1)
${CLIENT_OPTIONS}

Example:
  taskwire workflow 0190a5f0-…-… --watch`,
  queues: `Usage: taskwire queues [list] [options]
       taskwire queues pause|resume NAME [options]
       taskwire queues limits NAME [--concurrency N] [--rate MAX/MS] [--per-key N] [options]
       taskwire queues limits NAME --clear [options]

Flow control (docs/flow-control.md): a queue's pause and limits hold on every worker, for every
tenant; a queue needs no task yet to be paused or limited. pause/resume/limits need queues:admin.
  list                    name, paused or active, limits, and the caller's pending/running/total
  pause NAME              no new start on any worker within milliseconds; durable until resume
  resume NAME             starts the queue again
  limits NAME             --concurrency N   most RUNNING at once, across every worker
                          --rate MAX/MS     most starts per window of MS ms, e.g. 50/1000
                          --per-key N       most RUNNING per concurrencyKey
                          a value of none clears that limit; --clear clears them all
${CLIENT_OPTIONS}

Example:
  taskwire queues limits emails --rate 50/1000 --concurrency 10`,
  schedules: `Usage: taskwire schedules list [--limit N] [options]
       taskwire schedules show KEY [--tenant T] [options]
       taskwire schedules upsert KEY --cron CRON --task NAME [--args JSON] [--timezone TZ] [--tenant T] [options]
       taskwire schedules pause|resume|delete|trigger KEY [--tenant T] [options]

Cron schedules (docs/schedules.md): each occurrence enqueues one task, whatever the number of workers.
  list                    tenant, key, cron, time zone, task, active or paused, next run, last run, last task
    --limit N             at most N schedules (default 100)
  --tenant T              (with a KEY) the schedule of tenant T; default your own. An admin key, or a server
                          with auth off, lists every tenant's schedules and reaches any of them this way;
                          for any other credential another tenant's key is unknown (exit 1)
  show KEY                the schedule, its next 5 occurrences and its 10 latest tasks (exit 1: no such key)
  upsert KEY              create the schedule KEY, or update it
    --cron CRON           5 fields (minute first), or 6 with seconds first: "*/5 * * * * *" = every 5 s
    --task NAME           the task each occurrence enqueues
    --args JSON           its positional arguments, a JSON array (default [])
    --kwargs JSON         its keyword arguments, a JSON object (default {})
    --timezone TZ         IANA time zone of the cron's wall clock, e.g. Europe/Paris (default UTC)
    --queue Q             --priority P  --max-attempts N: as for enqueue
    --timeout-ms MS       --result-ttl-ms MS  --backoff JSON: as for enqueue, for every task it
                          enqueues; an upsert without one goes back to the definition's
    --concurrency-key K   every task it enqueues carries K (the queue's per-key limit); an upsert
                          without it leaves the schedule without one
    --overlap POLICY      ALLOW (default) or SKIP: skip an occurrence while the last task is unfinished
    --missed POLICY       after downtime: SKIP, RUN_ONCE (default) or RUN_ALL
    --paused / --active   create it paused / set the pause (without either, an update keeps it)
  pause KEY               no occurrences until resumed
  resume KEY              from the next occurrence on (the paused interval is not replayed)
  delete KEY              remove it; its tasks stay (exit 1: no such key)
  trigger KEY             enqueue its task now, paused or not; prints the task id
A bad cron or time zone is refused by the server (BAD_USER_INPUT, exit 2); an unknown key exits 1.
${CLIENT_OPTIONS}

Example:
  taskwire schedules upsert nightly-report --cron "0 3 * * *" --timezone Europe/Paris --task demo.echo --args '["report"]'`,
  stats: `Usage: taskwire stats [options]

Task counts by status for each queue, and how long the oldest due task has waited.
${CLIENT_OPTIONS}`,
};
