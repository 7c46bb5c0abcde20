/**
 * The assembled irqchip: the reset state and errors KVM_GET/SET_IRQCHIP give on a real KVM, the KVM default routing's two paths for a GSI, and MSIs.
 */
import { IrqchipId } from '@kvm-ts/core';
import { describe, expect, it } from 'vitest';
import { InKernelIrqchip } from './irqchip.js';
import { ApicReg } from './lapic.js';
import { VirtualClock } from './virtual-clock.js';

describe('in-kernel irqchip', () => {
  it('reports the reset state measured on a real KVM (kvm_pic_reset, kvm_ioapic_reset)', () => {
    const chip = new InKernelIrqchip({ clock: new VirtualClock() });
    const pic = (elcrMask: number) => ({
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
      elcrMask,
    });
    // IRQ 0-2 (master) and 8, 13 (slave) are always edge-triggered: KVM's ELCR masks.
    expect(chip.get(IrqchipId.PIC_MASTER)).toEqual({ chipId: IrqchipId.PIC_MASTER, pic: pic(0xf8) });
    expect(chip.get(IrqchipId.PIC_SLAVE)).toEqual({ chipId: IrqchipId.PIC_SLAVE, pic: pic(0xde) });
    expect(chip.get(IrqchipId.IOAPIC)).toEqual({
      chipId: IrqchipId.IOAPIC,
      ioapic: { base: 0xfec00000n, ioregsel: 0, id: 0, irr: 0, redirtbl: Array(24).fill(0x10000n) },
    });
    expect(() => chip.get(3)).toThrow(/EINVAL/);
    expect(() => chip.set({ chipId: 7 } as never)).toThrow(/EINVAL/);
  });

  it('a GSI under KVM default routing reaches the PIC and the IOAPIC pin of the same number', () => {
    const outputs: number[] = [];
    const chip = new InKernelIrqchip({ clock: new VirtualClock(), onPicOutput: (l) => outputs.push(l) });
    const bsp = chip.createLapic(0);
    for (const [p, v] of [
      [0x20, 0x11],
      [0x21, 0x30],
      [0x21, 0x04],
      [0x21, 0x01],
    ]) {
      chip.pic.ioWrite(p, v);
    }
    // Both paths of GSI 4 (as vm.ts's irqLine does with the default routes).
    chip.setPicInput(4, 1);
    chip.setIoapicInput(4, 1);
    expect(outputs).toEqual([1]);
    expect(bsp.acknowledge()).toBe(0x34); // virtual wire: reset LINT0 is ExtINT
    // IOAPIC mode: LINT0 masked, pin 4 unmasked to vector 0x44.
    chip.pic.ioWrite(0x20, 0x20);
    bsp.mmioWrite(ApicReg.SVR, 4, 0x1ff);
    bsp.mmioWrite(ApicReg.LVT_LINT0, 4, 0x10700);
    chip.ioapic.mmioWrite(0, 4, 0x18);
    chip.ioapic.mmioWrite(0x10, 4, 0x44);
    chip.setPicInput(4, 0);
    chip.setIoapicInput(4, 0);
    chip.setPicInput(4, 1);
    chip.setIoapicInput(4, 1);
    expect(bsp.acknowledge()).toBe(0x44);
    expect(bsp.acknowledge()).toBe(-1);
  });

  it('delivers MSIs by destination and refuses addresses outside 0xfee00000', () => {
    const chip = new InKernelIrqchip({ clock: new VirtualClock() });
    const apics = [0, 1].map((id) => chip.createLapic(id));
    for (const a of apics) a.mmioWrite(ApicReg.SVR, 4, 0x1ff);
    expect(chip.deliverMsi(0xfee01000, 0, 0x61)).toBe(true);
    expect(apics.map((a) => a.hasInterrupt())).toEqual([false, true]);
    expect(chip.deliverMsi(0xfed01000, 0, 0x62)).toBe(false);
    expect(chip.deliverMsi(0xfee05000, 0, 0x62)).toBe(false); // no APIC 5
    expect(chip.lapic(1)).toBe(apics[1]);
  });
});
