import { Layout } from '../layout.js';
import { alignUp } from './align.js';
import { encodeCmdline, requireBytes, requireInRam } from './check.js';
import { modeTables } from './cpu-modes.js';
import { elfSegments, physicalEntry } from './elf.js';
import { isElf, parseElf } from './elf-file.js';
import { BootImageError } from './errors.js';
import { guestMemoryMap } from './memory-map.js';
import type { BootPlan, LoadContext, MemoryWrite, MemoryZero } from './plan.js';

/** Multiboot v1 constants (Multiboot Specification 0.6.96, section 3). */
const HEADER_MAGIC = 0x1badb002;
/** What the loader leaves in EAX. */
export const MULTIBOOT_BOOTLOADER_MAGIC = 0x2badb002;
/** The header must lie in the first 8 KiB, 32-bit aligned. */
const HEADER_SEARCH = 8192;
/** Header flag bits: page-align modules, want memory info, want video info, a.out kludge addresses valid. */
const FLAG_PAGE_ALIGN = 1 << 0;
const FLAG_MEMORY_INFO = 1 << 1;
const FLAG_VIDEO_MODE = 1 << 2;
const FLAG_AOUT_KLUDGE = 1 << 16;
/** Bits 0-15 a loader must understand or refuse; these are the ones the spec defines. */
const KNOWN_REQUIRED_FLAGS = FLAG_PAGE_ALIGN | FLAG_MEMORY_INFO | FLAG_VIDEO_MODE;

/** `multiboot_info.flags` bits for the fields the VMM fills. */
const INFO_MEMORY = 1 << 0;
const INFO_CMDLINE = 1 << 2;
const INFO_MODS = 1 << 3;
const INFO_MMAP = 1 << 6;
const INFO_LOADER_NAME = 1 << 9;
/** Offsets of the memory map and module list from the start of `multiboot_info`. */
const MMAP_OFFSET = 0x100;
const MODS_OFFSET = 0x400;
const MMAP_ENTRY_SIZE = 24;
const MODULE_ENTRY_SIZE = 16;
const LOADER_NAME = 'kvm-ts';

/** A module handed to the kernel (the multiboot equivalent of an initramfs). */
export interface MultibootModule {
  readonly name: string;
  readonly bytes: Uint8Array;
}

/** Options of {@link loadMultiboot}. */
export interface MultibootOptions {
  cmdline?: string;
  modules?: readonly MultibootModule[];
}

/** The parsed multiboot header, found by {@link findMultibootHeader}. */
export interface MultibootHeader {
  readonly offset: number;
  readonly flags: number;
}

/** Finds a valid multiboot v1 header (magic + flags + checksum = 0) in the first 8 KiB, or null. */
export function findMultibootHeader(image: Uint8Array): MultibootHeader | null {
  const view = new DataView(image.buffer, image.byteOffset, image.byteLength);
  const limit = Math.min(image.length, HEADER_SEARCH) - 12;
  for (let offset = 0; offset <= limit; offset += 4) {
    if (view.getUint32(offset, true) !== HEADER_MAGIC) continue;
    const flags = view.getUint32(offset + 4, true);
    const checksum = view.getUint32(offset + 8, true);
    if (((HEADER_MAGIC + flags + checksum) | 0) === 0) return { offset, flags };
  }
  return null;
}

function loadAoutKludge(image: Uint8Array, header: MultibootHeader, ctx: LoadContext) {
  const view = new DataView(image.buffer, image.byteOffset, image.byteLength);
  requireBytes(ctx.file, image, header.offset + 32, 'the multiboot a.out kludge fields');
  const headerAddr = view.getUint32(header.offset + 12, true);
  const loadAddr = view.getUint32(header.offset + 16, true);
  const loadEndAddr = view.getUint32(header.offset + 20, true);
  const bssEndAddr = view.getUint32(header.offset + 24, true);
  const entry = view.getUint32(header.offset + 28, true);
  if (loadAddr > headerAddr) {
    throw new BootImageError(ctx.file, 'unsupported', 'multiboot load_addr is above header_addr');
  }
  const fileStart = header.offset - (headerAddr - loadAddr);
  if (fileStart < 0) {
    throw new BootImageError(
      ctx.file,
      'unsupported',
      'multiboot header_addr - load_addr points before the file',
    );
  }
  const length = loadEndAddr === 0 ? image.length - fileStart : loadEndAddr - loadAddr;
  requireBytes(ctx.file, image, fileStart + length, 'the multiboot text and data');
  const end = Math.max(loadAddr + length, bssEndAddr);
  requireInRam(ctx, loadAddr, end - loadAddr, 'the multiboot kernel');
  const writes: MemoryWrite[] = [
    { addr: loadAddr, bytes: image.subarray(fileStart, fileStart + length), what: 'the kernel' },
  ];
  const zeros: MemoryZero[] =
    bssEndAddr > loadAddr + length
      ? [{ addr: loadAddr + length, size: bssEndAddr - loadAddr - length, what: 'bss' }]
      : [];
  requireInRam(ctx, entry, 1, 'the entry point');
  return { writes, zeros, end, entry };
}

function loadElfKernel(image: Uint8Array, ctx: LoadContext) {
  const elf = parseElf(image, ctx.file);
  const { writes, zeros, end } = elfSegments(image, elf, ctx);
  return { writes, zeros, end, entry: physicalEntry(elf, elf.entry, ctx) };
}

