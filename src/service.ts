/**
 * The one shape of everything that runs in the background of a process (the runner, the
 * rescuer, the cleaner, the metrics endpoint …): the composition root lists them in start order
 * and stops them in reverse, so a process's shutdown reads as a list.
 */
export interface Service {
  /** Begins the work; resolves once the service is running. A second call does nothing. */
  start(): Promise<void>;
  /** Ends the work gracefully; resolves once nothing of it is left running. Safe to call twice, and before start(). */
  stop(): Promise<void>;
}

/**
 * Starts `services` one after another, in order: a later one may count on an earlier one
 * running (the server's `/metrics` hooks are on the runner before its first claim). When one
 * fails to start, those already started are stopped again, in reverse, and the error is thrown.
 */
export async function startServices(services: readonly Service[]): Promise<void> {
  const started: Service[] = [];
  try {
    for (const service of services) {
      await service.start();
      started.push(service);
    }
  } catch (error) {
    await stopServices(started).catch(() => undefined);
    throw error;
  }
}

/**
 * Stops `services` in reverse order, each once the one after it has stopped: the work that
 * depends on a part ends before the part does. A stop that fails does not keep the rest
 * running: every stop is attempted, then the first failure is thrown.
 */
export async function stopServices(services: readonly Service[]): Promise<void> {
  let failure: { error: unknown } | undefined;
  for (const service of [...services].reverse()) {
    try {
      await service.stop();
    } catch (error) {
      failure ??= { error };
    }
  }
  if (failure) throw failure.error;
}
