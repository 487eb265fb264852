import { readdirSync, readFileSync } from 'node:fs';
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

/** µs per USER_HZ tick of /proc's process times. */
const TICK_US = TICK_MS * 1000;

/** The fields of /proc/PID/stat after the command name (index 0 is the state, 1 the parent's pid); PID may be `pid/task/tid`. */
export function procStat(pid: number | string): string[] {
  const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
  return stat.slice(stat.lastIndexOf(')') + 2).split(' ');
}

/** utime + stime of a process (or of one thread, `pid/task/tid`), in µs; 0 when it is gone. */
export function processCpuUs(pid: number | string): number {
  try {
    const fields = procStat(pid);
    return (Number(fields[11]) + Number(fields[12])) * TICK_US;
  } catch {
    return 0;
  }
}

/** CPU of a whole PostgreSQL cluster, in µs: the postmaster, its live children and the children it has reaped. */
export function clusterCpuUs(postmaster: number): number {
  const own = procStat(postmaster);
  let total = (Number(own[11]) + Number(own[12]) + Number(own[13]) + Number(own[14])) * TICK_US;
  for (const entry of readdirSync('/proc')) {
    if (!/^\d+$/.test(entry)) continue;
    try {
      const fields = procStat(entry);
      if (Number(fields[1]) === postmaster) total += (Number(fields[11]) + Number(fields[12])) * TICK_US;
    } catch {
      // gone meanwhile
    }
  }
  return total;
}
