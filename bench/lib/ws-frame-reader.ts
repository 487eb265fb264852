import { randomFillSync } from 'node:crypto';

/** WebSocket opcodes (RFC 6455 §5.2). */
export const OP_CONTINUATION = 0x0;
export const OP_TEXT = 0x1;
export const OP_BINARY = 0x2;
export const OP_CLOSE = 0x8;
export const OP_PING = 0x9;
export const OP_PONG = 0xa;

/** A message larger than this is refused (the server's events are a few hundred bytes; a replayed chunk ≤ 64 KB). */
const MAX_MESSAGE_BYTES = 16 * 1024 * 1024;

/**
 * Parses a server's WebSocket frames out of the TCP stream, RFC 6455 §5: any split of frames
 * over reads, 7/16/64-bit lengths, fragmented messages (continuation frames, with control frames
 * between them), and the checks a client owes (no mask from a server, no reserved bits, control
 * frames short and unfragmented, continuations only inside a message). Whole messages and
 * control frames go to `onFrame`; a payload is a view of the read buffer, valid during the call.
 */
export class FrameReader {
  private buffered: Buffer | undefined;
  private fragments: Buffer[] = [];
  private fragmentOpcode = -1;
  private fragmentBytes = 0;

  /**
   * Parses what `chunk` completes. `onFrame` returns false to stop (the socket is closing).
   * Returns a protocol error's description, or undefined.
   */
  push(chunk: Buffer, onFrame: (opcode: number, payload: Buffer) => boolean): string | undefined {
    let buf = chunk;
    if (this.buffered) {
      buf = Buffer.concat([this.buffered, chunk]);
      this.buffered = undefined;
    }
    let at = 0;
    const end = buf.length;
    while (end - at >= 2) {
      const b0 = buf[at] as number;
      const b1 = buf[at + 1] as number;
      const fin = (b0 & 0x80) !== 0;
      const opcode = b0 & 0x0f;
      if ((b0 & 0x70) !== 0) return 'reserved bits set (no extension was negotiated)';
      if ((b1 & 0x80) !== 0) return 'a masked frame from the server';
      let len = b1 & 0x7f;
      let header = 2;
      if (len === 126) {
        if (end - at < 4) break;
        len = buf.readUInt16BE(at + 2);
        header = 4;
      } else if (len === 127) {
        if (end - at < 10) break;
        const high = buf.readUInt32BE(at + 2);
        if (high !== 0) return 'a frame over 4 GB';
        len = buf.readUInt32BE(at + 6);
        header = 10;
      }
      if (len > MAX_MESSAGE_BYTES) return `a frame of ${len} bytes`;
      if (end - at < header + len) break;
      const payload = buf.subarray(at + header, at + header + len);
      at += header + len;
      const problem = this.frame(fin, opcode, payload, onFrame);
      if (problem === false) return undefined;
      if (problem !== true) return problem;
    }
    if (at < end) this.buffered = Buffer.from(buf.subarray(at));
    return undefined;
  }

  /** true: go on; false: stop; a string: a protocol error. */
  private frame(fin: boolean, opcode: number, payload: Buffer, onFrame: (opcode: number, payload: Buffer) => boolean): boolean | string {
    if (opcode >= 0x8) {
      if (opcode !== OP_CLOSE && opcode !== OP_PING && opcode !== OP_PONG) return `reserved opcode ${opcode}`;
      if (!fin || payload.length > 125) return 'a fragmented or long control frame';
      if (opcode === OP_CLOSE && payload.length === 1) return 'a close frame of 1 byte';
      return onFrame(opcode, payload);
    }
    if (opcode === OP_CONTINUATION) {
      if (this.fragmentOpcode < 0) return 'a continuation frame outside a message';
      this.fragmentBytes += payload.length;
      if (this.fragmentBytes > MAX_MESSAGE_BYTES) return `a message over ${MAX_MESSAGE_BYTES} bytes`;
      this.fragments.push(Buffer.from(payload));
      if (!fin) return true;
      const whole = Buffer.concat(this.fragments);
      const first = this.fragmentOpcode;
      this.fragments = [];
      this.fragmentOpcode = -1;
      this.fragmentBytes = 0;
      return onFrame(first, whole);
    }
    if (opcode !== OP_TEXT && opcode !== OP_BINARY) return `reserved opcode ${opcode}`;
    if (this.fragmentOpcode >= 0) return 'a new message inside a fragmented one';
    if (fin) return onFrame(opcode, payload);
    this.fragmentOpcode = opcode;
    this.fragmentBytes = payload.length;
    // A copy: the read buffer it views is reused for the rest of the chunk only as long as this call.
    this.fragments = [Buffer.from(payload)];
    return true;
  }
}

/** A client's frame (masked, as RFC 6455 §5.3 requires of every client frame), FIN set. */
export function maskedFrame(opcode: number, payload: Buffer): Buffer {
  const len = payload.length;
  const header = len < 126 ? 2 : len < 65_536 ? 4 : 10;
  const frame = Buffer.allocUnsafe(header + 4 + len);
  frame[0] = 0x80 | opcode;
  if (header === 2) frame[1] = 0x80 | len;
  else if (header === 4) {
    frame[1] = 0x80 | 126;
    frame.writeUInt16BE(len, 2);
  } else {
    frame[1] = 0x80 | 127;
    frame.writeUInt32BE(0, 2);
    frame.writeUInt32BE(len, 6);
  }
  const mask = frame.subarray(header, header + 4);
  randomFillSync(mask);
  for (let i = 0; i < len; i++) frame[header + 4 + i] = (payload[i] as number) ^ (mask[i & 3] as number);
  return frame;
}
