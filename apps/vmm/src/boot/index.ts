export { applyBootPlan } from './apply.js';
export { type BzImageOptions, isBzImage, loadBzImage } from './bzimage.js';
export { Selector, sregsFor } from './cpu-modes.js';
export { detectFormat, IMAGE_FORMATS, type ImageFormat, type LoadImageOptions, loadImage } from './detect.js';
export { loadElf } from './elf.js';
export { BootImageError, type BootImageProblem } from './errors.js';
export { type FlatOptions, loadFlat } from './flat.js';
export { guestMemoryMap, type MemoryRange, MemoryType } from './memory-map.js';
export { buildMpTable, MP_MAX_CPUS, mpTableWrite } from './mptable.js';
export {
  loadMultiboot,
  MULTIBOOT_BOOTLOADER_MAGIC,
  type MultibootModule,
  type MultibootOptions,
} from './multiboot.js';
export type { BootPlan, CpuMode, EntryState, LoadContext, MemoryWrite, MemoryZero } from './plan.js';
export { loadPvh, type PvhOptions, pvhEntry } from './pvh.js';
