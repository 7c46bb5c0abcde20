/**
 * The I/O APIC as KVM keeps it in the kernel (KVM_CREATE_IRQCHIP, `arch/x86/kvm/ioapic.c`; Intel 82093AA
 * datasheet): IOREGSEL/IOWIN at its MMIO base (0xfec00000), ID, version 0x11 with 24 pins (register value
 * 0x170011), arbitration ID, and the redirection table; edge and level pins, remote IRR cleared by the local
 * APICs' EOI of the entry's vector, masks, and delivery of each interrupt as an APIC message through a callback.
 */
import { KVM_IOAPIC_NUM_PINS, type KvmIoapicState, kvmFail } from '@kvm-ts/core';
import { holdMutable } from '../hidden-classes.js';
import type { ApicMessage } from './apic-bus.js';

/** The IOAPIC's default MMIO base (IOAPIC_DEFAULT_BASE_ADDRESS). */
export const IOAPIC_DEFAULT_BASE = 0xfec00000n;
/** Length of the MMIO window KVM decodes. */
export const IOAPIC_MMIO_SIZE = 0x100;
/** MMIO offset of IOREGSEL (selects the register IOWIN reaches). */
export const IOAPIC_REGSEL = 0x00;
/** MMIO offset of IOWIN (the selected register's data). */
export const IOAPIC_WINDOW = 0x10;
/** Indirect register 0x00: ID in bits 27-24. */
const REG_ID = 0x00;
/** Indirect register 0x01: version (bits 7-0) and maximum redirection entry (bits 23-16). */
const REG_VERSION = 0x01;
/** Indirect register 0x02: arbitration ID (KVM reads it as the ID). */
const REG_ARBITRATION = 0x02;
/** Indirect register 0x10: the first redirection entry's low half; entry n is at 0x10 + 2n. */
const REG_REDIRECTION = 0x10;
/** The version register: version 0x11, maximum redirection entry 23. */
export const IOAPIC_VERSION_VALUE = ((KVM_IOAPIC_NUM_PINS - 1) << 16) | 0x11;

/** Redirection entry bits 7-0: vector. */
const RTE_VECTOR = 0xffn;
/** Bits 10-8: delivery mode. */
const RTE_DELIVERY_SHIFT = 8n;
/** Bit 11: logical destination mode. */
const RTE_DEST_LOGICAL = 1n << 11n;
/** Bit 12: delivery status (read-only). */
const RTE_DELIVERY_STATUS = 1n << 12n;
/** Bit 14: remote IRR (read-only; set while a level interrupt is in service). */
const RTE_REMOTE_IRR = 1n << 14n;
/** Bit 15: level-triggered. */
const RTE_LEVEL = 1n << 15n;
/** Bit 16: masked. */
const RTE_MASKED = 1n << 16n;
/** Bits 63-56: destination. */
const RTE_DEST_SHIFT = 56n;

/** Options of {@link Ioapic}. */
export interface IoapicOptions {
  /** Sends a message to the local APICs; returns how many accepted it. */
  deliver: (msg: ApicMessage) => number;
}

/** The IOAPIC (see the file comment). */
export class Ioapic {
  private base = IOAPIC_DEFAULT_BASE;
  private ioregsel = 0;
  private id = 0;
  /** Pins whose line is asserted (level) or whose edge is latched (edge, while masked). */
  private irr = 0;
  private readonly redirtbl: bigint[] = Array.from({ length: KVM_IOAPIC_NUM_PINS }, () => RTE_MASKED);
  private readonly deliver: (msg: ApicMessage) => number;

  constructor(options: IoapicOptions) {
    this.deliver = options.deliver;
    holdMutable(this);
  }

  /** The MMIO base address. */
  get mmioBase(): bigint {
    return this.base;
  }

  /**
   * Sets the level of pin `pin` (`kvm_ioapic_set_irq`). A rising edge on an unmasked edge pin delivers once;
   * an asserted level pin delivers and then waits for the EOI (remote IRR). Edges on a masked pin are ignored
   * (82093AA: "not delivered or held pending"). Returns whether the interrupt was delivered now.
   */
  setIrq(pin: number, level: number): boolean {
    if (pin < 0 || pin >= KVM_IOAPIC_NUM_PINS) return false;
    const bit = 1 << pin;
    const entry = this.redirtbl[pin];
    if (!level) {
      this.irr &= ~bit;
      return false;
    }
    const edge = (entry & RTE_LEVEL) === 0n;
    if (edge && this.irr & bit) return false; // the line is already high: no new edge
    if (!edge && entry & RTE_REMOTE_IRR) {
      this.irr |= bit;
      return false;
    }
    this.irr |= bit;
    return this.service(pin);
  }

  /** Sends pin `pin`'s interrupt if it is unmasked and not waiting for an EOI (`ioapic_service`). */
  private service(pin: number): boolean {
    const entry = this.redirtbl[pin];
    if (entry & RTE_MASKED) return false;
    const level = (entry & RTE_LEVEL) !== 0n;
    if (level && entry & RTE_REMOTE_IRR) return false;
    const accepted = this.deliver({
      vector: Number(entry & RTE_VECTOR),
      deliveryMode: Number((entry >> RTE_DELIVERY_SHIFT) & 7n),
      destMode: entry & RTE_DEST_LOGICAL ? 1 : 0,
      dest: Number((entry >> RTE_DEST_SHIFT) & 0xffn),
      x2apicDest: false,
      shorthand: 0,
      triggerMode: level ? 1 : 0,
      level: 1,
    });
    if (level) {
      if (accepted > 0) this.redirtbl[pin] = entry | RTE_REMOTE_IRR;
    } else {
      // An edge leaves nothing pending once sent; a new edge needs the line to drop first.
      this.irr |= 1 << pin;
    }
    return accepted > 0;
  }

