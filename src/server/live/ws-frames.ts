import type { Socket } from 'node:net';
import type { WebSocket } from 'ws';

/**
 * A part at least this long is written by reference rather than copied into the burst's buffer
 * (a 64 KB output chunk for 100 subscribers is the same Buffer 100 times).
 */
const COPY_LIMIT_BYTES = 8192;

/** Bytes of an unmasked server→client frame header for a payload of `n` bytes (RFC 6455 §5.2). */
function headerBytes(n: number): number {
  return n < 126 ? 2 : n < 65_536 ? 4 : 10;
}

function writeHeader(out: Buffer, at: number, n: number): number {
  out[at] = 0x81; // FIN, text
  if (n < 126) {
    out[at + 1] = n;
    return at + 2;
  }
  if (n < 65_536) {
    out[at + 1] = 126;
    out.writeUInt16BE(n, at + 2);
    return at + 4;
  }
  out[at + 1] = 127;
  out.writeUInt32BE(Math.floor(n / 2 ** 32), at + 2);
  out.writeUInt32BE(n >>> 0, at + 6);
  return at + 10;
}

/**
 * The text frames one connection sends in a burst, written to its TCP socket at the end of the
 * burst (process.nextTick: after the microtasks that produced them) as one buffer, one write.
 * `ws.send` costs a Buffer for the payload, one for the header and two socket writes per frame;
 * at 2,000 output chunks/s to 100 subscribers that was most of the server's time (with its GC).
 * Here a frame is parts queued by reference (a per-operation prefix, the payload serialized once
 * for every subscriber of the same result, a suffix), copied once into the burst's buffer.
 *
 * Frames go straight to the socket `ws` writes to: with permessage-deflate off (ws-server.ts
 * makes the WebSocketServer without it) `ws` never holds frames back, so its own control frames
 * (ping, pong) land between whole frames of ours, which the protocol allows. A close frame must
 * come after every data frame sent before it: whoever closes calls `flush()` first, and nothing
 * is written once the socket is no longer OPEN.
 */
export class FrameQueue {
  /** Every queued frame's parts, in order. */
  private parts: Buffer[] = [];
  /** Per queued frame: its payload length, then how many of `parts` it has. */
  private frames: number[] = [];
  private bytes = 0;
  private scheduled = false;

  constructor(
    private readonly socket: WebSocket,
    private readonly tcp: Socket,
  ) {}

  /** Bytes queued and not yet handed to the TCP socket (headers included). */
  get pendingBytes(): number {
    return this.bytes;
  }

  /** Queues one text frame whose payload is `a`, `b` and `c` (UTF-8) one after the other. */
  text(a: Buffer, b?: Buffer, c?: Buffer): void {
    if (this.socket.readyState !== this.socket.OPEN) return;
    let n = a.length;
    let count = 1;
    this.parts.push(a);
    if (b) {
      n += b.length;
      count += 1;
      this.parts.push(b);
    }
    if (c) {
      n += c.length;
      count += 1;
      this.parts.push(c);
    }
    this.frames.push(n, count);
    this.bytes += headerBytes(n) + n;
    if (!this.scheduled) {
      this.scheduled = true;
      process.nextTick(flushQueue, this);
    }
  }

  /** Writes what is queued now (before a close frame, or at the end of the burst). */
  flush(): void {
    this.scheduled = false;
    if (this.frames.length === 0) return;
    const { parts, frames } = this;
    const total = this.bytes;
    this.parts = [];
    this.frames = [];
    this.bytes = 0;
    if (this.socket.readyState !== this.socket.OPEN) return;
    // Large parts go by reference: the copied bytes are the total less those.
    let copied = total;
    for (const part of parts) if (part.length >= COPY_LIMIT_BYTES) copied -= part.length;
    if (copied === total) return void this.tcp.write(fill(Buffer.allocUnsafe(total), parts, frames));
    this.writeWithLargeParts(parts, frames);
  }

  /** Small parts and headers copied into runs, large parts written as they are, in one corked batch. */
  private writeWithLargeParts(parts: Buffer[], frames: number[]): void {
    this.tcp.cork();
    let run: Buffer[] = [];
    let runBytes = 0;
    const endRun = (): void => {
      if (runBytes === 0) return;
      this.tcp.write(run.length === 1 ? (run[0] as Buffer) : Buffer.concat(run, runBytes));
      run = [];
      runBytes = 0;
    };
    let p = 0;
    for (let f = 0; f < frames.length; f += 2) {
      const n = frames[f] as number;
      const header = Buffer.allocUnsafe(headerBytes(n));
      writeHeader(header, 0, n);
      run.push(header);
      runBytes += header.length;
      for (const end = p + (frames[f + 1] as number); p < end; p++) {
        const part = parts[p] as Buffer;
        if (part.length < COPY_LIMIT_BYTES) {
          run.push(part);
          runBytes += part.length;
        } else {
          endRun();
          this.tcp.write(part);
        }
      }
    }
    endRun();
    this.tcp.uncork();
  }
}

/** Headers and parts of every frame, copied into `out` (exactly their size). */
function fill(out: Buffer, parts: readonly Buffer[], frames: readonly number[]): Buffer {
  let at = 0;
  let p = 0;
  for (let f = 0; f < frames.length; f += 2) {
    at = writeHeader(out, at, frames[f] as number);
    for (const end = p + (frames[f + 1] as number); p < end; p++) {
      const part = parts[p] as Buffer;
      out.set(part, at);
      at += part.length;
    }
  }
  return out;
}

function flushQueue(queue: FrameQueue): void {
  queue.flush();
}
