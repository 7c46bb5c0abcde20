/**
 * The IOAPIC against the Intel 82093AA datasheet and the way Linux programs it (arch/x86/kernel/apic/io_apic.c:
 * the ID/version reads, ioapic_write_entry's high-then-low order, level interrupts ended by the local APIC EOI).
 */
import { KVM_IOAPIC_NUM_PINS } from '@kvm-ts/core';
import { describe, expect, it } from 'vitest';
import { ApicBus, type ApicMessage } from './apic-bus.js';
import { IOAPIC_DEFAULT_BASE, Ioapic } from './ioapic.js';
import { ApicReg, Lapic } from './lapic.js';
import { VirtualClock } from './virtual-clock.js';

function withLog() {
  const sent: ApicMessage[] = [];
  const ioapic = new Ioapic({
    deliver: (m) => {
      sent.push(m);
      return 1;
    },
  });
  return { ioapic, sent };
}

function readReg(io: Ioapic, reg: number): number {
  io.mmioWrite(0x00, 4, reg);
  return io.mmioRead(0x10, 4);
}

function writeReg(io: Ioapic, reg: number, value: number): void {
  io.mmioWrite(0x00, 4, reg);
  io.mmioWrite(0x10, 4, value);
}

/** ioapic_write_entry: the high half (destination) first, then the low half. */
function writeEntry(io: Ioapic, pin: number, low: number, dest: number): void {
  writeReg(io, 0x10 + pin * 2 + 1, dest << 24);
  writeReg(io, 0x10 + pin * 2, low);
}

