import { describe, expect, it } from 'vitest';
import { startServices, stopServices, type Service } from '../src/service.js';

/** A service that writes what happens to it into `journal`; `failOn` makes that step throw. */
function recorded(name: string, journal: string[], failOn?: 'start' | 'stop'): Service {
  return {
    async start() {
      if (failOn === 'start') throw new Error(`${name} cannot start`);
      journal.push(`start ${name}`);
    },
    async stop() {
      journal.push(`stop ${name}`);
      if (failOn === 'stop') throw new Error(`${name} cannot stop`);
    },
  };
}

describe('startServices / stopServices', () => {
  it('starts in list order and stops in reverse', async () => {
    const journal: string[] = [];
    const services = ['server', 'runner', 'rescuer'].map((n) => recorded(n, journal));
    await startServices(services);
    await stopServices(services);
    expect(journal).toEqual(['start server', 'start runner', 'start rescuer', 'stop rescuer', 'stop runner', 'stop server']);
  });

  it('stops what already started when a later service fails to start, and throws its error', async () => {
    const journal: string[] = [];
    const services = [recorded('server', journal), recorded('runner', journal), recorded('rescuer', journal, 'start'), recorded('cleaner', journal)];
    await expect(startServices(services)).rejects.toThrow('rescuer cannot start');
    expect(journal).toEqual(['start server', 'start runner', 'stop runner', 'stop server']);
  });

  it('stops every service even when one fails to stop, then throws the first failure', async () => {
    const journal: string[] = [];
    const services = [recorded('server', journal), recorded('runner', journal, 'stop'), recorded('rescuer', journal)];
    await expect(stopServices(services)).rejects.toThrow('runner cannot stop');
    expect(journal).toEqual(['stop rescuer', 'stop runner', 'stop server']);
  });
});
