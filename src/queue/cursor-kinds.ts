import { BadUserInputError } from '../errors.js';

/** The API's three kinds of cursor, by the prefix of their text, as a refusal names them. */
const KINDS = {
  task: 'a cursor of task pages (tasks: TaskEdge.cursor)',
  version: "a cursor of a task's event pages (Task.events: TaskEventEdge.cursor)",
  feed: 'a position in the event feed (TaskEvent.cursor, taskEventFeedCursor)',
} as const;

export type CursorKind = keyof typeof KINDS;

/**
 * The refusal of a cursor `field` that is not a `wanted` one (`text`: the cursor decoded). One of
 * another kind says which it is and which the field takes: TaskEventEdge.cursor and TaskEvent.cursor
 * share a name, and a frontend tester passed one for the other to be told only that it was "not a
 * cursor from this API", which it was.
 */
export function refusedCursor(field: string, text: string, wanted: CursorKind): BadUserInputError {
  const kind = /^(task|version|feed):/.exec(text)?.[1] as CursorKind | undefined;
  const which = kind !== undefined && kind !== wanted ? `: it is ${KINDS[kind]}, and ${field} takes ${KINDS[wanted]}` : '';
  return new BadUserInputError(`${field} is not a cursor from this API${which}`, { field });
}
