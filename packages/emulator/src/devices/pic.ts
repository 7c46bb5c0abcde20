/**
 * The two cascaded Intel 8259A programmable interrupt controllers of a PC, as KVM keeps them in the kernel
 * (KVM_CREATE_IRQCHIP, `arch/x86/kvm/i8259.c`): ICW1-ICW4, OCW1-OCW3, IRR/ISR/IMR, fully nested priority with
 * rotation, automatic EOI, special mask, poll, the slave cascaded on the master's IRQ 2, and the edge/level
 * control registers (ELCR) at ports 0x4d0/0x4d1. The pair's INT output goes to a callback (the BSP's LINT0, or
 * the CPU's INTR when the local APIC is disabled); the CPU's interrupt acknowledge is `acknowledge()`.
 */
import { type KvmPicState, kvmFail } from '@kvm-ts/core';
import { holdMutable } from '../hidden-classes.js';

/** Master command port (ICW1, OCW2, OCW3; reads IRR or ISR). */
export const PIC_MASTER_COMMAND = 0x20;
/** Master data port (ICW2-4, OCW1 = IMR). */
export const PIC_MASTER_DATA = 0x21;
/** Slave command port. */
export const PIC_SLAVE_COMMAND = 0xa0;
/** Slave data port. */
export const PIC_SLAVE_DATA = 0xa1;
/** Edge/level control register of the master (IRQ 0-7). */
export const ELCR_MASTER = 0x4d0;
/** Edge/level control register of the slave (IRQ 8-15). */
export const ELCR_SLAVE = 0x4d1;

/** Command-port write with bit 4 set: ICW1. */
const ICW1 = 0x10;
/** ICW1 bit 0: ICW4 follows. */
const ICW1_IC4 = 0x01;
/** Command-port write with bits 4-3 = 01: OCW3 (else OCW2). */
const OCW3 = 0x08;
/** OCW3 bit 2: poll command. */
const OCW3_POLL = 0x04;
/** OCW3 bit 1: bit 0 selects the register a command-port read returns (0 IRR, 1 ISR). */
const OCW3_RR = 0x02;
/** OCW3 bit 6: bit 5 sets or clears special mask mode. */
const OCW3_ESMM = 0x40;
/** ICW4 bit 1: automatic EOI. */
const ICW4_AEOI = 0x02;
/** ICW4 bit 4: special fully nested mode. */
const ICW4_SFNM = 0x10;
/** The master input the slave's INT is wired to. */
const CASCADE_IRQ = 2;
/** The in-service level a spurious interrupt reports. */
const SPURIOUS_IRQ = 7;
/** OCW2 command codes (bits 7-5). */
const Ocw2 = {
  ROTATE_AEOI_CLEAR: 0,
  NONSPECIFIC_EOI: 1,
  NOP: 2,
  SPECIFIC_EOI: 3,
  ROTATE_AEOI_SET: 4,
  ROTATE_NONSPECIFIC_EOI: 5,
  SET_PRIORITY: 6,
  ROTATE_SPECIFIC_EOI: 7,
} as const;
/** Poll word bit 7: an interrupt was pending. */
const POLL_PENDING = 0x80;

/** One 8259A; fields are those of `struct kvm_pic_state`. */
class Chip implements KvmPicState {
  lastIrr = 0;
  irr = 0;
  imr = 0;
  isr = 0;
  priorityAdd = 0;
  irqBase = 0;
  readReg = 0;
  poll = 0;
  specialMask = 0;
  initState = 0;
  autoEoi = 0;
  rotateOnAutoEoi = 0;
  specialFullyNested = 0;
  init4 = 0;
  elcr = 0;
  elcrMask: number;

  constructor(readonly isMaster: boolean) {
    // IRQ 0-2 (timer, keyboard, cascade) and 8, 13 (RTC, FPU) are always edge: KVM's elcr_mask.
    this.elcrMask = isMaster ? 0xf8 : 0xde;
    holdMutable(this);
  }

  /** The priority level (0 highest) of the highest-priority bit of `mask`, 8 if none. */
  priority(mask: number): number {
    if ((mask & 0xff) === 0) return 8;
    let p = 0;
    while (!(mask & (1 << ((p + this.priorityAdd) & 7)))) p++;
    return p;
  }

  /** The input that would interrupt now (fully nested: only above the highest in service), or -1. */
  pending(): number {
    const p = this.priority(this.irr & ~this.imr);
    if (p === 8) return -1;
    let inService = this.isr;
    // Special mask mode: masked levels do not block lower ones (8259A, OCW3 ESMM/SMM).
    if (this.specialMask) inService &= ~this.imr;
    // Special fully nested: a slave in service does not block more slave interrupts.
    if (this.specialFullyNested && this.isMaster) inService &= ~(1 << CASCADE_IRQ);
    return p < this.priority(inService) ? (p + this.priorityAdd) & 7 : -1;
  }

