/**
 * The state of KVM's in-kernel interrupt controllers (KVM_CREATE_IRQCHIP): two 8259A PICs and an IOAPIC, as
 * KVM_GET_IRQCHIP/KVM_SET_IRQCHIP see them, with the reset values KVM reports (`arch/x86/kvm/i8259.c`
 * `kvm_pic_reset`, `ioapic.c` `kvm_ioapic_reset`; checked on a real KVM). The devices' behaviour (delivering
 * interrupts to the CPU) is a later piece of work: these containers only keep and return state.
 */
import {
  IrqchipId,
  KVM_IOAPIC_NUM_PINS,
  type KvmIoapicState,
  type KvmIrqchip,
  type KvmPicState,
  kvmFail,
} from '@kvm-ts/core';

/** The IOAPIC's MMIO base (IOAPIC_DEFAULT_BASE_ADDRESS). */
export const IOAPIC_BASE = 0xfec00000n;

function resetPic(slave: boolean): KvmPicState {
  return {
    lastIrr: 0,
    irr: 0,
    imr: 0,
    isr: 0,
    priorityAdd: 0,
    irqBase: 0,
    readReg: 0,
    poll: 0,
    specialMask: 0,
    initState: 0,
    autoEoi: 0,
    rotateOnAutoEoi: 0,
    specialFullyNested: 0,
    init4: 0,
    elcr: 0,
    // Edge/level control: IRQ 0-2 (master) and 8, 13 (slave) are always edge (KVM's elcr_mask).
    elcrMask: slave ? 0xde : 0xf8,
  };
}

function resetIoapic(): KvmIoapicState {
  return {
    base: IOAPIC_BASE,
    ioregsel: 0,
    id: 0,
    irr: 0,
    redirtbl: Array.from({ length: KVM_IOAPIC_NUM_PINS }, () => 0x10000n),
  };
}

/** The three controllers' state, for KVM_GET_IRQCHIP / KVM_SET_IRQCHIP round trips. */
export class IrqchipState {
  private readonly pics: [KvmPicState, KvmPicState] = [resetPic(false), resetPic(true)];
  private ioapic = resetIoapic();
  /**
   * Sets the level of PIC input `irq` (0-15 over both PICs) as `kvm_pic_set_irq` does: a level-triggered
   * input (ELCR) follows the line, an edge-triggered one latches IRR on a rising edge.
   */
  setPicInput(irq: number, level: number): void {
    const chip = this.pics[irq >> 3];
    const mask = 1 << (irq & 7);
    if (chip.elcr & mask) {
      if (level) {
        chip.irr |= mask;
        chip.lastIrr |= mask;
      } else {
        chip.irr &= ~mask;
        chip.lastIrr &= ~mask;
      }
    } else if (level) {
      if (!(chip.lastIrr & mask)) chip.irr |= mask;
      chip.lastIrr |= mask;
    } else {
      chip.lastIrr &= ~mask;
    }
  }

  /** Sets the level of IOAPIC pin `pin`: IRR follows a level-triggered pin and latches an edge while masked. */
  setIoapicInput(pin: number, level: number): void {
    const mask = 1 << pin;
    const entry = this.ioapic.redirtbl[pin];
    const levelTriggered = (entry >> 15n) & 1n;
    if (level) this.ioapic.irr |= mask;
    else if (levelTriggered) this.ioapic.irr &= ~mask;
  }

  /** KVM_GET_IRQCHIP. */
  get(chipId: number): KvmIrqchip {
    if (chipId === IrqchipId.PIC_MASTER || chipId === IrqchipId.PIC_SLAVE) {
      return { chipId, pic: { ...this.pics[chipId] } };
    }
    if (chipId === IrqchipId.IOAPIC) {
      return { chipId, ioapic: { ...this.ioapic, redirtbl: [...this.ioapic.redirtbl] } };
    }
    return kvmFail(
      'KVM_GET_IRQCHIP',
      'EINVAL',
      `chip id ${chipId} is not 0 (master PIC), 1 (slave PIC) or 2 (IOAPIC)`,
    );
  }

  /** KVM_SET_IRQCHIP. */
  set(chip: KvmIrqchip): void {
    if (chip.chipId === IrqchipId.PIC_MASTER || chip.chipId === IrqchipId.PIC_SLAVE) {
      this.pics[chip.chipId] = { ...(chip as { pic: KvmPicState }).pic };
      return;
    }
    if (chip.chipId === IrqchipId.IOAPIC) {
      const io = (chip as { ioapic: KvmIoapicState }).ioapic;
      if (io.redirtbl.length !== KVM_IOAPIC_NUM_PINS) {
        kvmFail('KVM_SET_IRQCHIP', 'EINVAL', `the IOAPIC has ${KVM_IOAPIC_NUM_PINS} redirection entries`);
      }
      this.ioapic = { ...io, redirtbl: io.redirtbl.map((v) => BigInt.asUintN(64, v)) };
      return;
    }
    kvmFail('KVM_SET_IRQCHIP', 'EINVAL', `chip id ${(chip as { chipId: number }).chipId} does not exist`);
  }
}
