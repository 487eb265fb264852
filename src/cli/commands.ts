/** The command names, apart from their code, so that main.ts loads only the code a command needs. */

/** Commands that talk to a running server over GraphQL (src/cli/client-commands.ts, watch-commands.ts). */
export const CLIENT_COMMANDS = ['enqueue', 'status', 'logs', 'feed', 'tasks', 'cancel', 'retry', 'run-now', 'stats', 'workflow', 'schedules', 'queues'] as const;
export type ClientCommand = (typeof CLIENT_COMMANDS)[number];

/** Commands that open the database themselves (src/cli/process-commands.ts). */
export const PROCESS_COMMANDS = ['dev', 'serve', 'worker', 'migrate', 'doctor', 'keys'] as const;
export type ProcessCommand = (typeof PROCESS_COMMANDS)[number];
