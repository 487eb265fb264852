import type { Registry } from 'prom-client';

/** The families of a registry by name, as prom-client gives them (`getMetricsAsJSON()`). */
export type Families = Map<string, Awaited<ReturnType<Registry['getMetricsAsJSON']>>[number]>;

/**
 * The families as they are now: a copy. prom-client hands out a counter's own sample objects, which
 * later increments change in place, so a "before" read would move with the "after" one (a delta of 0).
 */
export async function readMetrics(registry: Registry): Promise<Families> {
  return new Map(structuredClone(await registry.getMetricsAsJSON()).map((family) => [family.name, family]));
}

/**
 * The value of the one sample of `family` (and series, e.g. a histogram's `_count`) whose labels
 * include `labels`; undefined if none. Label values compare as text (a bucket's `le` is a number).
 */
export function sampleValue(families: Families, family: string, labels: Record<string, string> = {}, series = family): number | undefined {
  const matching = families
    .get(family)
    ?.values.filter(
      (s) =>
        ((s as { metricName?: string }).metricName ?? family) === series &&
        Object.entries(labels).every(([k, v]) => String((s.labels as Record<string, unknown>)[k]) === v),
    );
  if (!matching || matching.length === 0) return undefined;
  if (matching.length > 1) throw new Error(`${matching.length} samples of ${series} match ${JSON.stringify(labels)}`);
  return matching[0]?.value;
}