  /** Drives input `irq`: a level-triggered input (ELCR) follows the line, an edge one latches a rising edge. */
  setInput(irq: number, level: number): void {
    const bit = 1 << irq;
    if (this.elcr & bit) {
      if (level) {
        this.irr |= bit;
        this.lastIrr |= bit;
      } else {
        this.irr &= ~bit;
        this.lastIrr &= ~bit;
      }
    } else if (level) {
      if (!(this.lastIrr & bit)) this.irr |= bit;
      this.lastIrr |= bit;
    } else {
      this.lastIrr &= ~bit;
    }
  }

  /** The INTA cycle for input `irq`: into service (unless AEOI), an edge request is consumed. */
  ack(irq: number): void {
    const bit = 1 << irq;
    if (this.autoEoi) {
      if (this.rotateOnAutoEoi) this.priorityAdd = (irq + 1) & 7;
    } else {
      this.isr |= bit;
    }
    // A level-triggered request stays in IRR while the line is high.
    if (!(this.elcr & bit)) this.irr &= ~bit;
  }

  /**
   * ICW1: the initialization sequence starts (8259A: IMR cleared, IR7 lowest priority, special mask off, IRR
   * selected for reading, ICW4 functions off unless ICW4 follows). As on KVM, edge requests are dropped and
   * their in-service bits with them; level requests and other in-service bits stay.
   */
  init(icw1: number): void {
    const droppedEdges = this.irr & ~this.elcr;
    this.init4 = icw1 & ICW1_IC4;
    this.lastIrr = 0;
    this.irr &= this.elcr;
    this.imr = 0;
    this.priorityAdd = 0;
    this.specialMask = 0;
    this.readReg = 0;
    if (!this.init4) {
      this.specialFullyNested = 0;
      this.autoEoi = 0;
    }
    this.isr &= ~droppedEdges;
    this.initState = 1;
  }

  save(): KvmPicState {
    const { isMaster: _, ...s } = this;
    return s;
  }

  restore(s: KvmPicState): void {
    for (const key of Object.keys(s) as (keyof KvmPicState)[]) this[key] = s[key] & 0xff;
  }
}

/** Options of {@link PicPair}. */
export interface PicOptions {
  /** Called when the pair's INT output changes (1: an unmasked request is pending above the one in service). */
  onOutput: (level: number) => void;
}

/** The master and slave 8259A (see the file comment). */
export class PicPair {
  private readonly master = new Chip(true);
  private readonly slave = new Chip(false);
  private output = 0;
  private readonly onOutput: (level: number) => void;

  constructor(options: PicOptions) {
    this.onOutput = options.onOutput;
  }

  /** Whether `port` belongs to the PICs (0x20-0x21, 0xa0-0xa1, 0x4d0-0x4d1). */
  handlesPort(port: number): boolean {
    return (port & ~0x81) === 0x20 || port === ELCR_MASTER || port === ELCR_SLAVE;
  }

  /** Sets the level of input `irq` (0-7 master, 8-15 slave), as `kvm_pic_set_irq`. */
  setIrq(irq: number, level: number): void {
    (irq < 8 ? this.master : this.slave).setInput(irq & 7, level);
    this.update();
  }

  /** The INT output: whether the CPU should run an INTA cycle. */
  hasInterrupt(): boolean {
    return this.output !== 0;
  }

  /**
   * The CPU's interrupt acknowledge: the vector of the highest-priority request, put in service. With nothing
   * left to deliver (the request went away) the 8259A answers with IRQ 7 of the chip: a spurious interrupt.
   */
  acknowledge(): number {
    const m = this.master;
    let vector: number;
    const irq = m.pending();
    if (irq < 0) {
      vector = m.irqBase + SPURIOUS_IRQ;
    } else {
      m.ack(irq);
      if (irq === CASCADE_IRQ) {
        const s = this.slave;
        const irq2 = s.pending();
        if (irq2 >= 0) s.ack(irq2);
        vector = s.irqBase + (irq2 >= 0 ? irq2 : SPURIOUS_IRQ);
      } else {
        vector = m.irqBase + irq;
      }
    }
    this.update();
    return vector;
  }

  /** An 8-bit IN from one of the PICs' ports. */
  ioRead(port: number): number {
    if (port === ELCR_MASTER) return this.master.elcr;
    if (port === ELCR_SLAVE) return this.slave.elcr;
    const chip = port & 0x80 ? this.slave : this.master;
    if (chip.poll) {
      chip.poll = 0;
      return this.pollRead(chip);
    }
    if (port & 1) return chip.imr;
    return chip.readReg ? chip.isr : chip.irr;
  }

