/**
 * A small Prometheus registry with the text exposition format (version 0.0.4) written by
 * hand: counters, gauges and histograms with labels, plus gauges read at scrape time.
 * Enough for taskwire's few dozen series; no dependency, no global state.
 */

/** Label names to values; every sample of a family uses the same names. */
export type Labels = Readonly<Record<string, string>>;

export interface Counter {
  /** Adds `value` (default 1, must be ≥ 0) to the series of `labels`. */
  inc(labels?: Labels, value?: number): void;
}

export interface Gauge {
  set(labels: Labels, value: number): void;
}

export interface Histogram {
  /** Records one observation (in the histogram's unit, e.g. seconds). */
  observe(labels: Labels, value: number): void;
}

/** A sample produced at scrape time by a collector. */
export interface Sample {
  labels?: Labels;
  value: number;
}

export interface MetricsRegistry {
  counter(name: string, help: string): Counter;
  gauge(name: string, help: string): Gauge;
  histogram(name: string, help: string, buckets: readonly number[]): Histogram;
  /**
   * A family whose samples `collect` returns at each scrape (a gauge read from the database,
   * a counter kept elsewhere). `collect` may be async; it runs once per scrape.
   */
  collected(name: string, type: 'counter' | 'gauge', help: string, collect: () => Sample[] | Promise<Sample[]>): void;
  /** The exposition text of every family, in registration order. */
  render(): Promise<string>;
}

/** `Content-Type` of the text exposition format. */
export const PROMETHEUS_CONTENT_TYPE = 'text/plain; version=0.0.4; charset=utf-8';

const NAME_RE = /^[a-zA-Z_:][a-zA-Z0-9_:]*$/;
const LABEL_RE = /^[a-zA-Z_][a-zA-Z0-9_]*$/;

interface Family {
  name: string;
  type: 'counter' | 'gauge' | 'histogram';
  help: string;
  lines(): string[] | Promise<string[]>;
}

/** HELP text escapes backslash and newline; label values also escape the double quote. */
const escapeHelp = (text: string): string => text.replace(/\\/g, '\\\\').replace(/\n/g, '\\n');
const escapeValue = (text: string): string => text.replace(/\\/g, '\\\\').replace(/"/g, '\\"').replace(/\n/g, '\\n');

function formatValue(value: number): string {
  if (Number.isNaN(value)) return 'NaN';
  if (value === Infinity) return '+Inf';
  if (value === -Infinity) return '-Inf';
  return String(value);
}

function formatLabels(labels: Labels | undefined, extra?: [string, string]): string {
  const pairs = Object.entries(labels ?? {});
  if (extra) pairs.push(extra);
  if (pairs.length === 0) return '';
  for (const [key] of pairs) if (!LABEL_RE.test(key)) throw new Error(`invalid label name "${key}"`);
  return `{${pairs.map(([k, v]) => `${k}="${escapeValue(v)}"`).join(',')}}`;
}

/** A stable key for a label set (the series' identity). */
function seriesKey(labels: Labels | undefined): string {
  return JSON.stringify(Object.entries(labels ?? {}).sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0)));
}

export function createMetricsRegistry(): MetricsRegistry {
  const families: Family[] = [];
  const names = new Set<string>();

  function register(family: Family): void {
    if (!NAME_RE.test(family.name)) throw new Error(`invalid metric name "${family.name}"`);
    if (names.has(family.name)) throw new Error(`metric "${family.name}" registered twice`);
    names.add(family.name);
    families.push(family);
  }

  function valueFamily(name: string, type: 'counter' | 'gauge', help: string) {
    const series = new Map<string, { labels: Labels | undefined; value: number }>();
    register({
      name,
      type,
      help,
      lines: () => [...series.values()].map((s) => `${name}${formatLabels(s.labels)} ${formatValue(s.value)}`),
    });
    return series;
  }

  return {
    counter(name, help) {
      const series = valueFamily(name, 'counter', help);
      return {
        inc(labels, value = 1) {
          if (!(value >= 0)) throw new Error(`counter ${name} can only go up (got ${value})`);
          const key = seriesKey(labels);
          const s = series.get(key);
          if (s) s.value += value;
          else series.set(key, { labels, value });
        },
      };
    },
    gauge(name, help) {
      const series = valueFamily(name, 'gauge', help);
      return {
        set(labels, value) {
          series.set(seriesKey(labels), { labels, value });
        },
      };
    },
    histogram(name, help, buckets) {
      const bounds = [...buckets].sort((a, b) => a - b);
      const series = new Map<string, { labels: Labels; counts: number[]; sum: number; count: number }>();
      register({
        name,
        type: 'histogram',
        help,
        lines: () =>
          [...series.values()].flatMap((s) => {
            // Buckets are cumulative: each counts every observation ≤ its bound.
            let cumulative = 0;
            const lines = bounds.map((le, i) => {
              cumulative += s.counts[i] ?? 0;
              return `${name}_bucket${formatLabels(s.labels, ['le', formatValue(le)])} ${cumulative}`;
            });
            lines.push(`${name}_bucket${formatLabels(s.labels, ['le', '+Inf'])} ${s.count}`);
            lines.push(`${name}_sum${formatLabels(s.labels)} ${formatValue(s.sum)}`);
            lines.push(`${name}_count${formatLabels(s.labels)} ${s.count}`);
            return lines;
          }),
      });
      return {
        observe(labels, value) {
          const key = seriesKey(labels);
          let s = series.get(key);
          if (!s) {
            s = { labels, counts: bounds.map(() => 0), sum: 0, count: 0 };
            series.set(key, s);
          }
          const i = bounds.findIndex((le) => value <= le);
          if (i >= 0) s.counts[i] = (s.counts[i] ?? 0) + 1;
          s.sum += value;
          s.count += 1;
        },
      };
    },
    collected(name, type, help, collect) {
      register({
        name,
        type,
        help,
        lines: async () => (await collect()).map((s) => `${name}${formatLabels(s.labels)} ${formatValue(s.value)}`),
      });
    },
    async render() {
      const blocks = await Promise.all(
        families.map(async (f) => [`# HELP ${f.name} ${escapeHelp(f.help)}`, `# TYPE ${f.name} ${f.type}`, ...(await f.lines())].join('\n')),
      );
      return `${blocks.join('\n')}\n`;
    },
  };
}
