import { readdirSync, readFileSync, statSync } from 'node:fs';
import { builtinModules } from 'node:module';
import { dirname, join, relative } from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';

// @kvm-ts/core and @kvm-ts/emulator must run in a browser later: nothing in their shipped sources may import a
// Node built-in, with or without the node: prefix, statically or dynamically.
const packagesDir = join(dirname(fileURLToPath(import.meta.url)), '..', '..');
const builtins = new Set(builtinModules.flatMap((name) => [name, `node:${name}`]));
const importSpecifier = /(?:\bfrom\s*|\bimport\s*\(\s*|\bimport\s+|\brequire\s*\(\s*)['"]([^'"]+)['"]/g;

function sourceFiles(dir: string): string[] {
  return readdirSync(dir).flatMap((name) => {
    const path = join(dir, name);
    if (statSync(path).isDirectory()) return sourceFiles(path);
    return /\.(ts|js|mjs)$/.test(name) && !/\.test\.ts$/.test(name) ? [path] : [];
  });
}

function nodeImports(pkg: string): string[] {
  const src = join(packagesDir, pkg, 'src');
  return sourceFiles(src).flatMap((file) => {
    const text = readFileSync(file, 'utf8');
    return [...text.matchAll(importSpecifier)]
      .map((match) => match[1])
      .filter((specifier) => builtins.has(specifier) || specifier.startsWith('node:'))
      .map((specifier) => `${relative(packagesDir, file)} imports ${specifier}`);
  });
}

describe('browser portability', () => {
  it('finds a node: import when there is one', () => {
    const text = "import { readFileSync } from 'node:fs';\nconst p = await import('path');";
    const found = [...text.matchAll(importSpecifier)].map((m) => m[1]);
    expect(found).toEqual(['node:fs', 'path']);
  });

  for (const pkg of ['core', 'emulator']) {
    it(`@kvm-ts/${pkg} imports nothing from Node built-ins`, () => {
      expect(nodeImports(pkg)).toEqual([]);
    });
  }
});
