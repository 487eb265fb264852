import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import { describe, expect, it } from 'vitest';
import { taskwireBin } from '../helpers/spawned-code.js';

// The CLI's output to a pipe is asynchronous: exiting before it drained cut it at the pipe's
// capacity (64 KiB), e.g. `taskwire workflow ID --json | jq` of a 200-step workflow, whenever the
// reader was slower than the command.
describe('taskwire output to a pipe', () => {
  it('is written whole before the process exits, even to a slow reader', async () => {
    const value = `[${'1'.repeat(100_000)}`; // not JSON: the usage error quotes it back, 100 KB on stderr
    // The reader starts a second late: by then the command has written all it will write.
    const script = '"$0" "$1" enqueue math.copysign --args "$2" 2>&1 >/dev/null | (sleep 1; cat)';
    const { stdout } = await promisify(execFile)('sh', ['-c', script, process.execPath, taskwireBin(), value], { maxBuffer: 1 << 20 });
    expect(stdout).toContain(value);
    expect(stdout).toMatch(/Run "taskwire enqueue --help" for usage\.\n$/);
  });
});
