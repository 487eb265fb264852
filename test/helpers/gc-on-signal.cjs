// Preloaded into a server under test (NODE_OPTIONS="--expose-gc --require <this file>"): on
// SIGUSR2 it runs full garbage collections and logs the V8 heap in use, so a test can tell
// memory still held from garbage not yet collected. Test-only; the product has no such hook.
let seq = 0;
process.on('SIGUSR2', () => {
  globalThis.gc();
  globalThis.gc();
  const { heapUsed, external, arrayBuffers } = process.memoryUsage();
  seq += 1;
  process.stderr.write(`${JSON.stringify({ msg: 'heap after gc', seq, heapUsed, external, arrayBuffers })}\n`);
});
