/**
 * Compares two V8 heap snapshots (the fan-out scenario writes them with --cpu-prof: before
 * the clients connect and after every subscription got its first event) and prints the
 * growth per subscriber by object kind. `npx tsx bench/tools/heap-diff.ts BEFORE AFTER SUBSCRIBERS`
 */
import { readFileSync } from 'node:fs';

interface Snapshot {
  snapshot: { meta: { node_fields: string[]; node_types: [string[]] } };
  nodes: number[];
  strings: string[];
}

function aggregate(file: string): { total: number; byKind: Map<string, { count: number; bytes: number }> } {
  const snap = JSON.parse(readFileSync(file, 'utf8')) as Snapshot;
  const fields = snap.snapshot.meta.node_fields;
  const types = snap.snapshot.meta.node_types[0];
  const [iType, iName, iSize] = ['type', 'name', 'self_size'].map((f) => fields.indexOf(f)) as [number, number, number];
  const byKind = new Map<string, { count: number; bytes: number }>();
  let total = 0;
  for (let i = 0; i < snap.nodes.length; i += fields.length) {
    const type = types[snap.nodes[i + iType] as number] ?? '?';
    const size = snap.nodes[i + iSize] as number;
    const key = type === 'object' || type === 'closure' ? `${type}:${snap.strings[snap.nodes[i + iName] as number]}` : type;
    const entry = byKind.get(key) ?? { count: 0, bytes: 0 };
    entry.count += 1;
    entry.bytes += size;
    byKind.set(key, entry);
    total += size;
  }
  return { total, byKind };
}

const [beforeFile, afterFile, subsArg] = process.argv.slice(2);
if (!beforeFile || !afterFile || !subsArg) throw new Error('usage: heap-diff.ts BEFORE AFTER SUBSCRIBERS');
const subs = Number(subsArg);
const before = aggregate(beforeFile);
const after = aggregate(afterFile);
console.log(`growth: ${Math.round((after.total - before.total) / subs)} bytes per subscriber`);
const rows = [...after.byKind].map(([kind, a]) => {
  const b = before.byKind.get(kind) ?? { count: 0, bytes: 0 };
  return { kind, bytes: (a.bytes - b.bytes) / subs, count: (a.count - b.count) / subs };
});
for (const r of rows.sort((x, y) => y.bytes - x.bytes).slice(0, 30)) {
  console.log(`${Math.round(r.bytes).toString().padStart(7)} B  ${r.count.toFixed(2).padStart(6)} objects  ${r.kind}`);
}
