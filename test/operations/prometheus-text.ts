/**
 * A strict reader of the Prometheus text exposition format (0.0.4), for the tests: it
 * throws on anything a Prometheus server would refuse or misread, rather than skipping it.
 */

export interface PromSample {
  name: string;
  labels: Record<string, string>;
  value: number;
}

export interface PromFamily {
  name: string;
  type: string;
  help: string;
  samples: PromSample[];
}

const NAME = '[a-zA-Z_:][a-zA-Z0-9_:]*';
const SAMPLE_RE = new RegExp(`^(${NAME})(?:\\{(.*)\\})? (\\S+)(?: (-?\\d+))?$`);
const LABEL_RE = /([a-zA-Z_][a-zA-Z0-9_]*)="((?:[^"\\\n]|\\\\|\\"|\\n)*)"(,|$)/y;
const TYPES = new Set(['counter', 'gauge', 'histogram', 'summary', 'untyped']);

function parseValue(text: string, line: string): number {
  if (text === '+Inf') return Infinity;
  if (text === '-Inf') return -Infinity;
  if (text === 'NaN') return Number.NaN;
  if (!/^-?(\d+\.?\d*|\.\d+)(e[+-]?\d+)?$/i.test(text)) throw new Error(`bad value in: ${line}`);
  return Number(text);
}

function parseLabels(text: string, line: string): Record<string, string> {
  const labels: Record<string, string> = {};
  LABEL_RE.lastIndex = 0;
  while (LABEL_RE.lastIndex < text.length) {
    const m = LABEL_RE.exec(text);
    if (!m) throw new Error(`bad labels in: ${line}`);
    const [, key = '', raw = ''] = m;
    if (key in labels) throw new Error(`label ${key} twice in: ${line}`);
    labels[key] = raw.replace(/\\(.)/g, (_, c: string) => (c === 'n' ? '\n' : c));
  }
  return labels;
}

/** The family a sample belongs to: histograms' `_bucket`/`_sum`/`_count` series are theirs. */
function familyOf(sample: string, families: Map<string, PromFamily>): PromFamily | undefined {
  if (families.has(sample)) return families.get(sample);
  const base = sample.replace(/_(bucket|sum|count)$/, '');
  const family = families.get(base);
  return family && (family.type === 'histogram' || family.type === 'summary') ? family : undefined;
}

export function parsePrometheusText(text: string): Map<string, PromFamily> {
  if (!text.endsWith('\n')) throw new Error('the exposition must end with a newline');
  const families = new Map<string, PromFamily>();
  const helps = new Map<string, string>();
  for (const line of text.slice(0, -1).split('\n')) {
    if (line === '') continue;
    const help = /^# HELP (\S+) (.*)$/.exec(line);
    if (help) {
      const [, name = '', body = ''] = help;
      if (helps.has(name)) throw new Error(`HELP twice for ${name}`);
      helps.set(name, body);
      continue;
    }
    const type = /^# TYPE (\S+) (\S+)$/.exec(line);
    if (type) {
      const [, name = '', kind = ''] = type;
      if (!new RegExp(`^${NAME}$`).test(name)) throw new Error(`bad metric name ${name}`);
      if (!TYPES.has(kind)) throw new Error(`bad type ${kind} for ${name}`);
      if (families.has(name)) throw new Error(`TYPE twice for ${name}`);
      families.set(name, { name, type: kind, help: helps.get(name) ?? '', samples: [] });
      continue;
    }
    if (line.startsWith('#')) continue;
    const m = SAMPLE_RE.exec(line);
    if (!m) throw new Error(`not a sample line: ${line}`);
    const [, name = '', labelText, valueText = ''] = m;
    const family = familyOf(name, families);
    if (!family) throw new Error(`sample before (or without) its TYPE line: ${line}`);
    family.samples.push({ name, labels: labelText ? parseLabels(labelText, line) : {}, value: parseValue(valueText, line) });
  }
  for (const family of families.values()) {
    if (!helps.has(family.name)) throw new Error(`no HELP for ${family.name}`);
    if (family.type === 'counter' && !family.name.endsWith('_total')) throw new Error(`counter ${family.name} does not end in _total`);
    if (family.type === 'counter' && family.samples.some((s) => !(s.value >= 0))) throw new Error(`negative counter ${family.name}`);
    if (family.type === 'histogram') checkHistogram(family);
  }
  return families;
}

/** Buckets cumulative and ascending, `+Inf` equal to `_count`, for every label set. */
function checkHistogram(family: PromFamily): void {
  const series = new Map<string, PromSample[]>();
  for (const s of family.samples) {
    const { le: _le, ...rest } = s.labels;
    const key = JSON.stringify(Object.entries(rest).sort());
    series.set(key, [...(series.get(key) ?? []), s]);
  }
  for (const samples of series.values()) {
    const buckets = samples.filter((s) => s.name.endsWith('_bucket'));
    const count = samples.find((s) => s.name.endsWith('_count'));
    if (!samples.some((s) => s.name.endsWith('_sum')) || !count) throw new Error(`${family.name}: a series without _sum or _count`);
    let lastLe = -Infinity;
    let lastCount = 0;
    for (const b of buckets) {
      const le = parseValue(b.labels.le ?? '', 'le');
      if (!(le > lastLe)) throw new Error(`${family.name}: buckets not ascending`);
      if (b.value < lastCount) throw new Error(`${family.name}: buckets not cumulative`);
      lastLe = le;
      lastCount = b.value;
    }
    if (lastLe !== Infinity || lastCount !== count.value) throw new Error(`${family.name}: +Inf bucket missing or not equal to _count`);
  }
}

/** The value of the one sample of `family` (and series name) whose labels include `labels`; undefined if none. */
export function sampleValue(families: Map<string, PromFamily>, family: string, labels: Record<string, string> = {}, series = family): number | undefined {
  const matching = families
    .get(family)
    ?.samples.filter((s) => s.name === series && Object.entries(labels).every(([k, v]) => s.labels[k] === v));
  if (!matching || matching.length === 0) return undefined;
  if (matching.length > 1) throw new Error(`${matching.length} samples of ${series} match ${JSON.stringify(labels)}`);
  return matching[0]?.value;
}
