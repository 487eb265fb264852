/**
 * What a hostile page tries against a taskwire server, run in the browser by `page.evaluate`:
 * each attempt enqueues one math.copysign task if the browser and the server let it.
 * Kept as source text: the test's transpiler must not add helpers the page does not have.
 */

export interface AttemptOutcome {
  attempt: 'fetch-json' | 'fetch-simple' | 'websocket';
  /** `enqueued`, `blocked` (the browser refused: CORS), `opaque` (sent, answer unreadable), `status N`, `closed CODE`, `error …`, `timeout`. */
  outcome: string;
}

const SOURCE = `async ({ url, token }) => {
  const body = JSON.stringify({
    query: 'mutation ($input: EnqueueTaskInput!) { enqueueTask(input: $input) { task { id } } }',
    variables: { input: { name: 'math.copysign', args: [1, 1] } },
  });
  const outcomes = [];
  try {
    const res = await fetch(url, { method: 'POST', headers: { 'content-type': 'application/json', authorization: 'Bearer ' + token }, body });
    const json = await res.json().catch(() => null);
    outcomes.push({ attempt: 'fetch-json', outcome: json && json.data && json.data.enqueueTask ? 'enqueued' : 'status ' + res.status });
  } catch (error) {
    outcomes.push({ attempt: 'fetch-json', outcome: 'blocked' });
  }
  try {
    const res = await fetch(url, { method: 'POST', mode: 'no-cors', headers: { 'content-type': 'text/plain' }, body });
    outcomes.push({ attempt: 'fetch-simple', outcome: res.type === 'opaque' ? 'opaque' : 'status ' + res.status });
  } catch (error) {
    outcomes.push({ attempt: 'fetch-simple', outcome: 'blocked' });
  }
  const ws = await new Promise((resolve) => {
    const timer = setTimeout(() => resolve('timeout'), 5000);
    const done = (outcome) => { clearTimeout(timer); resolve(outcome); };
    let socket;
    try {
      socket = new WebSocket(url.replace(/^http/, 'ws'), 'graphql-transport-ws');
    } catch (error) {
      done('error ' + error.message);
      return;
    }
    socket.onopen = () => socket.send(JSON.stringify({ type: 'connection_init', payload: { authorization: 'Bearer ' + token } }));
    socket.onclose = (event) => done('closed ' + event.code);
    socket.onmessage = (event) => {
      const message = JSON.parse(String(event.data));
      if (message.type === 'connection_ack') {
        socket.send(JSON.stringify({ id: '1', type: 'subscribe', payload: JSON.parse(body) }));
      } else if (message.type === 'next') {
        done(message.payload.data && message.payload.data.enqueueTask ? 'enqueued' : 'error ' + JSON.stringify(message.payload.errors));
        socket.close(1000);
      } else if (message.type === 'error') {
        done('error ' + JSON.stringify(message.payload));
        socket.close(1000);
      }
    };
  });
  outcomes.push({ attempt: 'websocket', outcome: ws });
  return outcomes;
}`;

/** The expression `page.evaluate` runs: the attempts against `url` (http://…/graphql) with `token`. */
export function crossOriginAttempts(args: { url: string; token: string }): string {
  return `(${SOURCE})(${JSON.stringify(args)})`;
}
