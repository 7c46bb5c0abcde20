/**
 * A device on a bus: `offset` is the access's distance from the start of the range the device was
 * registered at, `size` is 1, 2, 4 or 8 bytes. Values are little-endian and at most 32 bits wide for ports.
 */
export interface BusDevice {
  read(offset: number, size: number): number;
  write(offset: number, size: number, value: number): void;
}

interface Range {
  readonly base: number;
  readonly length: number;
  readonly device: BusDevice;
  readonly name: string;
}

/**
 * Range dispatch for an address space: devices claim non-overlapping [base, base + length) ranges; an access
 * nobody claimed reads all ones and its writes are dropped, as on a PC's ISA bus with no device answering.
 */
export class Bus {
  private readonly ranges: Range[] = [];

  /** @param name the address space, for error messages (`'port'`, `'mmio'`) */
  constructor(readonly name: string) {}

  /** Claims [base, base + length) for `device`; overlapping an earlier claim is a programming error. */
  register(base: number, length: number, device: BusDevice, name: string): void {
    if (length <= 0) throw new RangeError(`${this.name} bus: ${name} claims an empty range`);
    const clash = this.ranges.find((r) => base < r.base + r.length && r.base < base + length);
    if (clash) {
      throw new RangeError(
        `${this.name} bus: ${name} at 0x${base.toString(16)} overlaps ${clash.name} at 0x${clash.base.toString(16)}`,
      );
    }
    const at = this.ranges.findIndex((r) => r.base > base);
    this.ranges.splice(at === -1 ? this.ranges.length : at, 0, { base, length, device, name });
  }

  /** The range holding `addr`, by binary search over the sorted claims. */
  private find(addr: number): Range | undefined {
    let lo = 0;
    let hi = this.ranges.length - 1;
    while (lo <= hi) {
      const mid = (lo + hi) >> 1;
      const range = this.ranges[mid];
      if (addr < range.base) hi = mid - 1;
      else if (addr >= range.base + range.length) lo = mid + 1;
      else return range;
    }
    return undefined;
  }

  /** Whether some device claims `addr`. */
  claims(addr: number): boolean {
    return this.find(addr) !== undefined;
  }

  /** A read of `size` bytes at `addr`: the claiming device's answer, or all ones. */
  read(addr: number, size: number): number {
    const range = this.find(addr);
    if (!range) return size >= 4 ? 0xffff_ffff : (1 << (size * 8)) - 1;
    return range.device.read(addr - range.base, size);
  }

  /** A write of `size` bytes at `addr` to the claiming device; dropped when nobody claims it. */
  write(addr: number, size: number, value: number): void {
    const range = this.find(addr);
    if (range) range.device.write(addr - range.base, size, value);
  }
}

/** Reads a little-endian value of `size` (1, 2 or 4) bytes from `data` at `at`. */
export function readLe(data: Uint8Array, at: number, size: number): number {
  let value = 0;
  for (let i = size - 1; i >= 0; i--) value = value * 256 + data[at + i];
  return value;
}

/** Writes the low `size` bytes of `value` little-endian into `data` at `at`. */
export function writeLe(data: Uint8Array, at: number, size: number, value: number): void {
  for (let i = 0; i < size; i++) {
    data[at + i] = value & 0xff;
    value = Math.floor(value / 256);
  }
}
