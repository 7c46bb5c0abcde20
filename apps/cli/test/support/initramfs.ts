import { readFileSync } from 'node:fs';
import { gzipSync } from 'node:zlib';

/** One entry of a cpio "newc" archive (the format the kernel unpacks as initramfs). */
interface Entry {
  name: string;
  mode: number;
  data?: Uint8Array;
  rdev?: [number, number];
}

const S_IFDIR = 0o040000;
const S_IFREG = 0o100000;
const S_IFLNK = 0o120000;
const S_IFCHR = 0o020000;

function pad4(parts: Uint8Array[], length: number): void {
  const rest = (4 - (length % 4)) % 4;
  if (rest) parts.push(new Uint8Array(rest));
}

/** Encodes entries as cpio newc (Documentation/driver-api/early-userspace/buffer-format.rst), with the trailer. */
function cpioNewc(entries: Entry[]): Uint8Array {
  const parts: Uint8Array[] = [];
  const all = [...entries, { name: 'TRAILER!!!', mode: 0 }];
  all.forEach((entry, i) => {
    const data = entry.data ?? new Uint8Array(0);
    const name = new TextEncoder().encode(`${entry.name}\0`);
    const fields = [
      i + 1,
      entry.mode,
      0,
      0,
      1,
      0,
      data.length,
      0,
      0,
      entry.rdev?.[0] ?? 0,
      entry.rdev?.[1] ?? 0,
      name.length,
      0,
    ];
    const header = new TextEncoder().encode(
      `070701${fields.map((f) => f.toString(16).padStart(8, '0')).join('')}`,
    );
    parts.push(header, name);
    pad4(parts, header.length + name.length);
    parts.push(data);
    pad4(parts, data.length);
  });
  const out = new Uint8Array(parts.reduce((n, p) => n + p.length, 0));
  let at = 0;
  for (const part of parts) {
    out.set(part, at);
    at += part.length;
  }
  return out;
}

/**
 * A gzip'd initramfs with a static busybox and an `/init` that mounts proc and sys, prints `marker` and
 * starts a shell on the console.
 */
export function busyboxInitramfs(busyboxPath: string, marker: string): Uint8Array {
  const text = (s: string) => new TextEncoder().encode(s);
  const init = `#!/bin/busybox sh\n/bin/busybox mount -t proc proc /proc\n/bin/busybox mount -t sysfs sys /sys\necho ${marker}\nexec /bin/busybox sh\n`;
  const links = ['sh', 'echo', 'mount', 'reboot', 'uname', 'cat'];
  return gzipSync(
    cpioNewc([
      { name: 'bin', mode: S_IFDIR | 0o755 },
      { name: 'dev', mode: S_IFDIR | 0o755 },
      { name: 'dev/console', mode: S_IFCHR | 0o600, rdev: [5, 1] },
      { name: 'proc', mode: S_IFDIR | 0o755 },
      { name: 'sys', mode: S_IFDIR | 0o755 },
      { name: 'bin/busybox', mode: S_IFREG | 0o755, data: new Uint8Array(readFileSync(busyboxPath)) },
      ...links.map((name) => ({ name: `bin/${name}`, mode: S_IFLNK | 0o777, data: text('busybox') })),
      { name: 'init', mode: S_IFREG | 0o755, data: text(init) },
    ]),
    { level: 1 },
  );
}
