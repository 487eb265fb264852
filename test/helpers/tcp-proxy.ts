import { connect, createServer, type AddressInfo, type Server, type Socket } from 'node:net';

export interface TcpProxy {
  /** The GraphQL endpoint through the proxy. */
  url: string;
  /** Cuts every connection, as a network failure would, and refuses new ones until reopen(). */
  cut(): void;
  reopen(): void;
  close(): Promise<void>;
}

/** A TCP proxy to a server on 127.0.0.1:`port` whose connections a test can cut. */
export async function startProxy(port: number): Promise<TcpProxy> {
  const sockets = new Set<Socket>();
  let open = true;
  const proxy: Server = createServer((downstream) => {
    if (!open) {
      downstream.destroy();
      return;
    }
    const upstream = connect(port, '127.0.0.1');
    for (const s of [downstream, upstream]) {
      sockets.add(s);
      s.on('close', () => sockets.delete(s));
      s.on('error', () => undefined);
    }
    downstream.pipe(upstream).pipe(downstream);
  });
  await new Promise<void>((resolve) => proxy.listen(0, '127.0.0.1', resolve));
  return {
    url: `http://127.0.0.1:${(proxy.address() as AddressInfo).port}/graphql`,
    cut: () => {
      open = false;
      for (const s of sockets) s.destroy();
    },
    reopen: () => {
      open = true;
    },
    close: () => new Promise<void>((resolve) => proxy.close(() => resolve())),
  };
}
