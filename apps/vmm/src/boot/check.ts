import { BootImageError } from './errors.js';
import type { LoadContext } from './plan.js';

/** Raises a {@link BootImageError} unless [addr, addr + size) lies inside guest RAM. */
export function requireInRam(ctx: LoadContext, addr: number, size: number, what: string): void {
  if (addr < 0 || size < 0 || addr + size > ctx.ramSize) {
    const end = addr + size;
    throw new BootImageError(
      ctx.file,
      'outside-ram',
      `${what} at 0x${addr.toString(16)}-0x${end.toString(16)} lies outside guest RAM (0-0x${ctx.ramSize.toString(16)}); give more memory with --mem`,
    );
  }
}

/** Raises a {@link BootImageError} of kind `truncated` unless `image` has at least `end` bytes. */
export function requireBytes(file: string, image: Uint8Array, end: number, what: string): void {
  if (image.length < end) {
    throw new BootImageError(
      file,
      'truncated',
      `truncated: ${what} needs ${end} bytes, the file has ${image.length}`,
    );
  }
}

/** The command line as NUL-terminated ASCII, refused when longer than `max` bytes with its NUL. */
export function encodeCmdline(file: string, cmdline: string, max: number): Uint8Array {
  const bytes = new TextEncoder().encode(`${cmdline}\0`);
  if (bytes.length > max) {
    throw new BootImageError(
      file,
      'bad-option',
      `command line is ${bytes.length - 1} bytes; this kernel takes at most ${max - 1}`,
    );
  }
  return bytes;
}