  /** An 8-bit OUT to one of the PICs' ports. */
  ioWrite(port: number, value: number): void {
    const v = value & 0xff;
    if (port === ELCR_MASTER || port === ELCR_SLAVE) {
      const chip = port === ELCR_MASTER ? this.master : this.slave;
      chip.elcr = v & chip.elcrMask;
      return;
    }
    const chip = port & 0x80 ? this.slave : this.master;
    if (port & 1) this.writeData(chip, v);
    else this.writeCommand(chip, v);
    this.update();
  }

  private writeCommand(chip: Chip, v: number): void {
    if (v & ICW1) {
      chip.init(v);
      return;
    }
    if (v & OCW3) {
      if (v & OCW3_POLL) chip.poll = 1;
      if (v & OCW3_RR) chip.readReg = v & 1;
      if (v & OCW3_ESMM) chip.specialMask = (v >> 5) & 1;
      return;
    }
    const cmd = v >> 5;
    switch (cmd) {
      case Ocw2.ROTATE_AEOI_CLEAR:
      case Ocw2.ROTATE_AEOI_SET:
        chip.rotateOnAutoEoi = cmd >> 2;
        break;
      case Ocw2.NONSPECIFIC_EOI:
      case Ocw2.ROTATE_NONSPECIFIC_EOI: {
        const p = chip.priority(chip.isr);
        if (p === 8) break;
        const irq = (p + chip.priorityAdd) & 7;
        chip.isr &= ~(1 << irq);
        if (cmd === Ocw2.ROTATE_NONSPECIFIC_EOI) chip.priorityAdd = (irq + 1) & 7;
        break;
      }
      case Ocw2.SPECIFIC_EOI:
        chip.isr &= ~(1 << (v & 7));
        break;
      case Ocw2.SET_PRIORITY:
        chip.priorityAdd = ((v & 7) + 1) & 7;
        break;
      case Ocw2.ROTATE_SPECIFIC_EOI:
        chip.isr &= ~(1 << (v & 7));
        chip.priorityAdd = ((v & 7) + 1) & 7;
        break;
      default:
        break;
    }
  }

  private writeData(chip: Chip, v: number): void {
    switch (chip.initState) {
      case 0:
        chip.imr = v;
        break;
      case 1:
        chip.irqBase = v & 0xf8;
        // ICW3 (the cascade wiring) follows; KVM supports only the cascaded PC pair.
        chip.initState = 2;
        break;
      case 2:
        chip.initState = chip.init4 ? 3 : 0;
        break;
      default:
        chip.specialFullyNested = v & ICW4_SFNM ? 1 : 0;
        chip.autoEoi = v & ICW4_AEOI ? 1 : 0;
        chip.initState = 0;
        break;
    }
  }

  /** The poll command: the next read is an INTA of `chip` that returns its level (8259A, "Poll command"). */
  private pollRead(chip: Chip): number {
    const irq = chip.pending();
    if (irq < 0) return 0;
    chip.ack(irq);
    this.update();
    return POLL_PENDING | irq;
  }

  /** Recomputes the cascade and the INT output. */
  private update(): void {
    // The slave's INT on master input 2: each update with a slave request re-latches IRR 2 (a pulse, as KVM
    // does, so a second slave request after an EOI is seen). A latched IRR 2 whose slave request went away
    // is acknowledged as the slave's spurious IRQ 15, as on KVM.
    if (this.slave.pending() >= 0) {
      this.master.setInput(CASCADE_IRQ, 1);
      this.master.setInput(CASCADE_IRQ, 0);
    }
    const out = this.master.pending() >= 0 ? 1 : 0;
    if (out !== this.output) {
      this.output = out;
      this.onOutput(out);
    }
  }

  /** KVM_GET_IRQCHIP for chip 0 (master) or 1 (slave). */
  getState(chip: number): KvmPicState {
    if (chip !== 0 && chip !== 1)
      return kvmFail('KVM_GET_IRQCHIP', 'EINVAL', `PIC chip id ${chip} is not 0 or 1`);
    return (chip === 0 ? this.master : this.slave).save();
  }

  /** KVM_SET_IRQCHIP for chip 0 (master) or 1 (slave); the output is recomputed. */
  setState(chip: number, state: KvmPicState): void {
    if (chip !== 0 && chip !== 1) kvmFail('KVM_SET_IRQCHIP', 'EINVAL', `PIC chip id ${chip} is not 0 or 1`);
    (chip === 0 ? this.master : this.slave).restore(state);
    this.update();
  }
}
