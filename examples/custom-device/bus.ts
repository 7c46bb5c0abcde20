/**
 * A device model as the VMM sees it: a guest access at `offset` bytes into the device's window. A read fills
 * `data` (its length is the access size), a write hands over what the guest wrote.
 */
export interface BusDevice {
  /** Short name for traces. */
  readonly name: string;
  read(offset: number, data: Uint8Array): void;
  write(offset: number, data: Uint8Array): void;
}

interface Mapping {
  readonly base: number;
  readonly length: number;
  readonly device: BusDevice;
}

/**
 * An address space of devices: the port bus (0-0xffff) or the MMIO bus (guest physical addresses no memory
 * slot backs). KVM hands every such access to the VMM as an exit; the bus finds the device that owns it.
 */
export class Bus {
  private readonly mappings: Mapping[] = [];

  constructor(readonly name: string) {}

  /** Gives `device` the addresses `[base, base + length)`; overlapping an earlier device is a VMM bug. */
  add(base: number, length: number, device: BusDevice): void {
    const clash = this.mappings.find((m) => base < m.base + m.length && m.base < base + length);
    if (clash)
      throw new Error(`${this.name}: ${device.name} at 0x${base.toString(16)} overlaps ${clash.device.name}`);
    this.mappings.push({ base, length, device });
  }

  /**
   * Performs one guest access. Returns false when no device owns the address; the guest then reads all ones
   * (as from an empty ISA bus) and its writes are dropped.
   */
  access(address: number, data: Uint8Array, isWrite: boolean): boolean {
    const m = this.mappings.find((m) => address >= m.base && address + data.length <= m.base + m.length);
    if (!m) {
      if (!isWrite) data.fill(0xff);
      return false;
    }
    if (isWrite) m.device.write(address - m.base, data);
    else m.device.read(address - m.base, data);
    return true;
  }
}
