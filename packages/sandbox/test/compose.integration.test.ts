import { execFile } from 'node:child_process';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { describe, expect, it } from 'vitest';

const run = promisify(execFile);
const composeFile = fileURLToPath(new URL('../../../docker-compose.yml', import.meta.url));

async function validate(file: string): Promise<{ ok: boolean; stderr: string }> {
  try {
    await run('docker-compose', ['-f', file, 'config', '-q']);
    return { ok: true, stderr: '' };
  } catch (error) {
    return { ok: false, stderr: (error as { stderr?: string }).stderr ?? String(error) };
  }
}

describe('docker-compose.yml', () => {
  it('is accepted by docker-compose config', async () => {
    const result = await validate(composeFile);
    expect(result.stderr).toBe('');
    expect(result.ok).toBe(true);
  });

  it('is checked by a validator that does reject a broken file', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'swb-compose-'));
    try {
      const broken = join(dir, 'docker-compose.yml');
      await writeFile(
        broken,
        'services:\n  db:\n    image: mariadb\n    depends_on: { nope: { condition: sometimes } }\n',
      );
      const result = await validate(broken);
      expect(result.ok).toBe(false);
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });
});
