import type { IncomingMessage, RequestListener, ServerResponse } from 'node:http';

export interface ClosingConnections {
  listener: RequestListener;
  /** From now on every answer not yet begun says `Connection: close`, the ones under way included. */
  close(): void;
}

/**
 * Answers that end their keep-alive connection once the server is stopping. A stop closes the idle
 * connections only at its end (after its drains); a client answered in between on a keep-alive
 * connection sends its next request down it, and that connection is then closed under the request:
 * the client cannot tell whether it was served (a tester's CLI load, a POST, reported its batch
 * "may have been stored"). Told to close, the client opens a new connection, which a stopped
 * listener refuses: a request that plainly never left, which any client may send again.
 */
export function closingConnections(handler: RequestListener): ClosingConnections {
  let closing = false;
  const open = new Set<ServerResponse>();
  const forget = function (this: ServerResponse): void {
    open.delete(this);
  };
  return {
    listener(req: IncomingMessage, res: ServerResponse) {
      if (closing) res.setHeader('connection', 'close');
      else {
        open.add(res);
        res.once('close', forget);
      }
      handler(req, res);
    },
    close() {
      closing = true;
      for (const res of open) if (!res.headersSent) res.setHeader('connection', 'close');
      open.clear();
    },
  };
}
