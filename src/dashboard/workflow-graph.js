// @ts-check
/**
 * A workflow's steps as a graph: layers by depth (a step with no parents is depth 0, any other
 * one more than its deepest parent), left to right, edges from parent to child. Pure layout
 * (`layoutSteps`, testable without a page) and an SVG builder (`workflowSvg`) that sets every
 * text through the DOM, like render.js: step refs and task names are user input.
 */

const SVG_NS = 'http://www.w3.org/2000/svg';

/**
 * Node size and gaps, in SVG user units (pixels at scale 1). A node has three lines (ref, task name,
 * status), `LINE` apart: the status shared the name's line, right-aligned, and a task name of 14
 * characters or more ran into it.
 */
export const NODE = { width: 184, height: 60, gapX: 64, gapY: 14, pad: 12 };
/** Baselines of the three lines, and the text's inset from the node's left edge. */
const LINE = { ref: 17, name: 34, status: 51, inset: 10 };
/**
 * Characters that fit a line: the name is monospace (11 px: 6.6 units a character); the ref is bold
 * 12 px, about 7.3 a character on average, so a wide one is clipped at the node's edge (`node-text`).
 */
const FIT = { ref: 21, name: Math.floor((NODE.width - 2 * LINE.inset) / 6.7) };

/**
 * Positions of the steps: `{ nodes: [{ ref, depth, row, x, y }], edges: [{ from, to }], width, height }`.
 * Steps keep their given order within a layer; a ref that names no step (cannot happen for a
 * stored workflow) is ignored.
 */
export function layoutSteps(steps) {
  const byRef = new Map(steps.map((s) => [s.ref, s]));
  // Kahn's order (no recursion: a chain of thousands of steps would overflow the stack); a
  // step left over by a cycle keeps depth 0.
  const depth = new Map(steps.map((s) => [s.ref, 0]));
  const waiting = new Map(steps.map((s) => [s.ref, s.dependsOn.filter((p) => byRef.has(p)).length]));
  const children = new Map();
  for (const s of steps) for (const p of s.dependsOn) if (byRef.has(p)) children.set(p, [...(children.get(p) ?? []), s.ref]);
  const ready = steps.filter((s) => waiting.get(s.ref) === 0).map((s) => s.ref);
  while (ready.length > 0) {
    const ref = ready.pop();
    for (const child of children.get(ref) ?? []) {
      depth.set(child, Math.max(depth.get(child), depth.get(ref) + 1));
      waiting.set(child, waiting.get(child) - 1);
      if (waiting.get(child) === 0) ready.push(child);
    }
  }
  const depthOf = (ref) => depth.get(ref) ?? 0;
  const layers = [];
  const nodes = steps.map((s) => {
    const d = depthOf(s.ref);
    const row = (layers[d] = (layers[d] ?? 0) + 1) - 1;
    return { ref: s.ref, depth: d, row, x: NODE.pad + d * (NODE.width + NODE.gapX), y: NODE.pad + row * (NODE.height + NODE.gapY) };
  });
  const edges = steps.flatMap((s) => s.dependsOn.filter((p) => byRef.has(p)).map((p) => ({ from: p, to: s.ref })));
  const deepest = Math.max(0, ...nodes.map((n) => n.depth));
  const tallest = Math.max(1, ...layers);
  return {
    nodes,
    edges,
    width: NODE.pad * 2 + (deepest + 1) * NODE.width + deepest * NODE.gapX,
    height: NODE.pad * 2 + tallest * NODE.height + (tallest - 1) * NODE.gapY,
  };
}

function svg(tag, attrs = {}, ...children) {
  const node = document.createElementNS(SVG_NS, tag);
  for (const [key, value] of Object.entries(attrs)) if (value !== null && value !== undefined) node.setAttribute(key, String(value));
  for (const child of children) if (child) node.append(child instanceof Node ? child : document.createTextNode(String(child)));
  return node;
}

/** `text` cut to `max` characters with an ellipsis (the full text is the node's title). */
const cut = (text, max) => (text.length > max ? `${text.slice(0, max - 1)}…` : text);

/**
 * The graph of `workflow`'s steps as an `<svg>`. `stateOf(step)` gives a step's task as it is
 * now (the latest state seen; default `step.task`); `open(step)` runs when a step is clicked
 * (or Enter is pressed on it). Each node carries `data-ref`, `data-status` and a status class.
 */
export function workflowSvg(workflow, { stateOf = (s) => s.task, open = () => {} } = {}) {
  const layout = layoutSteps(workflow.steps);
  const at = new Map(layout.nodes.map((n) => [n.ref, n]));
  const root = svg('svg', { class: 'workflow-graph', viewBox: `0 0 ${layout.width} ${layout.height}`, width: layout.width, height: layout.height, role: 'group', 'aria-label': 'Workflow steps' });
  root.append(
    svg('defs', {}, svg('marker', { id: 'wf-arrow', viewBox: '0 0 8 8', refX: 8, refY: 4, markerWidth: 8, markerHeight: 8, orient: 'auto-start-reverse' }, svg('path', { d: 'M0,0 L8,4 L0,8 z', class: 'edge-head' }))),
  );
  const edges = svg('g', { class: 'edges' });
  for (const { from, to } of layout.edges) {
    const a = at.get(from);
    const b = at.get(to);
    const x1 = a.x + NODE.width;
    const y1 = a.y + NODE.height / 2;
    const x2 = b.x;
    const y2 = b.y + NODE.height / 2;
    const mid = (x1 + x2) / 2;
    edges.append(svg('path', { class: 'edge', d: `M${x1},${y1} C${mid},${y1} ${mid},${y2} ${x2},${y2}`, 'marker-end': 'url(#wf-arrow)', 'data-from': from, 'data-to': to }));
  }
  const nodes = svg('g', { class: 'nodes' });
  for (const step of workflow.steps) {
    const n = at.get(step.ref);
    const task = stateOf(step);
    const status = task.status;
    const node = svg('g', {
      class: `node status-${status.toLowerCase()}`,
      transform: `translate(${n.x},${n.y})`,
      tabindex: 0,
      role: 'button',
      'data-ref': step.ref,
      'data-status': status,
      'data-task': task.id,
      'aria-label': `Step ${step.ref}: ${task.name}, ${status}`,
    });
    node.addEventListener('click', () => open(step));
    node.addEventListener('keydown', (e) => e.key === 'Enter' && open(step));
    node.append(
      svg('title', {}, `${step.ref} · ${task.name} · ${status}${step.dependsOn.length ? ` · after ${step.dependsOn.join(', ')}` : ''}`),
      svg('rect', { width: NODE.width, height: NODE.height, rx: 6 }),
      // A nested <svg> clips what it holds to its box: no text can reach past the node's edge.
      svg('svg', { class: 'node-text', x: LINE.inset, width: NODE.width - 2 * LINE.inset, height: NODE.height },
        svg('text', { y: LINE.ref, class: 'node-ref' }, cut(step.ref, FIT.ref)),
        svg('text', { y: LINE.name, class: 'node-name' }, cut(`${task.name}`, FIT.name)),
        svg('text', { y: LINE.status, class: 'node-status' }, status.toLowerCase())),
    );
    nodes.append(node);
  }
  root.append(edges, nodes);
  return root;
}
