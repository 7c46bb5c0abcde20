import { Layout } from '../layout.js';
import { alignDown, alignUp } from './align.js';
import { encodeCmdline, requireBytes, requireInRam } from './check.js';
import { modeTables } from './cpu-modes.js';
import { BootImageError } from './errors.js';
import { guestMemoryMap } from './memory-map.js';
import { mpTableWrite } from './mptable.js';
import type { BootPlan, LoadContext, MemoryWrite } from './plan.js';

/**
 * Offsets in the real-mode header of a bzImage and in `struct boot_params` (the zero page), from Linux
 * Documentation/arch/x86/boot.rst and zero-page.rst.
 */
export const SetupHeader = {
  SETUP_SECTS: 0x1f1,
  SYSSIZE: 0x1f4,
  VID_MODE: 0x1fa,
  BOOT_FLAG: 0x1fe,
  /** The second byte of the jump at 0x200: the header ends at 0x202 plus this. */
  JUMP_OFFSET: 0x201,
  HEADER: 0x202,
  VERSION: 0x206,
  TYPE_OF_LOADER: 0x210,
  LOADFLAGS: 0x211,
  RAMDISK_IMAGE: 0x218,
  RAMDISK_SIZE: 0x21c,
  CMD_LINE_PTR: 0x228,
  INITRD_ADDR_MAX: 0x22c,
  KERNEL_ALIGNMENT: 0x230,
  RELOCATABLE_KERNEL: 0x234,
  XLOADFLAGS: 0x236,
  CMDLINE_SIZE: 0x238,
  PREF_ADDRESS: 0x258,
  INIT_SIZE: 0x260,
} as const;

/** Offsets in `struct boot_params` outside the setup header. */
export const ZeroPage = {
  EXT_RAMDISK_IMAGE: 0x0c0,
  EXT_RAMDISK_SIZE: 0x0c4,
  EXT_CMD_LINE_PTR: 0x0c8,
  E820_ENTRIES: 0x1e8,
  E820_TABLE: 0x2d0,
  E820_MAX: 128,
  E820_ENTRY_SIZE: 20,
  SIZE: 4096,
} as const;

/** "HdrS" read little-endian. */
const HDRS_MAGIC = 0x53726448;
const BOOT_FLAG_MAGIC = 0xaa55;
/** 2.12: the first protocol with xloadflags, so the first whose 64-bit entry a loader can check for. */
const MIN_VERSION = 0x020c;
/** xloadflags bit 0: the kernel has the 64-bit entry at load address + 0x200. */
const XLF_KERNEL_64 = 1 << 0;
/** loadflags bit 0: the protected-mode code is loaded at 1 MiB or above (a bzImage). */
const LOADED_HIGH = 1 << 0;
/** type_of_loader 0xff: "undefined" boot loader, as VMMs without an assigned id use. */
const LOADER_UNDEFINED = 0xff;
/** vid_mode 0xffff: "normal" text mode. */
const VID_MODE_NORMAL = 0xffff;
/** The 64-bit entry's offset from the load address. */
const ENTRY_64_OFFSET = 0x200;

/** Options of {@link loadBzImage}. */
export interface BzImageOptions {
  cmdline?: string;
  /** The initramfs, placed as high as `initrd_addr_max` and RAM allow. */
  initrd?: Uint8Array;
  /** File name of the initramfs for messages. */
  initrdFile?: string;
}

/** Whether `image` looks like a bzImage: the boot-sector flag and "HdrS". */
export function isBzImage(image: Uint8Array): boolean {
  if (image.length < 0x206) return false;
  const view = new DataView(image.buffer, image.byteOffset, image.byteLength);
  return (
    view.getUint16(SetupHeader.BOOT_FLAG, true) === BOOT_FLAG_MAGIC &&
    view.getUint32(SetupHeader.HEADER, true) === HDRS_MAGIC
  );
}

/**
 * A Linux bzImage through the 64-bit boot protocol: the protected-mode kernel at its preferred address, a zero
 * page with the setup header, an e820 map, the command line, the initramfs and the MP table; entered in long mode at load
 * address + 0x200 with RSI = the zero page on the VMM's identity map, interrupts off.
 */
