import { Layout } from '../layout.js';
import { requireInRam } from './check.js';
import { modeTables } from './cpu-modes.js';
import { type ElfFile, parseElf, SegmentType } from './elf-file.js';
import { BootImageError } from './errors.js';
import type { BootPlan, LoadContext, MemoryWrite, MemoryZero } from './plan.js';

/** The PT_LOAD segments of `elf` as writes at their physical addresses, with their bss as zeros. */
export function elfSegments(
  image: Uint8Array,
  elf: ElfFile,
  ctx: LoadContext,
): { writes: MemoryWrite[]; zeros: MemoryZero[]; end: number } {
  const writes: MemoryWrite[] = [];
  const zeros: MemoryZero[] = [];
  let end = 0;
  elf.segments.forEach((segment, i) => {
    if (segment.type !== SegmentType.LOAD || segment.memsz === 0) return;
    const what = `ELF segment ${i}`;
    requireInRam(ctx, segment.paddr, segment.memsz, what);
    writes.push({
      addr: segment.paddr,
      bytes: image.subarray(segment.offset, segment.offset + segment.filesz),
      what,
    });
    if (segment.memsz > segment.filesz) {
      zeros.push({
        addr: segment.paddr + segment.filesz,
        size: segment.memsz - segment.filesz,
        what: `${what} bss`,
      });
    }
    end = Math.max(end, segment.paddr + segment.memsz);
  });
  if (writes.length === 0) {
    throw new BootImageError(ctx.file, 'unsupported', 'the ELF file has no loadable segment');
  }
  return { writes, zeros, end };
}

/**
 * The physical address of `entry`: itself when a segment is loaded there, otherwise translated through the
 * segment whose virtual range holds it (kernels linked high but loaded low).
 */
export function physicalEntry(elf: ElfFile, entry: bigint, ctx: LoadContext): number {
  const loads = elf.segments.filter((s) => s.type === SegmentType.LOAD);
  const direct = loads.find((s) => entry >= BigInt(s.paddr) && entry < BigInt(s.paddr + s.memsz));
  if (direct) return Number(entry);
  const holder = loads.find((s) => entry >= s.vaddr && entry < s.vaddr + BigInt(s.memsz));
  if (holder) return Number(entry - holder.vaddr) + holder.paddr;
  throw new BootImageError(
    ctx.file,
    'unsupported',
    `entry point 0x${entry.toString(16)} is in no loadable segment`,
  );
}

/**
 * An ELF executable loaded at its segments' physical addresses: ELF32 entered in flat 32-bit protected mode
 * with paging off, ELF64 in long mode on the VMM's identity map. The stack starts at BOOT_STACK_TOP.
 */
export function loadElf(image: Uint8Array, ctx: LoadContext): BootPlan {
  const elf = parseElf(image, ctx.file);
  const { writes, zeros } = elfSegments(image, elf, ctx);
  const mode = elf.bits === 64 ? 'long' : 'protected';
  return {
    format: `elf${elf.bits}`,
    writes: [...modeTables(mode), ...writes],
    zeros,
    cpu: { mode, entry: physicalEntry(elf, elf.entry, ctx), regs: { rsp: BigInt(Layout.BOOT_STACK_TOP) } },
  };
}
