import { describe, expect, it } from 'vitest';
import { ConfigError } from '../../src/errors.js';
import { createOriginPolicy } from '../../src/server/origins.js';

describe('createOriginPolicy', () => {
  // loadConfig refuses these; one that got here was dropped, and its page got 403 with nothing saying why.
  it('refuses an entry that is not an origin rather than drop it', () => {
    let thrown: unknown;
    try {
      createOriginPolicy({ allowed: ['https://app.example', 'app.example.com', 'localhost:3000'], authOn: true });
    } catch (error) {
      thrown = error;
    }
    expect(thrown).toBeInstanceOf(ConfigError);
    expect(thrown).toMatchObject({ code: 'CONFIG_INVALID', field: 'CORS_ORIGINS' });
    expect((thrown as Error).message).toContain('"app.example.com", "localhost:3000"');
  });

  it('grants listed origins as browsers send them, however they were written', () => {
    const policy = createOriginPolicy({ allowed: [' https://App.Example/ ', 'http://localhost:3000', 'https://other.example:443'], authOn: true });
    expect(policy.isListed('https://app.example')).toBe(true);
    expect(policy.isListed('http://localhost:3000')).toBe(true);
    expect(policy.isListed('https://other.example')).toBe(true);
    expect(policy.isListed('https://evil.example')).toBe(false);
    expect(policy.refusal('https://app.example', 'api.example')).toBeUndefined();
    expect(policy.refusal('null', 'api.example')).toBe('Origin null is not allowed');
  });
});
