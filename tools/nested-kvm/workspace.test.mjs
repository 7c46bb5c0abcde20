// Run with: node --test tools/nested-kvm/
import assert from 'node:assert/strict';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { checkBuilt, workspaceClosure, workspacePackageDirs } from './workspace.mjs';

describe('workspace packages', () => {
  let root;
  const pkg = (dir, manifest, built) => {
    mkdirSync(join(root, dir, 'src'), { recursive: true });
    writeFileSync(
      join(root, dir, 'package.json'),
      JSON.stringify({ scripts: { build: 'tsc -b' }, ...manifest }),
    );
    if (built) {
      mkdirSync(join(root, dir, 'dist'));
      writeFileSync(join(root, dir, 'dist', 'index.js'), '');
    }
  };
  before(() => {
    root = mkdtempSync(join(tmpdir(), 'nested-kvm-workspace-test-'));
    writeFileSync(
      join(root, 'pnpm-workspace.yaml'),
      "packages:\n  - packages/*\n  - 'examples'\nallowBuilds:\n  koffi: false\n",
    );
    pkg(
      'packages/native',
      { name: 'n', dependencies: { c: 'workspace:^', koffi: '3' }, devDependencies: { t: 'workspace:*' } },
      true,
    );
    pkg('packages/core', { name: 'c' }, true);
    pkg('packages/conformance', { name: 't', dependencies: { c: 'workspace:^', u: 'workspace:^' } }, true);
    pkg('packages/util', { name: 'u' }, false);
    pkg('packages/emulator', { name: 'e', dependencies: { c: 'workspace:^' } }, false);
    pkg('examples', { name: 'x', dependencies: { n: 'workspace:*' } }, false);
    mkdirSync(join(root, 'packages', 'not-a-package'));
  });
  after(() => rmSync(root, { recursive: true, force: true }));

  it('lists the packages the yaml names, skipping folders without package.json', () => {
    const dirs = workspacePackageDirs(root).map((dir) => dir.slice(root.length + 1));
    assert.deepEqual(dirs, [
      'packages/conformance',
      'packages/core',
      'packages/emulator',
      'packages/native',
      'packages/util',
      'examples',
    ]);
  });

  it('follows workspace: dependencies and devDependencies transitively from the tested package', () => {
    const closure = workspaceClosure(workspacePackageDirs(root), join(root, 'packages/native'));
    const names = [...closure].map((dir) => dir.slice(root.length + 1)).sort();
    assert.deepEqual(names, ['packages/conformance', 'packages/core', 'packages/native', 'packages/util']);
  });

  it('refuses an unbuilt package the tests need, and only warns about the others', () => {
    const { missing, unbuilt } = checkBuilt(root, workspacePackageDirs(root));
    assert.deepEqual(missing, ['packages/util']);
    assert.deepEqual(unbuilt, ['packages/emulator', 'examples']);
  });
});
