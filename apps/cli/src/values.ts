import { IMAGE_FORMATS, type ImageFormat } from '@kvm-ts/vmm';
import { InvalidArgumentError } from 'commander';

const SIZE_UNITS: Record<string, number> = { '': 1, K: 1024, M: 1024 ** 2, G: 1024 ** 3 };

/** Parses a memory size such as `256M`, `1G`, `65536K` or a byte count (`--mem`). */
export function parseSize(text: string): number {
  const match = /^(\d+)([KMG]?)(i?B)?$/i.exec(text.trim());
  if (!match) throw new InvalidArgumentError('expected a size such as 256M, 1G or 65536K');
  const bytes = Number(match[1]) * SIZE_UNITS[match[2].toUpperCase()];
  if (!Number.isSafeInteger(bytes)) throw new InvalidArgumentError('size is too large');
  return bytes;
}

/** Parses an address in hex (`0x7c00`) or decimal (`--load-addr`, `--entry`). */
export function parseAddress(text: string): number {
  const value = /^0x[0-9a-f]+$/i.test(text)
    ? Number.parseInt(text, 16)
    : /^\d+$/.test(text)
      ? Number(text)
      : Number.NaN;
  if (!Number.isSafeInteger(value) || value < 0)
    throw new InvalidArgumentError('expected an address such as 0x7c00');
  return value;
}

/** Parses a positive integer (`--cpus`). */
export function parsePositiveInt(text: string): number {
  const value = Number(text);
  if (!Number.isInteger(value) || value < 1) throw new InvalidArgumentError('expected a positive integer');
  return value;
}

/** Parses a positive number of seconds (`--timeout`). */
export function parseSeconds(text: string): number {
  const value = Number(text);
  if (!Number.isFinite(value) || value <= 0)
    throw new InvalidArgumentError('expected a positive number of seconds');
  return value;
}

/** Checks an image format name (`--format`). */
export function parseFormat(text: string): ImageFormat {
  if (!(IMAGE_FORMATS as readonly string[]).includes(text)) {
    throw new InvalidArgumentError(`expected one of ${IMAGE_FORMATS.join(', ')}`);
  }
  return text as ImageFormat;
}
