// @ts-check
/** The enqueue form: from its fields to an `EnqueueTaskInput`, and a refused input to a message. */
import { errorCode } from './api.js';

function parseJson(text, fallback, label) {
  if (text.trim() === '') return fallback;
  try {
    return JSON.parse(text);
  } catch {
    throw new Error(`${label} is not valid JSON`);
  }
}

/**
 * Reads the form into `{ input }` for `enqueueTask`, or `{ error }` when a JSON field does not
 * parse. Empty optional fields are left out, so the task definition's defaults apply.
 */
export function readEnqueueInput(form) {
  const values = Object.fromEntries(new FormData(form));
  const text = (name) => String(values[name] ?? '').trim();
  const input = { name: text('name') };
  try {
    input.args = parseJson(text('args'), [], 'Arguments');
    input.kwargs = parseJson(text('kwargs'), {}, 'Keyword arguments');
  } catch (e) {
    return { error: /** @type {Error} */ (e).message };
  }
  if (text('queue')) input.queue = text('queue');
  if (text('priority')) input.priority = Number(text('priority'));
  if (text('maxAttempts')) input.maxAttempts = Number(text('maxAttempts'));
  return { input };
}

/** "CODE (field): message", as the server said it. */
export function describeErrors(errors) {
  const field = errors[0].extensions?.field;
  return `${errorCode(errors)}${field ? ` (${field})` : ''}: ${errors[0].message}`;
}