export function loadBzImage(image: Uint8Array, ctx: LoadContext, options: BzImageOptions = {}): BootPlan {
  const file = ctx.file;
  requireBytes(file, image, 0x268, 'the bzImage setup header');
  const view = new DataView(image.buffer, image.byteOffset, image.byteLength);
  if (view.getUint16(SetupHeader.BOOT_FLAG, true) !== BOOT_FLAG_MAGIC) {
    throw new BootImageError(file, 'bad-magic', 'no boot flag 0xAA55 at 0x1fe: not a bzImage');
  }
  if (view.getUint32(SetupHeader.HEADER, true) !== HDRS_MAGIC) {
    throw new BootImageError(
      file,
      'bad-magic',
      'no "HdrS" at 0x202: not a bzImage, or older than boot protocol 2.00',
    );
  }
  const version = view.getUint16(SetupHeader.VERSION, true);
  const versionText = `${version >> 8}.${(version & 0xff).toString().padStart(2, '0')}`;
  if (version < MIN_VERSION) {
    throw new BootImageError(
      file,
      'unsupported',
      `boot protocol ${versionText} is older than 2.12, which the 64-bit entry needs`,
    );
  }
  const xloadflags = view.getUint16(SetupHeader.XLOADFLAGS, true);
  if (!(xloadflags & XLF_KERNEL_64)) {
    throw new BootImageError(
      file,
      'unsupported',
      'the kernel has no 64-bit entry (xloadflags bit 0 clear): is it a 32-bit kernel?',
    );
  }
  if (!(image[SetupHeader.LOADFLAGS] & LOADED_HIGH)) {
    throw new BootImageError(
      file,
      'unsupported',
      'a zImage (loaded below 1 MiB) is not supported, only bzImage',
    );
  }
  const setupSects = image[SetupHeader.SETUP_SECTS] || 4;
  const kernelOffset = (setupSects + 1) * 512;
  // syssize counts 16-byte paragraphs, rounded up: the last one may be short.
  const syssize = view.getUint32(SetupHeader.SYSSIZE, true) * 16;
  requireBytes(
    file,
    image,
    kernelOffset + Math.max(1, syssize - 15),
    'the protected-mode kernel (setup_sects and syssize)',
  );
  const kernel = image.subarray(kernelOffset);
  const headerEnd = SetupHeader.HEADER + image[SetupHeader.JUMP_OFFSET];
  requireBytes(file, image, headerEnd, 'the setup header');

  const prefAddress = Number(view.getBigUint64(SetupHeader.PREF_ADDRESS, true));
  const initSize = view.getUint32(SetupHeader.INIT_SIZE, true);
  const alignment = view.getUint32(SetupHeader.KERNEL_ALIGNMENT, true) || 0x200000;
  const relocatable = image[SetupHeader.RELOCATABLE_KERNEL] !== 0;
  const footprint = Math.max(initSize, kernel.length);
  let loadAddr = prefAddress;
  if (loadAddr + footprint > ctx.ramSize && relocatable) {
    loadAddr = alignUp(Layout.HIGH_MEMORY, alignment);
  }
  requireInRam(ctx, loadAddr, footprint, 'the kernel and the memory it decompresses into (init_size)');

  const zeroPage = new Uint8Array(ZeroPage.SIZE);
  const zp = new DataView(zeroPage.buffer);
  zeroPage.set(image.subarray(SetupHeader.SETUP_SECTS, headerEnd), SetupHeader.SETUP_SECTS);
  zeroPage[SetupHeader.TYPE_OF_LOADER] = LOADER_UNDEFINED;
  zp.setUint16(SetupHeader.VID_MODE, VID_MODE_NORMAL, true);

  const writes: MemoryWrite[] = [
    ...modeTables('long'),
    mpTableWrite(ctx.cpus ?? 1),
    { addr: loadAddr, bytes: kernel, what: 'the kernel' },
  ];
  const cmdlineSize = view.getUint32(SetupHeader.CMDLINE_SIZE, true);
  const cmdline = encodeCmdline(file, options.cmdline ?? '', Math.min(cmdlineSize + 1, Layout.CMDLINE_MAX));
  writes.push({ addr: Layout.CMDLINE, bytes: cmdline, what: 'command line' });
  zp.setUint32(SetupHeader.CMD_LINE_PTR, Layout.CMDLINE, true);
  zp.setUint32(ZeroPage.EXT_CMD_LINE_PTR, 0, true);

  if (options.initrd) {
    const initrdFile = options.initrdFile ?? 'initramfs';
    const initrdMax = view.getUint32(SetupHeader.INITRD_ADDR_MAX, true);
    const top = Math.min(ctx.ramSize, initrdMax + 1);
    const addr = alignDown(top - options.initrd.length, 0x1000);
    if (options.initrd.length === 0) {
      throw new BootImageError(initrdFile, 'truncated', 'the initramfs is empty');
    }
    if (addr < loadAddr + footprint) {
      throw new BootImageError(
        initrdFile,
        'outside-ram',
        `the initramfs (${options.initrd.length} bytes) does not fit between the kernel and 0x${top.toString(16)}; give more memory with --mem`,
      );
    }
    writes.push({ addr, bytes: options.initrd, what: 'initramfs' });
    zp.setUint32(SetupHeader.RAMDISK_IMAGE, addr, true);
    zp.setUint32(SetupHeader.RAMDISK_SIZE, options.initrd.length, true);
  }

  const ranges = guestMemoryMap(ctx.ramSize);
  zeroPage[ZeroPage.E820_ENTRIES] = ranges.length;
  ranges.forEach((range, i) => {
    const at = ZeroPage.E820_TABLE + i * ZeroPage.E820_ENTRY_SIZE;
    zp.setBigUint64(at, BigInt(range.addr), true);
    zp.setBigUint64(at + 8, BigInt(range.size), true);
    zp.setUint32(at + 16, range.type, true);
  });
  writes.push({ addr: Layout.ZERO_PAGE, bytes: zeroPage, what: 'zero page' });
  return {
    format: `bzimage (boot protocol ${versionText})`,
    writes,
    zeros: [],
    cpu: {
      mode: 'long',
      entry: loadAddr + ENTRY_64_OFFSET,
      regs: { rsi: BigInt(Layout.ZERO_PAGE), rsp: BigInt(Layout.BOOT_STACK_TOP) },
    },
  };
}
