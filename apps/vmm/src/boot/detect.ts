import { isBzImage, loadBzImage } from './bzimage.js';
import { loadElf } from './elf.js';
import { isElf } from './elf-file.js';
import { BootImageError } from './errors.js';
import { loadFlat } from './flat.js';
import { findMultibootHeader, loadMultiboot } from './multiboot.js';
import type { BootPlan, CpuMode, LoadContext } from './plan.js';
import { loadPvh, pvhEntry } from './pvh.js';

/** The image formats `loadImage` knows; `auto` detects one. */
export const IMAGE_FORMATS = ['auto', 'flat', 'elf', 'multiboot', 'bzimage', 'pvh'] as const;
/** One of {@link IMAGE_FORMATS}. */
export type ImageFormat = (typeof IMAGE_FORMATS)[number];

/**
 * The format of `image`, by content: a bzImage's "HdrS", a multiboot header in the first 8 KiB (so a multiboot
 * ELF gets its information structure), an ELF with a PVH note, any other ELF, and otherwise a flat binary.
 */
export function detectFormat(image: Uint8Array, file: string): Exclude<ImageFormat, 'auto'> {
  if (isBzImage(image)) return 'bzimage';
  if (findMultibootHeader(image)) return 'multiboot';
  if (isElf(image)) return pvhEntry(image, file) === null ? 'elf' : 'pvh';
  return 'flat';
}

/** Everything `loadImage` may use; each format takes the parts that apply to it and refuses the rest. */
export interface LoadImageOptions extends LoadContext {
  format?: ImageFormat;
  /** Flat images only. */
  mode?: CpuMode;
  loadAddr?: number;
  entry?: number;
  cmdline?: string;
  initrd?: Uint8Array;
  initrdFile?: string;
}

function refuse(options: LoadImageOptions, format: string, names: (keyof LoadImageOptions)[]): void {
  for (const name of names) {
    if (options[name] !== undefined) {
      throw new BootImageError(
        options.file,
        'bad-option',
        `--${optionFlag(name)} does not apply to a ${format} image`,
      );
    }
  }
}

function optionFlag(name: keyof LoadImageOptions): string {
  return (
    { mode: 'mode', loadAddr: 'load-addr', entry: 'entry', cmdline: 'append', initrd: 'initrd' }[
      name as string
    ] ?? name
  );
}

/** Loads `image` in the given (or detected) format: the one entry point a VMM needs. */
export function loadImage(image: Uint8Array, options: LoadImageOptions): BootPlan {
  const format =
    !options.format || options.format === 'auto' ? detectFormat(image, options.file) : options.format;
  const ctx: LoadContext = { file: options.file, ramSize: options.ramSize, cpus: options.cpus };
  switch (format) {
    case 'flat':
      refuse(options, format, ['cmdline', 'initrd']);
      return loadFlat(image, ctx, { mode: options.mode, loadAddr: options.loadAddr, entry: options.entry });
    case 'elf':
      refuse(options, format, ['mode', 'loadAddr', 'entry', 'cmdline', 'initrd']);
      return loadElf(image, ctx);
    case 'multiboot':
      refuse(options, format, ['mode', 'loadAddr', 'entry']);
      return loadMultiboot(image, ctx, {
        cmdline: options.cmdline,
        modules: options.initrd ? [{ name: options.initrdFile ?? 'module', bytes: options.initrd }] : [],
      });
    case 'bzimage':
      refuse(options, format, ['mode', 'loadAddr', 'entry']);
      return loadBzImage(image, ctx, {
        cmdline: options.cmdline,
        initrd: options.initrd,
        initrdFile: options.initrdFile,
      });
    case 'pvh':
      refuse(options, format, ['mode', 'loadAddr', 'entry']);
      return loadPvh(image, ctx, {
        cmdline: options.cmdline,
        initrd: options.initrd,
        initrdFile: options.initrdFile,
      });
  }
}
