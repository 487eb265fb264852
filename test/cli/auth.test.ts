import { describe, expect, it } from 'vitest';
import { AUTH_ENV, createTestKey } from '../helpers/auth-credentials.js';
import { useTestServer } from '../helpers/app.js';
import { runCli } from './run-cli.js';

// The client commands against a server with auth on: the credential comes from TASKWIRE_TOKEN.
const env = useTestServer({ env: { ...AUTH_ENV } });

describe('client commands with auth on', () => {
  it('send TASKWIRE_TOKEN as their credential: enqueue, status and stats work, in the key\'s tenant', async () => {
    const { server } = env;
    const key = await createTestKey(server.sql, 'acme', ['tasks:read', 'tasks:enqueue']);
    const cli = { TASKWIRE_URL: server.url, TASKWIRE_TOKEN: key.key };
    const enqueued = await runCli(['enqueue', 'demo.echo', '--args', '["hi"]', '--run-after', new Date(Date.now() + 3_600_000).toISOString(), '--json'], cli);
    expect(enqueued).toMatchObject({ code: 0, stderr: '' });
    const task = JSON.parse(enqueued.stdout) as { id: string; tenant?: string };
    const status = await runCli(['status', task.id, '--json'], cli);
    expect(status.code).toBe(0);
    expect(JSON.parse(status.stdout)).toMatchObject({ id: task.id, status: 'PENDING' });
    expect((await server.deps.queue.getTask(task.id))?.tenant).toBe('acme');
    expect((await runCli(['stats'], cli)).code).toBe(0);
  });

  it('without one, exit 1 with UNAUTHENTICATED and say which variable to set', async () => {
    const result = await runCli(['stats'], { TASKWIRE_URL: env.server.url, TASKWIRE_TOKEN: '' });
    expect(result.code).toBe(1);
    expect(result.stderr).toMatch(/^taskwire: UNAUTHENTICATED: .*\nSet TASKWIRE_TOKEN to an API key/);
  });

  it('a scope the key lacks is FORBIDDEN, exit 1', async () => {
    const key = await createTestKey(env.server.sql, 'acme', ['tasks:read']);
    const result = await runCli(['enqueue', 'demo.echo', '--json'], { TASKWIRE_URL: env.server.url, TASKWIRE_TOKEN: key.key });
    expect(result.code).toBe(1);
    expect(JSON.parse(result.stderr)).toMatchObject({ error: { code: 'FORBIDDEN' } });
  });

  it('cancel, retry and run-now with a key that may act on others\' tasks but not read them: the line; --json says what was done', async () => {
    const { server } = env;
    const owner = { TASKWIRE_URL: server.url, TASKWIRE_TOKEN: (await createTestKey(server.sql, 'acme', ['tasks:read', 'tasks:enqueue'])).key };
    const actor = { TASKWIRE_URL: server.url, TASKWIRE_TOKEN: (await createTestKey(server.sql, 'acme', ['tasks:cancel', 'tasks:retry'])).key };
    const later = new Date(Date.now() + 3_600_000).toISOString();
    const ids: string[] = [];
    for (let i = 0; i < 2; i++) {
      const enqueued = await runCli(['enqueue', 'demo.echo', '--args', `[${i}]`, '--run-after', later, '--json'], owner);
      ids.push((JSON.parse(enqueued.stdout) as { id: string }).id);
    }
    const [a, b] = ids as [string, string];
    expect(await runCli(['cancel', a], actor)).toMatchObject({ code: 0, stdout: `${a} CANCELLED\n`, stderr: '' });
    expect(await runCli(['retry', a], actor)).toMatchObject({ code: 0, stdout: `${a} PENDING (attempts 0/1)\n`, stderr: '' });
    expect(await runCli(['run-now', a], actor)).toMatchObject({ code: 0, stderr: '' });
    // --json asks for the whole task, which this key may not read: the error says the cancel was done.
    const json = await runCli(['cancel', b, '--json'], actor);
    expect(json.code).toBe(1);
    expect(JSON.parse(json.stderr)).toMatchObject({ error: { code: 'FORBIDDEN', message: expect.stringMatching(/^cancelTask was carried out/) } });
    expect((await server.deps.queue.getTask(b))?.status).toBe('CANCELLED');
  });
});
