// Run with: node --test tools/nested-kvm/
// Checks the newc writer against GNU cpio, an independent reader of the same format.
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, readlinkSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { gunzipSync } from 'node:zlib';
import { findCommand } from './apt.mjs';
import { entriesDigest, newcHeader, writeGzipArchive } from './cpio.mjs';

const cpio = findCommand('cpio');
const noCpio = cpio === null ? 'GNU cpio is not installed (apt-get install cpio)' : false;
if (noCpio) console.log(`cpio.test.mjs: reading back with cpio skipped: ${noCpio}`);

describe('newcHeader', () => {
  it('is 110 bytes of magic and hex fields, then the name, padded to 4 bytes', () => {
    const header = newcHeader({ ino: 1, mode: 0o100644, size: 5, name: 'ab' });
    assert.equal(header.length, 116); // 110 + "ab\0" = 113, padded to 116
    const text = header.toString('latin1');
    assert.equal(text.slice(0, 6), '070701');
    assert.equal(text.slice(6 + 8 * 1, 6 + 8 * 2), '000081a4'); // mode
    assert.equal(text.slice(6 + 8 * 6, 6 + 8 * 7), '00000005'); // filesize
    assert.equal(text.slice(6 + 8 * 11, 6 + 8 * 12), '00000003'); // namesize, with the NUL
    assert.equal(text.slice(110), 'ab\0\0\0\0');
    assert.throws(() => newcHeader({ ino: 2 ** 32, mode: 0, name: 'x' }), RangeError);
  });
});

describe('writeGzipArchive', () => {
  let dir;
  before(() => {
    dir = mkdtempSync(join(tmpdir(), 'nested-kvm-cpio-test-'));
  });
  after(() => rmSync(dir, { recursive: true, force: true }));

  it('writes directories, files of every padding, symlinks and devices cpio reads back', {
    skip: noCpio,
  }, async () => {
    const source = join(dir, 'source.bin');
    writeFileSync(source, Buffer.from([0, 1, 2, 3, 4, 5, 6]));
    const entries = [
      { name: 'd', kind: 'dir', mode: 0o755 },
      { name: 'd/sub', kind: 'dir', mode: 0o700 },
      ...[0, 1, 2, 3, 4].map((n) => ({
        name: `d/f${n}`,
        kind: 'file',
        mode: 0o640,
        data: Buffer.alloc(n, 65 + n),
      })),
      { name: 'd/sub/from-host', kind: 'file', mode: 0o755, source },
      { name: 'd/link', kind: 'symlink', mode: 0o777, target: 'sub/from-host' },
      { name: 'd/console', kind: 'char', mode: 0o600, rdev: [5, 1] },
    ];
    const archive = join(dir, 'a.cpio.gz');
    await writeGzipArchive(entries, archive);
    const raw = gunzipSync(readFileSync(archive));
    assert.equal(raw.length % 4, 0);

    const listing = execFileSync(cpio, ['-itv', '--quiet'], { input: raw, encoding: 'utf8' })
      .trim()
      .split('\n');
    assert.equal(listing.length, entries.length);
    const kinds = listing.map((line) => line[0]);
    assert.deepEqual(kinds, ['d', 'd', '-', '-', '-', '-', '-', '-', 'l', 'c']);
    assert.match(listing[1], /^drwx------ /);
    assert.match(listing[8], /d\/link -> sub\/from-host$/);
    assert.match(listing[9], /^crw------- .* 5,\s+1 /);

    const out = join(dir, 'out');
    // Everything but the device node, which only root may create.
    execFileSync(
      cpio,
      ['-id', '--quiet', '--no-absolute-filenames', '-D', out, '--nonmatching', 'd/console'],
      {
        input: raw,
      },
    );
    for (const n of [0, 1, 2, 3, 4])
      assert.deepEqual(readFileSync(join(out, `d/f${n}`)), Buffer.alloc(n, 65 + n));
    assert.deepEqual(readFileSync(join(out, 'd/sub/from-host')), readFileSync(source));
    assert.equal(statSync(join(out, 'd/sub/from-host')).mode & 0o777, 0o755);
    assert.equal(readlinkSync(join(out, 'd/link')), 'sub/from-host');
  });
});

describe('entriesDigest', () => {
  it('changes with any metadata or inline data and with the salt, not otherwise', () => {
    const base = [{ name: 'f', kind: 'file', mode: 0o644, mtime: 1, size: 3, source: '/x' }];
    const digest = entriesDigest(base, 's');
    assert.equal(entriesDigest(structuredClone(base), 's'), digest);
    assert.notEqual(entriesDigest(base, 't'), digest);
    assert.notEqual(entriesDigest([{ ...base[0], mtime: 2 }], 's'), digest);
    assert.notEqual(entriesDigest([{ ...base[0], size: 4 }], 's'), digest);
    assert.notEqual(entriesDigest([{ ...base[0], mode: 0o755 }], 's'), digest);
    const inline = [{ name: 'i', kind: 'file', mode: 0o644, data: Buffer.from('a') }];
    assert.notEqual(
      entriesDigest(inline, 's'),
      entriesDigest([{ ...inline[0], data: Buffer.from('b') }], 's'),
    );
  });
});
