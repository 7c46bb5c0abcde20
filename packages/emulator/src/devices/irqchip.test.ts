/**
 * The assembled irqchip: the same state shapes and errors as the `IrqchipState` container (so KVM_GET/SET_IRQCHIP
 * keep their answers), the KVM default routing's two paths for a GSI, and MSIs.
 */
import { IrqchipId } from '@kvm-ts/core';
import { describe, expect, it } from 'vitest';
import { InKernelIrqchip } from './irqchip.js';
import { IrqchipState } from './irqchip-state.js';
import { ApicReg } from './lapic.js';
import { VirtualClock } from './virtual-clock.js';

describe('in-kernel irqchip', () => {
  it('reports the same reset state as the measured IrqchipState container', () => {
    const chip = new InKernelIrqchip({ clock: new VirtualClock() });
    const reference = new IrqchipState();
    for (const id of [IrqchipId.PIC_MASTER, IrqchipId.PIC_SLAVE, IrqchipId.IOAPIC]) {
      expect(chip.get(id)).toEqual(reference.get(id));
    }
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
