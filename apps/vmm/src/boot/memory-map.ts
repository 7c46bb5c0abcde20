import { Layout } from '../layout.js';

/** E820 / multiboot / PVH memory-map range types. */
export const MemoryType = {
  RAM: 1,
  RESERVED: 2,
} as const;

/** One range of the guest's physical memory map. */
export interface MemoryRange {
  readonly addr: number;
  readonly size: number;
  readonly type: number;
}

/**
 * The memory map every boot protocol reports: conventional RAM below the EBDA, the legacy hole (EBDA, VGA,
 * BIOS) reserved up to 1 MiB, and RAM from 1 MiB to the end of guest RAM.
 */
export function guestMemoryMap(ramSize: number): MemoryRange[] {
  const ranges: MemoryRange[] = [
    { addr: 0, size: Layout.EBDA_START, type: MemoryType.RAM },
    { addr: Layout.EBDA_START, size: Layout.HIGH_MEMORY - Layout.EBDA_START, type: MemoryType.RESERVED },
  ];
  if (ramSize > Layout.HIGH_MEMORY) {
    ranges.push({ addr: Layout.HIGH_MEMORY, size: ramSize - Layout.HIGH_MEMORY, type: MemoryType.RAM });
  }
  return ranges;
}
