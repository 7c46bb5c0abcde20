/**
 * KVM's in-kernel irqchip as one object (KVM_CREATE_IRQCHIP): the 8259A pair, the IOAPIC and the APIC bus that
 * connects the IOAPIC, MSIs and every vCPU's local APIC. The VM's KVM_IRQ_LINE routing drives
 * `setPicInput`/`setIoapicInput`; KVM_GET/SET_IRQCHIP are `get`/`set`.
 */
import { IrqchipId, type KvmIoapicState, type KvmIrqchip, type KvmPicState, kvmFail } from '@kvm-ts/core';
import { ApicBus, DestMode } from './apic-bus.js';
import { Ioapic } from './ioapic.js';
import { Lapic, type LapicOptions } from './lapic.js';
import { PicPair } from './pic.js';
import type { VirtualClock } from './virtual-clock.js';

/** MSI address bits 31-20: always 0xfee (SDM Vol. 3A 11.11.1). */
const MSI_ADDRESS_MAGIC = 0xfee;
/** MSI address bit 2: logical destination mode. */
const MSI_ADDR_DEST_LOGICAL = 0x4;
/** MSI address bits 19-12: destination ID. */
const MSI_ADDR_DEST_SHIFT = 12;
/** MSI data bit 15: level-triggered. */
const MSI_DATA_LEVEL_TRIGGER = 0x8000;
/** MSI data bit 14: assert. */
const MSI_DATA_ASSERT = 0x4000;

/** Options of {@link InKernelIrqchip}. */
export interface IrqchipOptions {
  clock: VirtualClock;
  /** The PIC pair's INT output changed: a halted BSP should look at `hasInterrupt()` again. */
  onPicOutput?: (level: number) => void;
}

/** The PICs, the IOAPIC and the APIC bus of one VM (see the file comment). */
export class InKernelIrqchip {
  readonly clock: VirtualClock;
  readonly bus = new ApicBus();
  readonly pic: PicPair;
  readonly ioapic: Ioapic;
  private readonly lapics = new Map<number, Lapic>();

  constructor(options: IrqchipOptions) {
    this.clock = options.clock;
    this.pic = new PicPair({ onOutput: (l) => options.onPicOutput?.(l) });
    this.ioapic = new Ioapic({ deliver: (m) => this.bus.deliver(m) });
  }

  /**
   * Creates vCPU `id`'s local APIC on this chip's bus: its ExtINT input is the PIC pair (KVM lets any vCPU
   * whose LINT0 is in ExtINT mode, or whose APIC is globally disabled, take PIC interrupts) and its
   * level-triggered EOIs reach the IOAPIC.
   */
  createLapic(
    id: number,
    callbacks: Omit<LapicOptions, 'id' | 'clock' | 'bus' | 'pic' | 'onEoi'> = {},
  ): Lapic {
    const lapic = new Lapic({
      ...callbacks,
      id,
      clock: this.clock,
      bus: this.bus,
      pic: this.pic,
      onEoi: (v) => this.ioapic.eoi(v),
    });
    this.lapics.set(id, lapic);
    return lapic;
  }

  /** The local APIC of vCPU `id`, if created. */
  lapic(id: number): Lapic | undefined {
    return this.lapics.get(id);
  }

  /** Sets PIC input `irq` (0-15) — a KVM_IRQ_LINE route to chip 0 or 1. */
  setPicInput(irq: number, level: number): void {
    this.pic.setIrq(irq, level);
  }

  /** Sets IOAPIC pin `pin` — a KVM_IRQ_LINE route to chip 2. */
  setIoapicInput(pin: number, level: number): void {
    this.ioapic.setIrq(pin, level);
  }

  /**
   * Delivers a message-signalled interrupt (KVM_SIGNAL_MSI, MSI routes); returns whether a local APIC took
   * it. Bits 31-8 of the destination come from `addressHi` (KVM's extended destination for x2APIC).
   */
  deliverMsi(addressLo: number, addressHi: number, data: number): boolean {
    if (addressLo >>> 20 !== MSI_ADDRESS_MAGIC) return false;
    const dest = ((addressLo >>> MSI_ADDR_DEST_SHIFT) & 0xff) | (addressHi & 0xffffff00);
    const accepted = this.bus.deliver({
      vector: data & 0xff,
      deliveryMode: (data >> 8) & 7,
      destMode: addressLo & MSI_ADDR_DEST_LOGICAL ? DestMode.LOGICAL : DestMode.PHYSICAL,
      dest: dest >>> 0,
      x2apicDest: (addressHi & 0xffffff00) !== 0,
      shorthand: 0,
      triggerMode: data & MSI_DATA_LEVEL_TRIGGER ? 1 : 0,
      level: data & MSI_DATA_ASSERT || !(data & MSI_DATA_LEVEL_TRIGGER) ? 1 : 0,
    });
    return accepted > 0;
  }

  /** KVM_GET_IRQCHIP. */
  get(chipId: number): KvmIrqchip {
    if (chipId === IrqchipId.PIC_MASTER || chipId === IrqchipId.PIC_SLAVE) {
      return { chipId, pic: this.pic.getState(chipId) };
    }
    if (chipId === IrqchipId.IOAPIC) return { chipId, ioapic: this.ioapic.getState() };
    return kvmFail(
      'KVM_GET_IRQCHIP',
      'EINVAL',
      `chip id ${chipId} is not 0 (master PIC), 1 (slave PIC) or 2 (IOAPIC)`,
    );
  }

  /** KVM_SET_IRQCHIP. */
  set(chip: KvmIrqchip): void {
    if (chip.chipId === IrqchipId.PIC_MASTER || chip.chipId === IrqchipId.PIC_SLAVE) {
      this.pic.setState(chip.chipId, (chip as { pic: KvmPicState }).pic);
      return;
    }
    if (chip.chipId === IrqchipId.IOAPIC) {
      this.ioapic.setState((chip as { ioapic: KvmIoapicState }).ioapic);
      return;
    }
    kvmFail('KVM_SET_IRQCHIP', 'EINVAL', `chip id ${(chip as { chipId: number }).chipId} does not exist`);
  }
}