  /**
   * A local APIC's EOI of a level-triggered `vector` (`kvm_ioapic_update_eoi`): every level entry with that
   * vector leaves remote IRR, and one whose line is still asserted interrupts again.
   */
  eoi(vector: number): void {
    for (let pin = 0; pin < KVM_IOAPIC_NUM_PINS; pin++) {
      const entry = this.redirtbl[pin];
      if (Number(entry & RTE_VECTOR) !== vector || !(entry & RTE_LEVEL) || !(entry & RTE_REMOTE_IRR))
        continue;
      this.redirtbl[pin] = entry & ~RTE_REMOTE_IRR;
      if (this.irr & (1 << pin)) this.service(pin);
    }
  }

  private readIndirect(): number {
    const sel = this.ioregsel;
    switch (sel) {
      case REG_ID:
      case REG_ARBITRATION:
        return (this.id & 0xf) << 24;
      case REG_VERSION:
        return IOAPIC_VERSION_VALUE;
      default: {
        const index = (sel - REG_REDIRECTION) >> 1;
        // Registers past the table read as all ones, as KVM does.
        const rte = sel >= REG_REDIRECTION && index < KVM_IOAPIC_NUM_PINS ? this.redirtbl[index] : ~0n;
        return Number(BigInt.asUintN(32, sel & 1 ? rte >> 32n : rte));
      }
    }
  }

  private writeIndirect(value: number): void {
    const sel = this.ioregsel;
    if (sel === REG_ID) {
      this.id = (value >>> 24) & 0xf;
      return;
    }
    if (sel < REG_REDIRECTION) return;
    const index = (sel - REG_REDIRECTION) >> 1;
    if (index >= KVM_IOAPIC_NUM_PINS) return;
    const old = this.redirtbl[index];
    const v = BigInt(value >>> 0);
    let e = sel & 1 ? (old & 0xffffffffn) | (v << 32n) : (old & ~0xffffffffn) | v;
    // Delivery status and remote IRR are read-only.
    e = (e & ~(RTE_DELIVERY_STATUS | RTE_REMOTE_IRR)) | (old & (RTE_DELIVERY_STATUS | RTE_REMOTE_IRR));
    // Linux expects remote IRR to clear when an entry becomes edge-triggered (as KVM does).
    if (!(e & RTE_LEVEL)) e &= ~RTE_REMOTE_IRR;
    this.redirtbl[index] = e;
    // An asserted level line interrupts as soon as its entry is unmasked.
    if (e & RTE_LEVEL && !(e & RTE_MASKED) && !(e & RTE_REMOTE_IRR) && this.irr & (1 << index))
      this.service(index);
  }

  /** A guest read at `offset` from the MMIO base (KVM: 1-8 bytes, IOREGSEL or IOWIN, anything else 0). */
  mmioRead(offset: number, size: number): number {
    const reg = offset & 0xf0;
    let v: number;
    if (reg === IOAPIC_REGSEL) v = this.ioregsel;
    else if (reg === IOAPIC_WINDOW) v = this.readIndirect();
    else v = 0;
    const shift = (offset & 3) * 8;
    v >>>= shift;
    return size >= 4 ? v >>> 0 : v & ((1 << (size * 8)) - 1);
  }

  /** A guest write at `offset` from the MMIO base (the low 32 bits of the value count). */
  mmioWrite(offset: number, _size: number, value: number): void {
    const reg = offset & 0xf0;
    if (reg === IOAPIC_REGSEL) this.ioregsel = value & 0xff;
    else if (reg === IOAPIC_WINDOW) this.writeIndirect(value >>> 0);
  }

  /** KVM_GET_IRQCHIP (chip 2). */
  getState(): KvmIoapicState {
    return {
      base: this.base,
      ioregsel: this.ioregsel,
      id: this.id,
      irr: this.irr,
      redirtbl: [...this.redirtbl],
    };
  }

  /** KVM_SET_IRQCHIP (chip 2); pending level lines are re-evaluated. */
  setState(state: KvmIoapicState): void {
    if (state.redirtbl.length !== KVM_IOAPIC_NUM_PINS) {
      kvmFail('KVM_SET_IRQCHIP', 'EINVAL', `the IOAPIC has ${KVM_IOAPIC_NUM_PINS} redirection entries`);
    }
    this.base = state.base;
    this.ioregsel = state.ioregsel & 0xff;
    this.id = state.id & 0xff;
    this.irr = state.irr >>> 0;
    state.redirtbl.forEach((e, i) => {
      this.redirtbl[i] = BigInt.asUintN(64, e);
    });
    for (let pin = 0; pin < KVM_IOAPIC_NUM_PINS; pin++) {
      const e = this.redirtbl[pin];
      if (e & RTE_LEVEL && this.irr & (1 << pin)) this.service(pin);
    }
  }
}
