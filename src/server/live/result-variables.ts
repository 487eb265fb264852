import { getOperationAST, type DocumentNode, type FieldNode } from 'graphql';

/**
 * Which variables a subscription's per-event result can depend on, for the sharing key of
 * shared-results.ts: every variable the operation uses except those used only in the root
 * field's own arguments.
 *
 * Why those can be left out: a root Subscription field's arguments are read by its `subscribe`
 * (which stream, from where: taskEventFeed's `after`, taskEvents' `afterVersion`), while its
 * `resolve` returns the event it is given and ignores them (every Subscription field in
 * src/graphql/types; test/server/live/result-variables.test.ts fails if one starts using its
 * arguments). So two subscribers that resume from different positions execute the same event to
 * the same payload, and one execution serves both. A variable used anywhere else — a nested
 * field's argument, an @include/@skip (also on the root field itself), a fragment — stays in the
 * key. Fragments are all counted, used or not: more in the key is only less sharing, never wrong.
 *
 * Returns null (key on every variable) when the operation is not found or its root is not a
 * single plain field (a fragment spread or inline fragment at the root).
 */
export function resultVariablesOf(document: DocumentNode, operationName: string | null | undefined): readonly string[] | null {
  let byOperation = cache.get(document);
  if (!byOperation) cache.set(document, (byOperation = new Map()));
  const name = operationName ?? '';
  let names = byOperation.get(name);
  if (names === undefined) {
    names = compute(document, operationName);
    byOperation.set(name, names);
  }
  return names;
}

/** Computed once per (parsed document, operation): yoga's parser cache hands every subscriber of a query the same DocumentNode. */
const cache = new WeakMap<DocumentNode, Map<string, readonly string[] | null>>();

function compute(document: DocumentNode, operationName: string | null | undefined): readonly string[] | null {
  const operation = getOperationAST(document, operationName);
  const [root, ...rest] = operation?.selectionSet.selections ?? [];
  if (!operation || !root || rest.length > 0 || root.kind !== 'Field') return null;
  const field: FieldNode = root;
  const used = new Set<string>();
  collectVariables(operation.directives, used);
  collectVariables(field.directives, used);
  collectVariables(field.selectionSet, used);
  for (const definition of document.definitions) if (definition.kind === 'FragmentDefinition') collectVariables(definition, used);
  return [...used].sort();
}

/** Every `$name` under an AST node (AST nodes are plain objects and arrays; `loc` holds no variables). */
function collectVariables(node: unknown, into: Set<string>): void {
  if (Array.isArray(node)) {
    for (const child of node) collectVariables(child, into);
    return;
  }
  if (typeof node !== 'object' || node === null) return;
  const n = node as { kind?: string; name?: { value: string } };
  if (n.kind === 'Variable' && n.name) {
    into.add(n.name.value);
    return;
  }
  for (const [key, value] of Object.entries(node)) if (key !== 'loc') collectVariables(value, into);
}
