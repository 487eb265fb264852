import { z } from 'zod';
import { defineTask } from '../../src/worker/define-task.js';
import type { TaskDefinition } from '../../src/worker/define-task.js';

export interface Gates {
  /** `test.gate(key)`: waits until `open(key)`, then returns key. `test.steps(key, n)`: per step i waits for `key:i`, reports progress i/n; then waits for `key:done`. */
  tasks: TaskDefinition[];
  /** Lets a waiting (or future) handler pass the gate `key`. */
  open(key: string): void;
}

/**
 * Tasks whose handlers wait for the test: each state lasts until the test has seen it and
 * opens the next gate, so a subscriber observes every state, on any machine, without sleeps.
 */
export function createGates(): Gates {
  const gates = new Map<string, { opened: Promise<void>; open(): void }>();
  const gate = (key: string) => {
    let entry = gates.get(key);
    if (!entry) {
      let open!: () => void;
      const opened = new Promise<void>((resolve) => {
        open = resolve;
      });
      entry = { opened, open };
      gates.set(key, entry);
    }
    return entry;
  };
  const pass = (key: string, signal: AbortSignal): Promise<void> =>
    new Promise<void>((resolve, reject) => {
      signal.throwIfAborted();
      const onAbort = (): void => reject(signal.reason);
      signal.addEventListener('abort', onAbort, { once: true });
      void gate(key).opened.then(() => {
        signal.removeEventListener('abort', onAbort);
        resolve();
      });
    });
  return {
    tasks: [
      defineTask({
        name: 'test.gate',
        args: z.tuple([z.string()]),
        run: async ([key], ctx) => {
          await pass(key, ctx.signal);
          return key;
        },
      }),
      defineTask({
        name: 'test.steps',
        args: z.tuple([z.string(), z.number().int().min(1)]),
        run: async ([key, steps], ctx) => {
          for (let step = 1; step <= steps; step++) {
            await pass(`${key}:${step}`, ctx.signal);
            await ctx.progress({ current: step, total: steps, message: `step ${step}` });
          }
          await pass(`${key}:done`, ctx.signal);
          return { steps };
        },
      }),
    ],
    open: (key) => gate(key).open(),
  };
}
