import { createRequire } from 'node:module';
import type { ASTNode, DocumentNode, ExecutionArgs, ExecutionResult, GraphQLError, GraphQLInputType, ValueNode, VariableDefinitionNode } from 'graphql';
import { createGraphQLError, type Plugin } from 'graphql-yoga';
import { GRAPHQL_CODES, isGraphQLError } from './errors.js';

// The schema's types are CommonJS graphql's (Pothos requires it), and graphql-js refuses a type of
// another module instance where an ESM import resolves to index.mjs (vitest): require() gives the
// schema's own instance (as src/server/live/shared-results.ts does).
const require = createRequire(import.meta.url);
const { BREAK, coerceInputValue, getNamedType, getNullableType, getOperationAST, isInputObjectType, isInputType, isListType, isNonNullType, Kind, typeFromAST, visit } =
  require('graphql') as typeof import('graphql');

/** As many variable errors as graphql-tools' executor reports before it gives up. */
const MAX_VARIABLE_ERRORS = 50;

/** What yoga reads in a hidden `extensions.http` to choose a response's status. */
interface HttpStatus {
  status: number;
  /** The status is for application/graphql-response+json only (application/json and SSE: 200). */
  spec?: true;
}

/**
 * The HTTP status of a variable error, as yoga steers it (extensions.http). A query's or mutation's
 * is 400 under every media type, as yoga's executor has always answered it; a subscription's is
 * 400 under application/graphql-response+json only (`spec`), as for a subscription that cannot
 * start (src/graphql/errors.ts markRequestErrors): 200 under application/json and over SSE, where
 * the error is the stream's one event.
 */
const EXECUTE_STATUS: HttpStatus = { status: 400 };
const SUBSCRIBE_STATUS: HttpStatus = { status: 400, spec: true };

type Path = readonly (string | number)[];

/** `input` + `['tags', 0]` → `input.tags[0]`: how a field is named in `extensions.field`. */
function fieldName(root: string, path: Path): string {
  return root + path.map((p) => (typeof p === 'number' ? `[${p}]` : `.${p}`)).join('');
}