describe('IOAPIC', () => {
  it('has KVM reset values: base 0xfec00000, version 0x170011, every entry masked', () => {
    const { ioapic } = withLog();
    expect(ioapic.mmioBase).toBe(IOAPIC_DEFAULT_BASE);
    expect(readReg(ioapic, 0x01)).toBe(0x170011);
    expect(readReg(ioapic, 0x00)).toBe(0);
    const s = ioapic.getState();
    expect(s.redirtbl).toEqual(Array(KVM_IOAPIC_NUM_PINS).fill(0x10000n));
    expect(readReg(ioapic, 0x10 + 2 * 24)).toBe(0xffffffff); // past the table
    expect(ioapic.mmioRead(0x00, 4)).toBe(0x10 + 2 * 24); // IOREGSEL reads back
  });

  it('ID is bits 27-24 and the arbitration register mirrors it', () => {
    const { ioapic } = withLog();
    writeReg(ioapic, 0x00, 0x0f000000 | 0xabcdef);
    expect(readReg(ioapic, 0x00)).toBe(0x0f000000);
    expect(readReg(ioapic, 0x02)).toBe(0x0f000000);
  });

  it('edge pin: one message per rising edge; edges on a masked pin are dropped', () => {
    const { ioapic, sent } = withLog();
    writeEntry(ioapic, 4, 0x0000_0034, 0x01);
    expect(readReg(ioapic, 0x18)).toBe(0x34);
    expect(readReg(ioapic, 0x19)).toBe(0x01000000);
    ioapic.setIrq(4, 1);
    ioapic.setIrq(4, 1);
    ioapic.setIrq(4, 0);
    ioapic.setIrq(4, 1);
    ioapic.setIrq(4, 0);
    expect(sent.length).toBe(2);
    expect(sent[0]).toMatchObject({ vector: 0x34, deliveryMode: 0, destMode: 0, dest: 1, triggerMode: 0 });
    writeEntry(ioapic, 4, 0x1_0034, 0x01);
    ioapic.setIrq(4, 1);
    ioapic.setIrq(4, 0);
    writeEntry(ioapic, 4, 0x0_0034, 0x01);
    expect(sent.length).toBe(2);
  });

  it('level pin: remote IRR holds it until the EOI of its vector, which re-delivers a line still high', () => {
    const { ioapic, sent } = withLog();
    writeEntry(ioapic, 9, 0x0000_8000 | 0x0800 | 0x0100 | 0x49, 0x03); // level, logical, lowest priority
    ioapic.setIrq(9, 1);
    expect(sent.at(-1)).toMatchObject({
      vector: 0x49,
      deliveryMode: 1,
      destMode: 1,
      dest: 3,
      triggerMode: 1,
    });
    expect(readReg(ioapic, 0x22) & 0x4000).toBe(0x4000); // remote IRR
    ioapic.setIrq(9, 1);
    expect(sent.length).toBe(1);
    ioapic.eoi(0x50); // another vector: nothing
    expect(sent.length).toBe(1);
    ioapic.eoi(0x49);
    expect(sent.length).toBe(2); // still asserted: interrupts again
    ioapic.setIrq(9, 0);
    ioapic.eoi(0x49);
    expect(readReg(ioapic, 0x22) & 0x4000).toBe(0);
    expect(sent.length).toBe(2);
    // Remote IRR and delivery status are read-only; an edge entry never keeps remote IRR.
    ioapic.setIrq(9, 1);
    writeReg(ioapic, 0x22, 0x49 | 0x8000 | 0x1000);
    expect(readReg(ioapic, 0x22)).toBe(0x49 | 0x8000 | 0x4000);
    writeReg(ioapic, 0x22, 0x49);
    expect(readReg(ioapic, 0x22) & 0x4000).toBe(0);
  });

  it('a level line asserted while masked interrupts when unmasked', () => {
    const { ioapic, sent } = withLog();
    writeEntry(ioapic, 11, 0x1_8000 | 0x4b, 0);
    ioapic.setIrq(11, 1);
    expect(sent.length).toBe(0);
    expect(ioapic.getState().irr).toBe(1 << 11);
    writeEntry(ioapic, 11, 0x0_8000 | 0x4b, 0);
    expect(sent.length).toBe(1);
  });

  it('delivers to the local APICs by physical and logical destination, and the LAPIC EOI reaches it', () => {
    const clock = new VirtualClock();
    const bus = new ApicBus();
    let ioapic: Ioapic | null = null;
    const apics = [0, 1].map((id) => new Lapic({ id, clock, bus, onEoi: (v) => ioapic?.eoi(v) }));
    ioapic = new Ioapic({ deliver: (m) => bus.deliver(m) });
    apics.forEach((a, i) => {
      a.mmioWrite(ApicReg.LDR, 4, (1 << i) << 24);
      a.mmioWrite(ApicReg.SVR, 4, 0x1ff);
    });
    writeEntry(ioapic, 1, 0x31, 1); // physical, APIC 1
    ioapic.setIrq(1, 1);
    expect(apics.map((a) => a.hasInterrupt())).toEqual([false, true]);
    expect(apics[1].acknowledge()).toBe(0x31);
    writeEntry(ioapic, 10, 0x8800 | 0x4a, 0x01); // logical, level, logical ID 1 = APIC 0
    ioapic.setIrq(10, 1);
    expect(apics[0].acknowledge()).toBe(0x4a);
    expect(readReg(ioapic, 0x10 + 20) & 0x4000).toBe(0x4000);
    ioapic.setIrq(10, 0);
    apics[0].mmioWrite(ApicReg.EOI, 4, 0);
    expect(readReg(ioapic, 0x10 + 20) & 0x4000).toBe(0);
    // A level interrupt nobody accepts (APIC software-disabled) leaves remote IRR clear.
    apics[0].mmioWrite(ApicReg.SVR, 4, 0xff);
    ioapic.setIrq(10, 1);
    expect(readReg(ioapic, 0x10 + 20) & 0x4000).toBe(0);
  });

  it('byte reads of IOWIN shift like KVM', () => {
    const { ioapic } = withLog();
    ioapic.mmioWrite(0x00, 1, 0x01);
    expect(ioapic.mmioRead(0x12, 1)).toBe(0x17);
    expect(ioapic.mmioRead(0x10, 2)).toBe(0x0011);
    expect(ioapic.mmioRead(0x20, 4)).toBe(0);
  });

  it('KVM_GET/SET_IRQCHIP round-trips (chip 2) and refuses a short table', () => {
    const a = withLog();
    writeReg(a.ioapic, 0x00, 0x02000000);
    writeEntry(a.ioapic, 3, 0x8000 | 0x33, 0);
    a.ioapic.setIrq(3, 1);
    a.ioapic.mmioWrite(0x00, 4, 0x17);
    const saved = a.ioapic.getState();
    const b = withLog();
    b.ioapic.setState(saved);
    expect(b.ioapic.getState()).toEqual(saved);
    expect(b.sent.length).toBe(0); // remote IRR was saved set: no second delivery
    b.ioapic.eoi(0x33);
    expect(b.sent.length).toBe(1);
    expect(() => b.ioapic.setState({ ...saved, redirtbl: [] })).toThrow(/EINVAL/);
  });
});
