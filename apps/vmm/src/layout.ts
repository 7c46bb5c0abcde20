/**
 * Every guest-physical address the VMM itself chooses, in one place (Firecracker's `layout.rs` habit). Loaders
 * put their structures here; anything not listed belongs to the guest image.
 *
 * ```
 * 0x0000_0000  real-mode IVT and BIOS data area (left zero)
 * 0x0000_0500  BOOT_GDT            GDT the VMM builds for protected and long mode (4 entries)
 * 0x0000_1000  ZERO_PAGE           Linux boot_params (bzImage)
 * 0x0000_2000  MULTIBOOT_INFO      multiboot v1 information structure, memory map, module list
 * 0x0000_3000  PVH_START_INFO      hvm_start_info, memory map, module list (PVH entry)
 * 0x0000_4000  BOOT_STRINGS        module and boot-loader names
 * 0x0000_7c00  BOOT_SECTOR_ADDR    default load address of a flat image started in real mode
 * 0x0000_9000  PML4, PDPT, PD x4   identity page tables for long mode (first 4 GiB, 2 MiB pages)
 * 0x0002_0000  CMDLINE             kernel command line (NUL-terminated)
 * 0x0008_0000  BOOT_STACK_TOP      initial stack for protected- and long-mode entries (grows down)
 * 0x0009_fc00  EBDA_START          reserved from here to 1 MiB in the memory maps (EBDA, VGA, BIOS)
 * 0x000f_0000  MP_TABLE            MultiProcessor floating pointer and configuration table (Linux boots)
 * 0x0010_0000  HIGH_MEMORY         default load address of flat and ELF images above real mode
 * top of RAM   initramfs / modules placed below it
 * 0xfffb_c000  IDENTITY_MAP_ADDR   one page KVM may use on Intel hosts (KVM_SET_IDENTITY_MAP_ADDR)
 * 0xfffb_d000  TSS_ADDR            three pages KVM may use on Intel hosts (KVM_SET_TSS_ADDR)
 * ```
 */
export const Layout = {
  /** The GDT for protected and long mode: null, unused, code (0x10), data (0x18), as the Linux boot protocol wants. */
  BOOT_GDT: 0x500,
  /** Linux `struct boot_params`, the "zero page" (Documentation/arch/x86/boot.rst). RSI points here. */
  ZERO_PAGE: 0x1000,
  /** Multiboot v1 `multiboot_info`; EBX points here. Memory map at +0x100, module list at +0x400. */
  MULTIBOOT_INFO: 0x2000,
  /** PVH `hvm_start_info` (xen/arch-x86/hvm/start_info.h); EBX points here. Memory map at +0x100, modules at +0x400. */
  PVH_START_INFO: 0x3000,
  /** NUL-terminated strings loaders hand to the guest (module names, the boot loader's name). */
  BOOT_STRINGS: 0x4000,
  /** Where a BIOS loads a boot sector, and so the default load address of a flat real-mode image. */
  BOOT_SECTOR_ADDR: 0x7c00,
  /** Page-map level 4 of the identity map built for long-mode entries (CR3). */
  PML4: 0x9000,
  /** The page-directory-pointer table PML4[0] points to. */
  PDPT: 0xa000,
  /** Four page directories of 512 two-MiB pages each: the first 4 GiB, identity mapped. */
  PD: 0xb000,
  /** The kernel command line. */
  CMDLINE: 0x20000,
  /** Longest command line the VMM accepts, including the NUL (the area up to 0x2ffff). */
  CMDLINE_MAX: 0x10000,
  /** Initial stack pointer for protected- and long-mode entries. */
  BOOT_STACK_TOP: 0x80000,
  /** Start of the extended BIOS data area: conventional RAM ends here in the memory maps the VMM reports. */
  EBDA_START: 0x9fc00,
  /**
   * The MultiProcessor Specification tables (boot/mptable.ts): in the BIOS area Linux scans for "_MP_", inside
   * the reserved legacy hole, so no memory map offers it as RAM.
   */
  MP_TABLE: 0xf0000,
  /** 1 MiB: where RAM above the legacy hole starts, and the default load address outside real mode. */
  HIGH_MEMORY: 0x100000,
  /** Guest RAM is one slot from 0 up to at most this (3 GiB), so it never meets the 32-bit MMIO hole. */
  MAX_RAM: 0xc000_0000,
  /** KVM_SET_IDENTITY_MAP_ADDR: a page above RAM, below the TSS pages. */
  IDENTITY_MAP_ADDR: 0xfffb_c000,
  /** KVM_SET_TSS_ADDR: three pages above RAM (Intel hosts need them for real mode). */
  TSS_ADDR: 0xfffb_d000,
} as const;

/**
 * CPUID leaf 0x40000000 signatures (EBX, ECX, EDX as 12 ASCII bytes) the demo guest recognises. KVM answers
 * "KVMKVMKVM\0\0\0"; the kvm-ts emulator answers "KVMTSEMU\0\0\0\0".
 */
export const HypervisorSignature = {
  KVM: 'KVMKVMKVM',
  EMULATOR: 'KVMTSEMU',
} as const;
