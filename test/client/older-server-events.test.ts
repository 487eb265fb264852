import { readFileSync } from 'node:fs';
import { buildSchema, getVariableValues, parse, type OperationDefinitionNode } from 'graphql';
import { describe, expect, it } from 'vitest';
import { RequestError } from '../../src/client/errors.js';
import type { HttpTransport } from '../../src/client/http.js';
import { followTaskEvents } from '../../src/client/task-events.js';
import { STATE_EVENT_TYPES, type TaskEvent } from '../../src/client/task-state.js';
import type { ExecutionResult, WsTransport } from '../../src/client/ws.js';

// The contract of the release before PROMOTED (c7a877e): today's schema without that event type.
const current = readFileSync(new URL('../../schema/schema.graphql', import.meta.url), 'utf8');
const olderSdl = current.replace(/(enum TaskEventType \{[^}]*?)\n\s*(?:"""[^"]*"""\s*)?PROMOTED\b/, '$1');
const olderSchema = buildSchema(olderSdl);

const ID = '01900000-0000-7000-8000-000000000001';
const event = (version: number, type: string, status: string): TaskEvent =>
  ({ taskId: ID, version, type, status, at: '2026-12-06T00:00:00.000Z', attempt: 1, workerId: 'w', progress: null, error: null, output: null }) as unknown as TaskEvent;
const EVENTS = [event(1, 'ENQUEUED', 'PENDING'), event(2, 'STARTED', 'RUNNING'), event(3, 'SUCCEEDED', 'SUCCEEDED')];

/**
 * A server of that release as graphql-ws shows it to the client: its variables coerced by
 * graphql-js against the older schema (a refusal answered as the server formats it,
 * BAD_USER_INPUT), else the task's events after `afterVersion`.
 */
function olderServer(asked: unknown[][]): WsTransport {
  return {
    async *subscribe<R, V>(document: { toString(): string }, variables: V): AsyncGenerator<ExecutionResult<R>, void, undefined> {
      const vars = variables as { afterVersion: number; types: string[] | null };
      asked.push(vars.types ? [...vars.types] : []);
      const operation = parse(document.toString()).definitions.find((d): d is OperationDefinitionNode => d.kind === 'OperationDefinition');
      const coerced = getVariableValues(olderSchema, operation?.variableDefinitions ?? [], { id: ID, afterVersion: vars.afterVersion, types: vars.types });
      if (coerced.errors) {
        yield { errors: coerced.errors.map((e) => ({ message: e.message, extensions: { code: 'BAD_USER_INPUT' } })) };
        return;
      }
      for (const e of EVENTS) if (e.version > vars.afterVersion) yield { data: { taskEvents: e } as R };
    },
    close: async () => undefined,
  };
}

const streams = (ws: WsTransport) => ({ ws, http: {} as HttpTransport, retry: { attempts: 2, baseMs: 1, maxMs: 1 } });

describe('a watch against a server of an older release', () => {
  it('asks again without the event types that server does not know, and misses nothing', async () => {
    const asked: unknown[][] = [];
    const got: number[] = [];
    for await (const e of followTaskEvents(streams(olderServer(asked)), ID, { types: STATE_EVENT_TYPES }, new AbortController().signal)) got.push(e.version);
    expect(got).toEqual([1, 2, 3]);
    expect(asked).toHaveLength(2);
    expect(asked[0]).toContain('PROMOTED');
    expect(asked[1]).toEqual(STATE_EVENT_TYPES.filter((t) => t !== 'PROMOTED'));
  });

  it('still fails on a refusal of anything else', async () => {
    const refusing: WsTransport = {
      // eslint-disable-next-line require-yield
      async *subscribe() {
        throw new RequestError([{ message: 'Variable "$afterVersion" got invalid value -1; Int must be at least 0', extensions: { code: 'BAD_USER_INPUT' } }]);
      },
      close: async () => undefined,
    };
    const watching = (async () => {
      for await (const _ of followTaskEvents(streams(refusing), ID, { types: STATE_EVENT_TYPES }, new AbortController().signal));
    })();
    await expect(watching).rejects.toThrow('afterVersion');
  });
});
