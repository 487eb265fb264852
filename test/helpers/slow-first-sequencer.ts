import { readFileSync, statSync } from 'node:fs';
import { relative } from 'node:path';
import { BaseSequencer, type TestSpecification } from 'vitest/node';

/** Files that start processes or a browser: tens of seconds each, where most files take one or two. */
const HEAVY = /helpers\/(chromium|taskwire-process|reliability-processes|child-workers|scheduler-children|pgbouncer)\.js|run-cli\.js|node:child_process/;
const HEAVY_MS = 30_000;
const LIGHT_MS = 2_000;
/**
 * Run beside the light files the run ends on: it judges a server process's answers against
 * short deadlines (a 3 s connection_init timeout while it takes 2 MiB messages, 413s read while
 * uploads go on), which a CPU-bound neighbour starting dozens of processes made it miss (seen
 * next to test/cli/cli.test.ts, before and after the compiled sources). It starts where the files
 * after it add up to its own length, so that the other worker runs those light files meanwhile
 * (run last of all, it ran alone while the other worker idled: 10–20 s of every run).
 */
const QUIET = ['test/reliability/hostile-memory.test.ts'];

/**
 * Longest files first, over all three projects at once, so that the run does not end on one long
 * file while the other worker idles (vitest's own order takes the projects one after the other,
 * and the reliability tier, which holds the longest files, came last). A file's length is its
 * duration in vitest's cache of the last run where there is one; else (a fresh clone, CI) a
 * guess from what it imports: starting processes or Chromium makes a file long. Ties: larger
 * files first, as vitest does.
 */
export class SlowFirstSequencer extends BaseSequencer {
  override async sort(files: TestSpecification[]): Promise<TestSpecification[]> {
    const cost = new Map(files.map((spec) => [spec, this.estimate(spec)] as const));
    const isQuiet = (spec: TestSpecification): boolean => QUIET.includes(relative(this.ctx.config.root, spec.moduleId));
    const order = files.filter((spec) => !isQuiet(spec)).sort((a, b) => cost.get(b)! - cost.get(a)!);
    for (const quiet of files.filter(isQuiet).sort((a, b) => cost.get(a)! - cost.get(b)!)) {
      // From the end: the first place where the lighter files after it last as long as it does.
      let at = order.length;
      for (let after = 0; at > 0 && after < cost.get(quiet)!; at -= 1) after += cost.get(order[at - 1]!)!;
      order.splice(at, 0, quiet);
    }
    return order;
  }

  private estimate(spec: TestSpecification): number {
    const file = relative(this.ctx.config.root, spec.moduleId);
    const key = `${spec.project.name}:${file}`;
    const cached = this.ctx.cache.getFileTestResults(key);
    const size = statSync(spec.moduleId).size;
    // A file that failed last time runs first, as in vitest's order: its result is wanted soonest.
    if (cached) return (cached.failed ? Number.MAX_SAFE_INTEGER / 2 : 0) + cached.duration + size / 1e6;
    return (HEAVY.test(readFileSync(spec.moduleId, 'utf8')) ? HEAVY_MS : LIGHT_MS) + size / 1e3;
  }
}
