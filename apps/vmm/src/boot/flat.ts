import { Layout } from '../layout.js';
import { requireInRam } from './check.js';
import { modeTables } from './cpu-modes.js';
import { BootImageError } from './errors.js';
import type { BootPlan, CpuMode, EntryRegisters, LoadContext } from './plan.js';

/** Options of {@link loadFlat}. */
export interface FlatOptions {
  /** CPU mode to start in; real mode by default, like a boot sector. */
  mode?: CpuMode;
  /** Load address; 0x7c00 in real mode, 1 MiB otherwise. */
  loadAddr?: number;
  /** Entry address; the load address by default. */
  entry?: number;
}

/**
 * A raw binary copied to one address and entered there. In real mode it is entered as a BIOS enters a boot
 * sector (CS:IP = 0000:entry, DL = 0x80 for the first hard disk, SP just below 0x7c00), so a boot sector runs
 * unchanged; in protected or long mode the VMM's flat GDT (and identity map) are in place.
 */
export function loadFlat(image: Uint8Array, ctx: LoadContext, options: FlatOptions = {}): BootPlan {
  const mode = options.mode ?? 'real';
  const loadAddr = options.loadAddr ?? (mode === 'real' ? Layout.BOOT_SECTOR_ADDR : Layout.HIGH_MEMORY);
  const entry = options.entry ?? loadAddr;
  if (image.length === 0) {
    throw new BootImageError(ctx.file, 'truncated', 'the image is empty');
  }
  requireInRam(ctx, loadAddr, image.length, 'the image');
  if (mode === 'real' && entry > 0xffff) {
    throw new BootImageError(
      ctx.file,
      'bad-option',
      `real-mode entry 0x${entry.toString(16)} is beyond CS:IP 0000:FFFF; load below 64 KiB or choose --mode protected`,
    );
  }
  requireInRam(ctx, entry, 1, 'the entry point');
  const regs: EntryRegisters =
    mode === 'real' ? { rsp: BigInt(Layout.BOOT_SECTOR_ADDR) } : { rsp: BigInt(Layout.BOOT_STACK_TOP) };
  return {
    format: 'flat',
    writes: [...modeTables(mode), { addr: loadAddr, bytes: image, what: 'the image' }],
    zeros: [],
    cpu: { mode, entry, regs: mode === 'real' ? { ...regs, rdx: 0x80n } : regs },
  };
}
