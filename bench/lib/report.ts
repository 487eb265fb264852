import type { ScenarioName, SystemName } from './protocol.js';
import { summarize } from './stats.js';

/** One line of results/latest.json. */
export interface ResultRow {
  system: SystemName;
  scenario: ScenarioName;
  metric: string;
  unit: string;
  median: number;
  min: number;
  max: number;
  /** Each repetition's value, in run order. */
  runs: number[];
}

export interface RatioLine {
  label: string;
  /** Medians divided (or, for `unit: 'ms'`, subtracted). */
  value: number;
  unit: '×' | 'ms';
}

export interface TargetLine {
  label: string;
  target: string;
  actual: string;
  /** undefined: not measured in this run (scenario skipped or not available). */
  met: boolean | undefined;
}

export class Results {
  readonly rows: ResultRow[] = [];

  add(system: SystemName, scenario: ScenarioName, metric: string, unit: string, values: number[]): void {
    this.rows.push({ system, scenario, metric, unit, ...summarize(values), runs: values });
  }

  find(system: SystemName, scenario: ScenarioName, metric: string): ResultRow | undefined {
    return this.rows.find((r) => r.system === system && r.scenario === scenario && r.metric === metric);
  }

  median(system: SystemName, scenario: ScenarioName, metric: string): number | undefined {
    return this.find(system, scenario, metric)?.median;
  }
}

/** Formats a number for the table: thousands separators for large, 2 decimals for small. */
export function fmt(value: number, unit?: string): string {
  if (unit === 'ms' || Math.abs(value) < 100) return value.toFixed(2);
  return Math.round(value).toLocaleString('en-US');
}

/** A fixed-width text table: a header, a rule, then the rows. */
export function table(header: string[], rows: string[][], alignRight: boolean[]): string {
  const widths = header.map((h, i) => Math.max(h.length, ...rows.map((r) => (r[i] ?? '').length)));
  const line = (cells: string[]): string =>
    cells.map((c, i) => (alignRight[i] ? c.padStart(widths[i] as number) : c.padEnd(widths[i] as number))).join('  ').trimEnd();
  return [line(header), widths.map((w) => '-'.repeat(w)).join('  '), ...rows.map(line)].join('\n');
}

export function resultsTable(results: Results): string {
  const rows = results.rows.map((r) => [r.scenario, r.metric, r.system, fmt(r.median, r.unit), fmt(r.min, r.unit), fmt(r.max, r.unit), r.unit]);
  return table(['scenario', 'metric', 'system', 'median', 'min', 'max', 'unit'], rows, [false, false, false, true, true, true, false]);
}
