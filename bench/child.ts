/**
 * A child process of the benchmark, one per system for the whole run, so every system runs
 * in a process of its own while the parent interleaves repetitions across systems. It runs
 * the jobs it is sent over IPC (one scenario, N repetitions each) and answers with the
 * measurements. Started by hand with a job as JSON, it runs that job and prints the result,
 * e.g. for profiling: node --cpu-prof --import tsx bench/child.ts '<ChildJob as JSON>'
 */
import { Recorder, type ChildJob, type ChildResult } from './lib/protocol.js';

export type ParentMessage = { type: 'job'; job: ChildJob } | { type: 'exit' };
export type ChildMessage = { ok: true; result: ChildResult } | { ok: false; error: string };

async function runJob(job: ChildJob): Promise<ChildResult> {
  const rec = new Recorder();
  switch (job.scenario) {
    case 'drain':
      await (await import('./scenarios/worker.js')).drainScenario(job, rec);
      break;
    case 'latency':
      await (await import('./scenarios/worker.js')).latencyScenario(job, rec);
      break;
    case 'single-enqueue':
      await (await import('./scenarios/enqueue.js')).singleEnqueueScenario(job, rec);
      break;
    case 'bulk-enqueue':
      await (await import('./scenarios/enqueue.js')).bulkEnqueueScenario(job, rec);
      break;
    case 'history':
      await (await import('./scenarios/history.js')).historyScenario(job, rec);
      break;
    case 'graphql-enqueue':
      await (await import('./scenarios/graphql-enqueue.js')).graphqlEnqueueScenario(job, rec);
      break;
    case 'live-result':
      await (await import('./scenarios/live-result.js')).liveResultScenario(job, rec);
      break;
    case 'fan-out':
      await (await import('./scenarios/fan-out.js')).fanOutScenario(job, rec);
      break;
    case 'event-log':
      await (await import('./scenarios/event-log.js')).eventLogScenario(job, rec);
      break;
    case 'workflow-fan-in':
      await (await import('./scenarios/workflow-fan-in.js')).workflowFanInScenario(job, rec);
      break;
    case 'schedule-fire':
      await (await import('./scenarios/schedule-fire.js')).scheduleFireScenario(job, rec);
      break;
    case 'flow-control':
      await (await import('./scenarios/flow-control.js')).flowControlScenario(job, rec);
      break;
    case 'drain-processes':
      await (await import('./scenarios/drain-processes.js')).drainProcessesScenario(job, rec);
      break;
    case 'claim-probe':
      await (await import('./scenarios/claim-probe.js')).claimProbeScenario(job, rec);
      break;
    case 'output-stream':
      await (await import('./scenarios/output-stream.js')).outputStreamScenario(job, rec);
      break;
  }
  return rec.result();
}

async function settle(job: ChildJob): Promise<ChildMessage> {
  // Start every job from a collected heap, so one job's garbage is not the next one's pause.
  global.gc?.();
  try {
    return { ok: true, result: await runJob(job) };
  } catch (error) {
    return { ok: false, error: error instanceof Error ? (error.stack ?? error.message) : String(error) };
  }
}

if (process.send) {
  process.on('message', (raw) => {
    const message = raw as ParentMessage;
    if (message.type === 'exit') process.exit(0);
    void settle(message.job).then((reply) => process.send?.(reply));
  });
} else {
  const reply = await settle(JSON.parse(process.argv[2] ?? '') as ChildJob);
  process.stdout.write(`${JSON.stringify(reply, null, 2)}\n`);
  process.exit(reply.ok ? 0 : 1);
}
