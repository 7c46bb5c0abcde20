import { Layout } from '../layout.js';
import { alignDown } from './align.js';
import { encodeCmdline } from './check.js';
import { modeTables } from './cpu-modes.js';
import { elfSegments } from './elf.js';
import { elfNotes, parseElf } from './elf-file.js';
import { BootImageError } from './errors.js';
import { guestMemoryMap } from './memory-map.js';
import { mpTableWrite } from './mptable.js';
import type { BootPlan, LoadContext, MemoryWrite } from './plan.js';

/** XEN_ELFNOTE_PHYS32_ENTRY (xen/include/public/elfnote.h): the 32-bit physical PVH entry point. */
export const XEN_ELFNOTE_PHYS32_ENTRY = 0x12;
/** `hvm_start_info.magic` (xen/include/public/arch-x86/hvm/start_info.h). */
export const HVM_START_MAGIC = 0x336ec578;
/** Version 1 of the start info has the memory map fields. */
const HVM_START_VERSION = 1;
/** Offsets of the fields of `hvm_start_info` (56 bytes). */
export const StartInfo = {
  MAGIC: 0,
  VERSION: 4,
  FLAGS: 8,
  NR_MODULES: 12,
  MODLIST_PADDR: 16,
  CMDLINE_PADDR: 24,
  RSDP_PADDR: 32,
  MEMMAP_PADDR: 40,
  MEMMAP_ENTRIES: 48,
} as const;
/** Where the VMM puts the memory map (`hvm_memmap_table_entry`, 24 bytes each) and module list (32 bytes each). */
const MEMMAP_OFFSET = 0x100;
const MODLIST_OFFSET = 0x400;
const MEMMAP_ENTRY_SIZE = 24;

/** Options of {@link loadPvh}. */
export interface PvhOptions {
  cmdline?: string;
  initrd?: Uint8Array;
  initrdFile?: string;
}

/** The PVH entry address from an ELF's Xen notes, or null when it has none. */
export function pvhEntry(image: Uint8Array, file: string): number | null {
  const elf = parseElf(image, file);
  const note = elfNotes(image, elf, file).find(
    (n) => n.name === 'Xen' && n.type === XEN_ELFNOTE_PHYS32_ENTRY,
  );
  if (!note) return null;
  if (note.desc.length < 4) {
    throw new BootImageError(file, 'truncated', 'the Xen PHYS32_ENTRY note is shorter than 4 bytes');
  }
  return new DataView(note.desc.buffer, note.desc.byteOffset, note.desc.byteLength).getUint32(0, true);
}

/**
 * An ELF kernel (Linux's vmlinux) through its PVH entry: segments at their physical addresses, an
 * `hvm_start_info` with the command line, the memory map and the initramfs as module 0, and the MP table; entered in 32-bit flat
 * protected mode with paging off and EBX = the start info (Xen's docs/misc/pvh.pandoc).
 */
export function loadPvh(image: Uint8Array, ctx: LoadContext, options: PvhOptions = {}): BootPlan {
  const elf = parseElf(image, ctx.file);
  const entry = pvhEntry(image, ctx.file);
  if (entry === null) {
    throw new BootImageError(ctx.file, 'unsupported', 'the ELF file has no PVH entry (Xen ELF note 0x12)');
  }
  const kernel = elfSegments(image, elf, ctx);
  const info = new Uint8Array(0x1000);
  const view = new DataView(info.buffer);
  const base = Layout.PVH_START_INFO;
  view.setUint32(StartInfo.MAGIC, HVM_START_MAGIC, true);
  view.setUint32(StartInfo.VERSION, HVM_START_VERSION, true);
  const writes: MemoryWrite[] = [...modeTables('protected'), mpTableWrite(ctx.cpus ?? 1), ...kernel.writes];

  const cmdline = encodeCmdline(ctx.file, options.cmdline ?? '', Layout.CMDLINE_MAX);
  writes.push({ addr: Layout.CMDLINE, bytes: cmdline, what: 'command line' });
  view.setBigUint64(StartInfo.CMDLINE_PADDR, BigInt(Layout.CMDLINE), true);

  if (options.initrd) {
    const initrdFile = options.initrdFile ?? 'initramfs';
    const addr = alignDown(ctx.ramSize - options.initrd.length, 0x1000);
    if (addr < kernel.end) {
      throw new BootImageError(
        initrdFile,
        'outside-ram',
        `the initramfs (${options.initrd.length} bytes) does not fit above the kernel; give more memory with --mem`,
      );
    }
    writes.push({ addr, bytes: options.initrd, what: 'initramfs' });
    view.setUint32(StartInfo.NR_MODULES, 1, true);
    view.setBigUint64(StartInfo.MODLIST_PADDR, BigInt(base + MODLIST_OFFSET), true);
    view.setBigUint64(MODLIST_OFFSET, BigInt(addr), true);
    view.setBigUint64(MODLIST_OFFSET + 8, BigInt(options.initrd.length), true);
  }

  const ranges = guestMemoryMap(ctx.ramSize);
  ranges.forEach((range, i) => {
    const at = MEMMAP_OFFSET + i * MEMMAP_ENTRY_SIZE;
    view.setBigUint64(at, BigInt(range.addr), true);
    view.setBigUint64(at + 8, BigInt(range.size), true);
    view.setUint32(at + 16, range.type, true);
  });
  view.setBigUint64(StartInfo.MEMMAP_PADDR, BigInt(base + MEMMAP_OFFSET), true);
  view.setUint32(StartInfo.MEMMAP_ENTRIES, ranges.length, true);
  writes.push({ addr: base, bytes: info, what: 'PVH start info' });
  return {
    format: 'pvh',
    writes,
    zeros: kernel.zeros,
    cpu: { mode: 'protected', entry, regs: { rbx: BigInt(base), rsp: BigInt(Layout.BOOT_STACK_TOP) } },
  };
}
