// @ts-check
/**
 * The workflow view, in the detail panel (`#workflow=<id>`): the steps as a graph
 * (workflow-graph.js) with live states, on two streams:
 * - `workflowChanged(id)` for the workflow itself (status, version, its steps): the current state
 *   first, then each change, until it is finished;
 * - `taskStatusChanged(filter: {workflowId})` for the steps' tasks, so a step that starts RUNNING
 *   shows it at once (the workflow row changes only when steps end). A step keeps the newest
 *   version seen from either stream.
 * With the task list's stream that is three streams, the dashboard's most (api.js). Clicking a
 * step opens its task; a task of a workflow links here (render.js).
 */
import { errorCode, request, subscribe } from './api.js';
import { preciseTime } from './format.js';
import { el, statusBadge } from './render.js';
import { workflowSvg } from './workflow-graph.js';

const STEP_TASK = 'id name status version';
const WORKFLOW = `id name status version createdAt finishedAt steps { ref dependsOn task { ${STEP_TASK} } }`;

export const WORKFLOW_CHANGED = `subscription DashboardWorkflow($id: ID!) { workflowChanged(id: $id) { ${WORKFLOW} } }`;
export const WORKFLOW_STEPS = `subscription DashboardWorkflowSteps($filter: TaskFilter) { taskStatusChanged(filter: $filter) { ${STEP_TASK} } }`;
export const GET_WORKFLOW = `query DashboardGetWorkflow($id: ID!) { workflow(id: $id) { ${WORKFLOW} } }`;
export const CANCEL_WORKFLOW = `mutation DashboardCancelWorkflow($id: ID!) { cancelWorkflow(id: $id) { ${WORKFLOW} } }`;

/** How many steps are in each state, in a fixed order: "2 succeeded · 1 running · 3 blocked". */
function tally(steps) {
  const order = ['SUCCEEDED', 'RUNNING', 'RETRYING', 'PENDING', 'BLOCKED', 'FAILED', 'CANCELLED'];
  const counts = new Map();
  for (const t of steps) counts.set(t.status, (counts.get(t.status) ?? 0) + 1);
  return [...counts].sort(([a], [b]) => order.indexOf(a) - order.indexOf(b)).map(([s, n]) => `${n} ${s.toLowerCase()}`).join(' · ');
}

/**
 * Fills `panel` with workflow `id` and follows it. `close()` closes the panel, `openTask(id)`
 * shows a step's task, `notice(text, kind)` reports an action's outcome. Returns `stop()`.
 */
export function showWorkflow(panel, id, { close, openTask, notice }) {
  panel.replaceChildren(el('p', { class: 'muted pad' }, 'Loading…'));
  let workflow = /** @type {any} */ (null);
  /** The newest state seen of each step's task, by task id. */
  const tasks = new Map();
  let frame = 0;
  let stopped = false;

  const take = (task) => {
    const known = tasks.get(task.id);
    if (!known || task.version > known.version) tasks.set(task.id, { ...known, ...task });
  };
  const stateOf = (step) => tasks.get(step.task.id) ?? step.task;

  const cancel = async (button) => {
    button.disabled = true;
    const { data, errors } = await request(CANCEL_WORKFLOW, { id });
    if (errors?.length) {
      notice(`Cancel failed: ${errors[0].message} (${errorCode(errors)})`, 'error');
      button.disabled = false;
      return;
    }
    accept(data.cancelWorkflow);
    notice(`Cancelling workflow ${workflow.name ?? id.slice(-8)}`);
  };

  const render = () => {
    frame = 0;
    if (stopped || !workflow) return;
    const states = workflow.steps.map(stateOf);
    const head = el('div', { class: 'detail-head' },
      el('div', {}, el('h2', {}, workflow.name ?? 'Workflow'), el('code', { class: 'id' }, id)),
      el('button', { type: 'button', class: 'close', 'aria-label': 'Close workflow', on: { click: close } }, '×'));
    const status = el('div', { class: 'detail-status' },
      statusBadge(workflow.status),
      el('span', { class: 'muted workflow-tally' }, `${workflow.steps.length} steps: ${tally(states)}`),
      el('span', { class: 'detail-actions' },
        workflow.status === 'RUNNING' ? el('button', { type: 'button', class: 'action action-cancel', 'aria-label': `Cancel workflow ${id}`, on: { click: (e) => void cancel(e.currentTarget) } }, 'Cancel') : null));
    const fields = el('dl', { class: 'fields' },
      el('dt', {}, 'Version'), el('dd', {}, String(workflow.version)),
      el('dt', {}, 'Created'), el('dd', {}, preciseTime(workflow.createdAt)),
      el('dt', {}, 'Finished'), el('dd', {}, workflow.finishedAt ? preciseTime(workflow.finishedAt) : '—'));
    const graph = el('div', { class: 'workflow-graph-wrap' }, workflowSvg(workflow, { stateOf, open: (step) => openTask(step.task.id) }));
    const root = el('div', { class: 'detail-body workflow-view', data: { id, status: workflow.status, version: String(workflow.version) } }, head, status, fields, el('h3', {}, 'Steps'), graph);
    panel.replaceChildren(root);
  };
  const schedule = () => {
    frame ||= requestAnimationFrame(render);
  };

  /** A state of the workflow (from the stream, a read or a cancel): kept when newer, with its steps' tasks. */
  function accept(next) {
    if (!next || (workflow && next.version < workflow.version)) return;
    workflow = next;
    for (const step of next.steps) take(step.task);
    schedule();
  }

  const missing = (errors) => {
    stopAll();
    const gone = errorCode(errors) === 'NOT_FOUND' || errorCode(errors) === 'BAD_USER_INPUT';
    panel.replaceChildren(el('div', { class: 'pad' }, el('p', {}, gone ? 'No such workflow.' : errors[0].message), el('button', { type: 'button', class: 'secondary', on: { click: close } }, 'Close')));
  };

  const stopWorkflow = subscribe(WORKFLOW_CHANGED, { id }, {
    next(data, errors) {
      if (stopped) return;
      if (errors?.length) return missing(errors);
      accept(data.workflowChanged);
    },
  });
  const stopSteps = subscribe(WORKFLOW_STEPS, { filter: { workflowId: id } }, {
    // (Re)connected: the stream is registered, so a read now misses nothing.
    open() {
      void request(GET_WORKFLOW, { id }).then(({ data }) => !stopped && accept(data?.workflow));
    },
    next(data) {
      if (stopped || !data) return;
      take(data.taskStatusChanged);
      schedule();
    },
  });

  function stopAll() {
    stopped = true;
    stopWorkflow();
    stopSteps();
    cancelAnimationFrame(frame);
  }
  return stopAll;
}
