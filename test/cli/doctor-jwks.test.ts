import { describe, expect, it } from 'vitest';
import { fetchJwks } from '../../src/cli/doctor.js';

describe('fetchJwks', () => {
  // fetch quotes a URL with credentials whole in its error; the doctor printed it after the masked one.
  it('says why a JWKS URL with a password cannot be fetched without showing the password', async () => {
    const result = await fetchJwks('https://user:hunter2secret@127.0.0.1:1/jwks', 500);
    expect(result).toHaveProperty('problem');
    const { problem } = result as { problem: string };
    expect(problem).toContain('https://user:***@127.0.0.1:1/jwks cannot be fetched');
    expect(problem).not.toContain('hunter2secret');
  });
});
