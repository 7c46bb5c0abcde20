// The "newc" cpio format the kernel unpacks as an initramfs
// (Documentation/driver-api/early-userspace/buffer-format.rst), written here rather than by
// cpio(1) so that archive paths need not match host paths and no staging copy is made.
import { createHash } from 'node:crypto';
import { createWriteStream } from 'node:fs';
import { readFile, rename } from 'node:fs/promises';
import { Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { createGzip } from 'node:zlib';

/** File type bits of `st_mode` (inode(7)), as newc stores them in its mode field. */
export const FILE_TYPE = Object.freeze({ dir: 0o040000, file: 0o100000, symlink: 0o120000, char: 0o020000 });

const NEWC_MAGIC = '070701';
const TRAILER_NAME = 'TRAILER!!!';

function hex8(value) {
  if (!Number.isInteger(value) || value < 0 || value > 0xffffffff) {
    throw new RangeError(`cpio newc field out of range: ${value}`);
  }
  return value.toString(16).padStart(8, '0');
}

function padTo4(length) {
  return (4 - (length % 4)) % 4;
}

/**
 * One newc header plus its NUL-terminated name, padded so the data that follows starts on a
 * 4-byte boundary, as the kernel's unpacker expects.
 */
export function newcHeader({
  ino,
  mode,
  nlink = 1,
  mtime = 0,
  size = 0,
  rdevMajor = 0,
  rdevMinor = 0,
  name,
}) {
  const nameBytes = Buffer.from(`${name}\0`, 'utf8');
  const fields = [ino, mode, 0, 0, nlink, mtime, size, 0, 0, rdevMajor, rdevMinor, nameBytes.length, 0];
  const head = Buffer.from(NEWC_MAGIC + fields.map(hex8).join(''), 'ascii');
  const padding = Buffer.alloc(padTo4(head.length + nameBytes.length));
  return Buffer.concat([head, nameBytes, padding]);
}

/**
 * The bytes of one archive member. An entry is `{ name, kind, mode, mtime }` plus `data`
 * (Buffer) or `source` (host file to read) for files, `target` for symlinks, `rdev` for devices.
 */
async function* entryChunks(entry, ino) {
  const typeBits = FILE_TYPE[entry.kind];
  if (typeBits === undefined) throw new Error(`cpio: unknown entry kind ${entry.kind} for ${entry.name}`);
  let body = Buffer.alloc(0);
  if (entry.kind === 'file') body = entry.data ?? (await readFile(entry.source));
  else if (entry.kind === 'symlink') body = Buffer.from(entry.target, 'utf8');
  yield newcHeader({
    ino,
    mode: typeBits | (entry.mode & 0o7777),
    nlink: entry.kind === 'dir' ? 2 : 1,
    mtime: entry.mtime ?? 0,
    size: body.length,
    rdevMajor: entry.rdev?.[0] ?? 0,
    rdevMinor: entry.rdev?.[1] ?? 0,
    name: entry.name,
  });
  if (body.length > 0) {
    yield body;
    const padding = padTo4(body.length);
    if (padding > 0) yield Buffer.alloc(padding);
  }
}

/** The whole archive as a stream of chunks: every entry in order, then the trailer. */
export async function* newcArchive(entries) {
  let ino = 1;
  for (const entry of entries) yield* entryChunks(entry, ino++);
  yield newcHeader({ ino: 0, mode: 0, nlink: 1, name: TRAILER_NAME });
}

/**
 * Writes `entries` as a gzip'd newc archive (gzip level 1: the kernel unpacks it under a software
 * CPU, where decompression speed matters more than size). Written to a temporary name first and
 * renamed, so neither an interrupted run nor two runs at once leave a truncated archive.
 */
export async function writeGzipArchive(entries, path) {
  const partial = `${path}.${process.pid}.partial`; // concurrent runs may write the same part
  await pipeline(Readable.from(newcArchive(entries)), createGzip({ level: 1 }), createWriteStream(partial));
  await rename(partial, path);
}

/**
 * A digest of what an archive of `entries` would hold, from metadata only (name, kind, mode,
 * size, mtime, link target, inline data), so an unchanged part is reused without reading it.
 */
export function entriesDigest(entries, salt) {
  const hash = createHash('sha256');
  hash.update(`${salt}\n`);
  for (const e of entries) {
    const inline = e.data ? createHash('sha256').update(e.data).digest('hex') : '';
    hash.update(
      [
        e.name,
        e.kind,
        e.mode,
        e.mtime ?? 0,
        e.size ?? '',
        e.target ?? '',
        e.rdev?.join(':') ?? '',
        inline,
      ].join('\t'),
    );
    hash.update('\n');
  }
  return hash.digest('hex').slice(0, 16);
}
