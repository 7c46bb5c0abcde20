/**
 * The emulator must run in browsers later: nothing under src/ may import a Node built-in.
 */
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';

function sources(dir: string): string[] {
  return readdirSync(dir, { withFileTypes: true }).flatMap((entry) => {
    const path = join(dir, entry.name);
    if (entry.isDirectory()) return sources(path);
    return entry.name.endsWith('.ts') && !entry.name.endsWith('.test.ts') ? [path] : [];
  });
}

describe('browser safety', () => {
  it('no source file imports a node: module or a Node built-in', () => {
    const src = fileURLToPath(new URL('../src', import.meta.url));
    const files = sources(src);
    expect(files.length).toBeGreaterThan(20);
    const offenders = files.filter((file) =>
      /from\s+['"](node:|fs['"]|path['"]|os['"]|child_process['"]|worker_threads['"])/.test(
        readFileSync(file, 'utf8'),
      ),
    );
    expect(offenders).toEqual([]);
  });
});
