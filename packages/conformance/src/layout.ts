/**
 * Guest physical addresses and I/O ports of the conformance guests: the VMM side of `guests/layout.inc`
 * (test/layout.test.ts checks both agree, through the equates nasm exports with each guest).
 */
export const Layout = {
  /** Where every guest is loaded and starts (`org`). */
  LOAD_ADDR: 0x1000,
  /** Initial stack pointer. */
  STACK_TOP: 0x8000,
  /** A scratch page inside RAM. */
  DATA_ADDR: 0x9000,
  /** Long mode: the PML4; the PDPT and PD follow it, one page each. */
  PAGE_TABLES_ADDR: 0x10000,
  /** Size of the RAM slot (slot 0 at guest physical 0) every machine has. */
  RAM_SIZE: 0x40000,
  /** Guest physical address tests use for extra slots (read-only, dirty-logged, moved). */
  EXTRA_SLOT_ADDR: 0x80000,
  /** A second free address, where a slot is moved to. */
  MOVED_SLOT_ADDR: 0xa0000,
  /** No slot backs it: accesses exit as MMIO. */
  MMIO_ADDR: 0xd0000,
  /** MMIO_ADDR as a real-mode segment. */
  MMIO_SEG: 0xd000,
  /** Long mode: linear ALIAS_BASE + x maps physical x (a second PDPT entry on the same PD). */
  ALIAS_BASE: 0x40000000,
} as const;

/** The I/O ports the conformance guests use (see `guests/layout.inc`). */
export const Port = {
  /** The guest writes a known value. */
  OUT: 0x10,
  /** The guest reads; the VMM supplies the value. */
  IN: 0x11,
  /** The guest writes back what it read (from PORT_IN or MMIO). */
  ECHO: 0x12,
  /** The guest reached the end of a step. */
  DONE: 0x13,
  /** `rep outsb` / `rep insb`. */
  STRING: 0x14,
  /** An interrupt handler reports which handler ran. */
  VECTOR: 0x15,
} as const;
