// Run with: node --test tools/nested-kvm/
import assert from 'node:assert/strict';
import { mkdirSync, mkdtempSync, realpathSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { EntrySet, parseLddOutput } from './host-files.mjs';

describe('parseLddOutput', () => {
  it('lists libraries and the loader, and names what ldd cannot find', () => {
    const output = [
      '\tlinux-vdso.so.1 (0x00007ffd2b5f1000)',
      '\tlibstdc++.so.6 => /lib/x86_64-linux-gnu/libstdc++.so.6 (0x00007f0a1c000000)',
      '\tlibc.musl-x86_64.so.1 => not found',
      '\t/lib64/ld-linux-x86-64.so.2 (0x00007f0a1c4c2000)',
    ].join('\n');
    assert.deepEqual(parseLddOutput(output), {
      paths: ['/lib/x86_64-linux-gnu/libstdc++.so.6', '/lib64/ld-linux-x86-64.so.2'],
      missing: ['libc.musl-x86_64.so.1'],
    });
  });
});

describe('EntrySet', () => {
  let root;
  before(() => {
    root = realpathSync(mkdtempSync(join(tmpdir(), 'nested-kvm-entries-test-')));
    mkdirSync(join(root, 'usr/lib'), { recursive: true });
    writeFileSync(join(root, 'usr/lib/libx.so.1.2'), 'x');
    symlinkSync('libx.so.1.2', join(root, 'usr/lib/libx.so.1'));
    symlinkSync('usr/lib', join(root, 'lib'));
    mkdirSync(join(root, 'tree/sub'), { recursive: true });
    writeFileSync(join(root, 'tree/sub/a'), 'a');
    symlinkSync('../usr/lib/libx.so.1', join(root, 'tree/link'));
  });
  after(() => rmSync(root, { recursive: true, force: true }));

  const name = (path) => path.slice(1);

  it('keeps symlinks on the way as links and adds what they point to, parents first', () => {
    const entries = new EntrySet();
    entries.addHostPath(join(root, 'lib/libx.so.1'));
    const list = entries.entries;
    const index = (path) => list.findIndex((entry) => entry.name === name(path));
    const lib = list[index(join(root, 'lib'))];
    assert.equal(lib.kind, 'symlink');
    assert.equal(lib.target, 'usr/lib');
    assert.equal(list[index(join(root, 'usr/lib/libx.so.1'))].target, 'libx.so.1.2');
    const file = list[index(join(root, 'usr/lib/libx.so.1.2'))];
    assert.equal(file.kind, 'file');
    assert.equal(file.size, 1);
    assert.ok(index(join(root, 'usr')) < index(join(root, 'usr/lib')));
    assert.ok(index(join(root, 'usr/lib')) < index(join(root, 'usr/lib/libx.so.1.2')));
    assert.equal(new Set(list.map((entry) => entry.name)).size, list.length);
  });

  it('walks a tree, reports its links without following them, and honours skip and provided', () => {
    const provided = new Set([name(join(root, 'tree/sub/a'))]);
    const entries = new EntrySet(provided);
    const links = [];
    entries.addHostTree(join(root, 'tree'), {
      skip: (path) => path.endsWith('/never'),
      onSymlink: (path, target) => links.push([path, target]),
    });
    const names = entries.entries.map((entry) => entry.name);
    assert.ok(names.includes(name(join(root, 'tree/sub'))));
    assert.ok(names.includes(name(join(root, 'tree/link'))));
    assert.ok(!names.includes(name(join(root, 'tree/sub/a'))), 'provided by an earlier part');
    assert.ok(!names.includes(name(join(root, 'usr/lib/libx.so.1.2'))), 'links are not followed');
    assert.deepEqual(links, [[join(root, 'tree/link'), join(root, 'usr/lib/libx.so.1')]]);
    assert.ok(entries.names.has(name(join(root, 'tree/sub/a'))));
  });
});
