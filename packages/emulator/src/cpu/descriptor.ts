/**
 * A segment or gate descriptor as read from the GDT, LDT or IDT (SDM Vol. 3A 3.4.5, 6.11), with the fields
 * decoded on demand. Kept free of imports so every module can hold one at load time.
 */
export class Descriptor {
  lo = 0;
  hi = 0;
  /** Bits 63:32 of the base of a 64-bit system descriptor. */
  baseHi = 0;
  /** Linear address of the descriptor (to set its accessed or busy bit). */
  addr = 0;

  get attr(): number {
    return (this.hi >>> 8) & 0xf0ff;
  }
  get base(): number {
    return ((this.lo >>> 16) | ((this.hi & 0xff) << 16) | (this.hi & 0xff000000)) >>> 0;
  }
  get limit(): number {
    const raw = (this.lo & 0xffff) | (this.hi & 0xf0000);
    return this.hi & 0x800000 ? raw * 4096 + 0xfff : raw;
  }
  get dpl(): number {
    return (this.hi >> 13) & 3;
  }
  get present(): boolean {
    return (this.hi & 0x8000) !== 0;
  }
}