/**
 * A multiboot v1 kernel (ELF, or any format through the a.out kludge), entered as the specification says:
 * 32-bit flat protected mode, paging off, interrupts off, EAX = 0x2BADB002, EBX = the information structure
 * with memory sizes, the memory map, the command line, modules and the boot loader's name.
 */
export function loadMultiboot(image: Uint8Array, ctx: LoadContext, options: MultibootOptions = {}): BootPlan {
  const header = findMultibootHeader(image);
  if (!header) {
    throw new BootImageError(
      ctx.file,
      'bad-magic',
      'no multiboot header (magic 0x1BADB002 with a valid checksum) in the first 8 KiB',
    );
  }
  const unknown = header.flags & 0xffff & ~KNOWN_REQUIRED_FLAGS;
  if (unknown !== 0) {
    throw new BootImageError(
      ctx.file,
      'unsupported',
      `multiboot header requires features 0x${unknown.toString(16)} this loader does not know`,
    );
  }
  const kernel =
    header.flags & FLAG_AOUT_KLUDGE
      ? loadAoutKludge(image, header, ctx)
      : isElf(image)
        ? loadElfKernel(image, ctx)
        : (() => {
            throw new BootImageError(
              ctx.file,
              'unsupported',
              'multiboot kernel is neither ELF nor flagged a.out kludge (bit 16)',
            );
          })();

  const infoAddr = Layout.MULTIBOOT_INFO;
  const region = new Uint8Array(0x1000);
  const view = new DataView(region.buffer);
  const writes: MemoryWrite[] = [...modeTables('protected'), ...kernel.writes];
  let flags = INFO_MEMORY | INFO_MMAP | INFO_LOADER_NAME;
  view.setUint32(4, Layout.EBDA_START / 1024, true); // mem_lower in KiB
  view.setUint32(8, Math.max(0, ctx.ramSize - Layout.HIGH_MEMORY) / 1024, true); // mem_upper in KiB
  const ranges = guestMemoryMap(ctx.ramSize);
  ranges.forEach((range, i) => {
    const at = MMAP_OFFSET + i * MMAP_ENTRY_SIZE;
    view.setUint32(at, MMAP_ENTRY_SIZE - 4, true); // size excludes the size field itself
    view.setBigUint64(at + 4, BigInt(range.addr), true);
    view.setBigUint64(at + 12, BigInt(range.size), true);
    view.setUint32(at + 20, range.type, true);
  });
  view.setUint32(44, ranges.length * MMAP_ENTRY_SIZE, true);
  view.setUint32(48, infoAddr + MMAP_OFFSET, true);

  // Strings: loader name first, then module names.
  const strings: number[] = [];
  const stringAddr = (text: string): number => {
    const addr = Layout.BOOT_STRINGS + strings.length;
    strings.push(...new TextEncoder().encode(text), 0);
    if (strings.length > 0x1000) {
      throw new BootImageError(
        ctx.file,
        'bad-option',
        'module names are longer than the 4 KiB the VMM keeps for them',
      );
    }
    return addr;
  };
  view.setUint32(64, stringAddr(LOADER_NAME), true);

  if (options.cmdline !== undefined) {
    flags |= INFO_CMDLINE;
    writes.push({
      addr: Layout.CMDLINE,
      bytes: encodeCmdline(ctx.file, options.cmdline, Layout.CMDLINE_MAX),
      what: 'command line',
    });
    view.setUint32(16, Layout.CMDLINE, true);
  }

  const modules = options.modules ?? [];
  if (modules.length > 0) {
    flags |= INFO_MODS;
    if (MODS_OFFSET + modules.length * MODULE_ENTRY_SIZE > region.length) {
      throw new BootImageError(ctx.file, 'bad-option', 'too many multiboot modules');
    }
    let next = alignUp(kernel.end, 0x1000);
    modules.forEach((module, i) => {
      const start = header.flags & FLAG_PAGE_ALIGN ? alignUp(next, 0x1000) : next;
      requireInRam(ctx, start, module.bytes.length, `module ${module.name}`);
      writes.push({ addr: start, bytes: module.bytes, what: `module ${module.name}` });
      const at = MODS_OFFSET + i * MODULE_ENTRY_SIZE;
      view.setUint32(at, start, true);
      view.setUint32(at + 4, start + module.bytes.length, true);
      view.setUint32(at + 8, stringAddr(module.name), true);
      next = alignUp(start + module.bytes.length, 0x1000);
    });
    view.setUint32(20, modules.length, true);
    view.setUint32(24, infoAddr + MODS_OFFSET, true);
  }
  view.setUint32(0, flags, true);
  writes.push({ addr: infoAddr, bytes: region, what: 'multiboot information' });
  writes.push({ addr: Layout.BOOT_STRINGS, bytes: Uint8Array.from(strings), what: 'boot strings' });
  return {
    format: 'multiboot',
    writes,
    zeros: kernel.zeros,
    cpu: {
      mode: 'protected',
      entry: kernel.entry,
      regs: {
        rax: BigInt(MULTIBOOT_BOOTLOADER_MAGIC),
        rbx: BigInt(infoAddr),
        rsp: BigInt(Layout.BOOT_STACK_TOP),
      },
    },
  };
}
