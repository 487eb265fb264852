import { randomBytes } from 'node:crypto';
import { hostname } from 'node:os';

/** Stable for the life of a process and unique across restarts: host, pid and a random tag. */
export function createWorkerId(): string {
  return `${hostname()}:${process.pid}:${randomBytes(3).toString('hex')}`;
}