function isPlainObject(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

/** The named type of the value at `path` under `type` (lists and non-null unwrapped), if the path exists. */
function namedTypeAt(type: GraphQLInputType, path: Path): GraphQLInputType | undefined {
  let at: GraphQLInputType = type;
  for (const segment of path) {
    if (typeof segment === 'number') {
      const list = getNullableType(at);
      if (!isListType(list)) return undefined;
      at = list.ofType as GraphQLInputType;
      continue;
    }
    const object = getNamedType(at);
    const field = isInputObjectType(object) ? object.getFields()[segment] : undefined;
    if (!field) return undefined;
    at = field.type;
  }
  return getNamedType(at);
}

/**
 * The key of the input object at `path` that graphql-js's error is about, when it is one of a
 * field left out or a field the type does not have: those errors are reported at the object, and
 * the key is only in the wording. Found by writing graphql-js's own message for each candidate key
 * (the required fields absent from `value`, the keys the type lacks) and comparing, so a key is
 * named only when the message is exactly about it.
 */
function keyAtFault(type: GraphQLInputType, path: Path, value: unknown, message: string): string | undefined {
  const object = namedTypeAt(type, path);
  if (!isInputObjectType(object) || !isPlainObject(value)) return undefined;
  const fields = object.getFields();
  for (const field of Object.values(fields)) {
    if (value[field.name] === undefined && message === `Field "${field.name}" of required type "${String(field.type)}" was not provided.`) return field.name;
  }
  return Object.keys(value).find((key) => !Object.hasOwn(fields, key) && message.startsWith(`Field "${key}" is not defined by type "${object.name}".`));
}

/** A value as a message shows it: its JSON, cut short (the value can be a task's whole arguments). */
function shown(value: unknown): string {
  const text = JSON.stringify(value) ?? String(value);
  return text.length <= 100 ? text : `${text.slice(0, 99)}…`;
}

function variableError(message: string, definition: VariableDefinitionNode, field: string): GraphQLError {
  return createGraphQLError(message, { nodes: definition, extensions: { code: GRAPHQL_CODES.badUserInput, field } });
}

/** The errors of one variable's value, pushed onto `errors` (up to MAX_VARIABLE_ERRORS in all). */
function checkVariable(args: ExecutionArgs, definition: VariableDefinitionNode, errors: GraphQLError[]): void {
  const name = definition.variable.name.value;
  const type = typeFromAST(args.schema, definition.type);
  // Not an input type: a validation error already (VariablesAreInputTypesRule).
  if (!type || !isInputType(type)) return;
  const report = (message: string, field: string): void => {
    if (errors.length < MAX_VARIABLE_ERRORS) errors.push(variableError(message, definition, field));
  };
  const values = args.variableValues ?? {};
  if (!Object.hasOwn(values, name)) {
    if (!definition.defaultValue && isNonNullType(type)) report(`Variable "$${name}" of required type "${String(type)}" was not provided.`, name);
    return;
  }
  const value = values[name];
  if (value === null && isNonNullType(type)) {
    report(`Variable "$${name}" of non-null type "${String(type)}" must not be null.`, name);
    return;
  }
  coerceInputValue(value, type, (path, invalid, error) => {
    const at = path.length > 0 ? ` at "${fieldName(name, path)}"` : '';
    const key = keyAtFault(type, path, invalid, error.message);
    report(`Variable "$${name}" got invalid value ${shown(invalid)}${at}; ${error.message}`, fieldName(name, key === undefined ? path : [...path, key]));
  });
}

/**
 * The errors of the operation's variables, each naming the bad value in `extensions.field` as a
 * path into `variables` (`input.priority`, `input.tags[0]`, `input.name` for a required field left
 * out, `id` for a variable not given); empty when they all coerce. graphql-js checks the same
 * things, but its errors give the path only inside the message (`at "input.priority"`).
 */
export function variableErrors(args: ExecutionArgs): GraphQLError[] {
  const definitions = getOperationAST(args.document, args.operationName)?.variableDefinitions ?? [];
  const errors: GraphQLError[] = [];
  for (const definition of definitions) checkVariable(args, definition, errors);
  return errors;
}

/** `errors` as a result, with the HTTP status yoga is to give it (extensions.http, hidden from clients). */
function refusal(errors: GraphQLError[], http: HttpStatus): ExecutionResult {
  // Non-enumerable: it steers yoga's status; graphql-ws sends errors as they are.
  for (const error of errors) Object.defineProperty(error.extensions, 'http', { value: http, enumerable: false, configurable: true, writable: true });
  return { errors };
}

/** The argument path of `target`, a value inside `value` (the value of argument or variable `root`). */
function pathIn(value: ValueNode, target: ASTNode, root: string): string | undefined {
  if (value === target) return root;
  if (value.kind === Kind.OBJECT) {
    for (const field of value.fields) {
      const found = pathIn(field.value, target, `${root}.${field.name.value}`);
      if (found !== undefined) return found;
    }
  }
  if (value.kind === Kind.LIST) {
    for (const [i, item] of value.values.entries()) {
      const found = pathIn(item, target, `${root}[${i}]`);
      if (found !== undefined) return found;
    }
  }
  return undefined;
}

/**
 * The field a literal value of `document` is at, named as resolvers name theirs: the argument
 * and the input fields down to it (`input.runAfter`, `filter.enqueuedAfter`), or the variable whose
 * default value it is in. Undefined for a node that is not in an argument's or default's value.
 */
export function literalField(document: DocumentNode, target: ASTNode): string | undefined {
  let found: string | undefined;
  const search = (value: ValueNode | undefined, root: string): false | typeof BREAK => {
    found = value && pathIn(value, target, root);
    return found === undefined ? false : BREAK;
  };
  visit(document, {
    Argument: (node) => search(node.value, node.name.value),
    VariableDefinition: (node) => search(node.defaultValue, node.variable.name.value),
  });
  return found;
}

/** The literal values graphql-js's validation reports a refusal at (a variable is not one: its errors name it). */
const LITERAL_KINDS: ReadonlySet<string> = new Set([
  Kind.INT, Kind.FLOAT, Kind.STRING, Kind.BOOLEAN, Kind.NULL, Kind.ENUM, Kind.LIST, Kind.OBJECT,
]);

/**
 * A literal refused by its type (the DateTime scalar's BAD_USER_INPUT; a String for an Int, an Int
 * past 32 bits, an unknown enum value: graphql-js's GRAPHQL_VALIDATION_FAILED) is reported by
 * validation at the value's node, with no path: its `extensions.field` is found in the document.
 * In place: yoga caches a document's validation errors, and naming the field again is a no-op.
 */
function nameLiteralFields(document: DocumentNode, errors: readonly Error[]): void {
  for (const error of errors) {
    if (!isGraphQLError(error)) continue;
    const node = error.nodes?.[0];
    if (!node || !LITERAL_KINDS.has(node.kind) || error.extensions.field !== undefined) continue;
    const field = literalField(document, node);
    if (field !== undefined) error.extensions.field = field;
  }
}

/** A result the executor gave without running anything: errors and no `data` (bad variables among others). */
function refusedBeforeRunning(result: unknown): result is ExecutionResult {
  return isPlainObject(result) && !('data' in result) && Array.isArray(result.errors) && result.errors.length > 0;
}

type ResultHook = (hook: { args: ExecutionArgs; result: unknown; setResult(result: ExecutionResult): void }) => void;

/**
 * Replaces the executor's refusal of bad variables by variableErrors' (the same checks, with the
 * field named); any other refusal (a subscription's unknown id) is left as it is.
 */
function nameVariableErrors(http: HttpStatus): ResultHook {
  return ({ args, result, setResult }) => {
    if (!refusedBeforeRunning(result)) return;
    const errors = variableErrors(args);
    if (errors.length > 0) setResult(refusal(errors, http));
  };
}

/**
 * Bad input found before anything runs gets `extensions.field`, on every transport (HTTP, the fast
 * path, SSE and graphql-ws all run operations through yoga's envelop):
 * - a literal a scalar refuses, at validation (nameLiteralFields);
 * - variables that do not coerce: once the executor has refused the operation, variableErrors
 *   checks them again and its errors (BAD_USER_INPUT, with the status of EXECUTE_STATUS /
 *   SUBSCRIBE_STATUS) replace the executor's. Only then: checking every operation's variables
 *   beforehand doubled their coercion (about 7 µs an enqueueTask, 1.5 % of its server CPU).
 * Its result hooks come before yoga's error masking (yoga lists it after the app's plugins) and
 * leave a stream, and every result with data, alone (test/server/live/fast-lane.test.ts).
 */
export function useInputErrorFields(): Plugin {
  // One hooks object for every operation: nothing per operation to allocate.
  const executeHooks = { onExecuteDone: nameVariableErrors(EXECUTE_STATUS) };
  const subscribeHooks = { onSubscribeResult: nameVariableErrors(SUBSCRIBE_STATUS) };
  return {
    onValidate({ params }) {
      return ({ result }) => nameLiteralFields(params.documentAST, result);
    },
    onExecute: () => executeHooks,
    onSubscribe: () => subscribeHooks,
  };
}
