import { readFileSync } from 'node:fs';
import os from 'node:os';

/** /proc reports process times in USER_HZ ticks, which Linux fixes at 100 per second for user space. */
const TICK_MS = 10;

export interface CpuSample {
  at: number;
  /** Busy and total ms summed over every core (os.cpus()). */
  machineBusy: number;
  machineTotal: number;
  /** CPU ms (user + system) of each named process, when readable (Linux). */
  processes: Map<string, number>;
}

function processMs(pid: number): number | undefined {
  if (pid === process.pid) {
    const u = process.cpuUsage();
    return (u.user + u.system) / 1000;
  }
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    // Fields after the command name (which may hold spaces, hence the last ')'): state is the first, utime the 12th.
    const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    return (Number(fields[11]) + Number(fields[12])) * TICK_MS;
  } catch {
    return undefined;
  }
}

/** The machine's and the named processes' CPU time so far. */
export function sampleCpu(pids: Record<string, number>): CpuSample {
  let busy = 0;
  let total = 0;
  for (const c of os.cpus()) {
    const t = c.times;
    busy += t.user + t.nice + t.sys + t.irq;
    total += t.user + t.nice + t.sys + t.irq + t.idle;
  }
  const processes = new Map<string, number>();
  for (const [name, pid] of Object.entries(pids)) {
    const ms = processMs(pid);
    if (ms !== undefined) processes.set(name, ms);
  }
  return { at: performance.now(), machineBusy: busy, machineTotal: total, processes };
}

/**
 * Between two samples: how busy the machine was (all cores, 0–100 %) and each process's share
 * of one core, as text for a note, e.g. "machine 97% busy; server 61%, worker 35%, clients 12% of a core".
 * Says whether a figure was made on an idle machine or one shared with other work.
 */
export function describeCpu(a: CpuSample, b: CpuSample): string {
  const wall = b.at - a.at;
  const machine = (100 * (b.machineBusy - a.machineBusy)) / Math.max(1, b.machineTotal - a.machineTotal);
  const shares = [...b.processes]
    .filter(([name]) => a.processes.has(name))
    .map(([name, ms]) => `${name} ${Math.round((100 * (ms - (a.processes.get(name) as number))) / wall)}%`);
  return `machine ${Math.round(machine)}% busy (${os.cpus().length} cores); ${shares.join(', ')} of a core`;
}

/** CPU ms the named process used between two samples; undefined when it was not readable in both. */
export function cpuMsOf(a: CpuSample, b: CpuSample, name: string): number | undefined {
  const before = a.processes.get(name);
  const after = b.processes.get(name);
  return before === undefined || after === undefined ? undefined : after - before;
}
