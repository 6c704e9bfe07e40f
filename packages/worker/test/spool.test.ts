import { describe, expect, it } from 'vitest';
import { WorkerSpoolPathError, resolveSpoolPath } from '../src/index.js';

function refusal(path: string): string {
  try {
    resolveSpoolPath('/var/spool/swb', path);
  } catch (error) {
    if (error instanceof WorkerSpoolPathError) return error.message;
    throw error;
  }
  throw new Error(`expected ${path} to be refused`);
}

describe('spool paths', () => {
  it('resolves a relative path inside the spool directory', () => {
    expect(resolveSpoolPath('/var/spool/swb', 'pbx-1/2026/rec.wav')).toBe(
      '/var/spool/swb/pbx-1/2026/rec.wav',
    );
    expect(resolveSpoolPath('/var/spool/swb/', './a/../b.wav')).toBe('/var/spool/swb/b.wav');
    expect(resolveSpoolPath('/var/spool/swb', '..hidden.wav')).toBe('/var/spool/swb/..hidden.wav');
  });

  it('refuses anything that climbs out, is absolute, or names the directory itself', () => {
    expect(refusal('../etc/passwd')).toContain('resolves outside the spool directory');
    expect(refusal('a/../../swb2/x')).toContain('resolves outside');
    expect(refusal('/etc/passwd')).toContain('is absolute');
    expect(refusal('.')).toContain('resolves outside');
    expect(refusal('a\0b')).toContain('NUL');
  });
});
