/**
 * The 8259A pair against the Intel 8259A datasheet and Linux's arch/x86/kernel/i8259.c (init_8259A, the
 * mask_and_ack sequence with specific EOIs, the ISR read that detects spurious IRQ 7).
 */
import { describe, expect, it } from 'vitest';
import { PicPair } from './pic.js';

function setup() {
  const outputs: number[] = [];
  const pic = new PicPair({ onOutput: (l) => outputs.push(l) });
  return { pic, outputs };
}

/** Linux's init_8259A(auto_eoi = 0): vectors 0x30/0x38 (ISA_IRQ_VECTOR), cascade on IRQ 2, 8086 mode. */
function linuxInit(pic: PicPair, autoEoi = false): void {
  pic.ioWrite(0x21, 0xff); // mask all of the master
  pic.ioWrite(0xa1, 0xff);
  pic.ioWrite(0x20, 0x11); // ICW1: edge, cascade, ICW4 needed
  pic.ioWrite(0x21, 0x30); // ICW2: vectors 0x30-0x37
  pic.ioWrite(0x21, 1 << 2); // ICW3: slave on IR2
  pic.ioWrite(0x21, autoEoi ? 0x03 : 0x01); // ICW4: 8086, (auto-)EOI
  pic.ioWrite(0xa0, 0x11);
  pic.ioWrite(0xa1, 0x38);
  pic.ioWrite(0xa1, 2); // slave id
  pic.ioWrite(0xa1, 0x01);
  pic.ioWrite(0x21, 0x00); // unmask
  pic.ioWrite(0xa1, 0x00);
}

describe('8259A PIC pair', () => {
  it('starts with KVM reset values and round-trips KVM_GET/SET_IRQCHIP', () => {
    const { pic } = setup();
    expect(pic.getState(0)).toMatchObject({ irr: 0, imr: 0, isr: 0, irqBase: 0, elcr: 0, elcrMask: 0xf8 });
    expect(pic.getState(1).elcrMask).toBe(0xde);
    linuxInit(pic);
    pic.setIrq(3, 1);
    pic.acknowledge();
    pic.setIrq(9, 1);
    const master = pic.getState(0);
    const slave = pic.getState(1);
    const other = setup().pic;
    other.setState(0, master);
    other.setState(1, slave);
    expect(other.getState(0)).toEqual(master);
    expect(other.getState(1)).toEqual(slave);
    expect(other.hasInterrupt()).toBe(true);
    expect(other.acknowledge()).toBe(0x39);
    expect(() => other.getState(2)).toThrow(/EINVAL/);
  });

  it('delivers the vector from ICW2, by fixed priority, and EOI lets lower levels through', () => {
    const { pic, outputs } = setup();
    linuxInit(pic);
    expect(pic.hasInterrupt()).toBe(false);
    pic.setIrq(4, 1);
    pic.setIrq(1, 1);
    expect(outputs.at(-1)).toBe(1);
    expect(pic.acknowledge()).toBe(0x31); // IRQ 1 beats IRQ 4
    expect(pic.getState(0).isr).toBe(0x02);
    expect(pic.hasInterrupt()).toBe(false); // IRQ 4 is below the one in service
    pic.ioWrite(0x20, 0x61); // specific EOI for IRQ 1 (Linux's mask_and_ack_8259A)
    expect(pic.hasInterrupt()).toBe(true);
    expect(pic.acknowledge()).toBe(0x34);
    pic.ioWrite(0x20, 0x20); // non-specific EOI
    expect(pic.getState(0).isr).toBe(0);
    expect(pic.hasInterrupt()).toBe(false);
    expect(outputs.at(-1)).toBe(0);
  });

  it('a higher-priority request nests over one in service', () => {
    const { pic } = setup();
    linuxInit(pic);
    pic.setIrq(5, 1);
    expect(pic.acknowledge()).toBe(0x35);
    pic.setIrq(0, 1);
    expect(pic.hasInterrupt()).toBe(true);
    expect(pic.acknowledge()).toBe(0x30);
    expect(pic.getState(0).isr).toBe(0x21);
    pic.ioWrite(0x20, 0x20); // non-specific EOI ends the highest in service: IRQ 0
    expect(pic.getState(0).isr).toBe(0x20);
  });

  it('cascades slave requests through IRQ 2 with the slave vector', () => {
    const { pic } = setup();
    linuxInit(pic);
    pic.setIrq(12, 1);
    pic.setIrq(14, 1);
    expect(pic.acknowledge()).toBe(0x3c);
    expect(pic.getState(0).isr).toBe(0x04);
    expect(pic.getState(1).isr).toBe(0x10);
    pic.ioWrite(0xa0, 0x20);
    pic.ioWrite(0x20, 0x20);
    expect(pic.acknowledge()).toBe(0x3e);
    // Slave IRQs rank between master IRQ 1 and IRQ 3.
    pic.ioWrite(0xa0, 0x20);
    pic.ioWrite(0x20, 0x20);
    pic.setIrq(3, 1);
    pic.setIrq(12, 0);
    pic.setIrq(12, 1);
    expect(pic.acknowledge()).toBe(0x3c);
  });

  it('masks with OCW1 and latches edges while masked', () => {
    const { pic } = setup();
    linuxInit(pic);
    pic.ioWrite(0x21, 1 << 6);
    pic.setIrq(6, 1);
    expect(pic.hasInterrupt()).toBe(false);
    expect(pic.ioRead(0x21)).toBe(0x40);
    pic.ioWrite(0x21, 0);
    expect(pic.acknowledge()).toBe(0x36);
  });

  it('edge inputs need a new rising edge; level inputs (ELCR) re-request until lowered', () => {
    const { pic } = setup();
    linuxInit(pic);
    pic.ioWrite(0x4d1, 0xff);
    expect(pic.ioRead(0x4d1)).toBe(0xde); // IRQ 8 and 13 stay edge
    pic.ioWrite(0x4d0, 0xff);
    expect(pic.ioRead(0x4d0)).toBe(0xf8);
    // Edge on IRQ 1: held high, acknowledged, EOId: no second interrupt.
    pic.setIrq(1, 1);
    expect(pic.acknowledge()).toBe(0x31);
    pic.ioWrite(0x20, 0x20);
    expect(pic.hasInterrupt()).toBe(false);
    // Level on IRQ 11: still high after EOI, so it interrupts again.
    pic.setIrq(11, 1);
    expect(pic.acknowledge()).toBe(0x3b);
    pic.ioWrite(0xa0, 0x20);
    pic.ioWrite(0x20, 0x20);
    expect(pic.hasInterrupt()).toBe(true);
    pic.setIrq(11, 0);
    expect(pic.getState(1).irr).toBe(0);
    // As on KVM, the cascade request latched by the last update stays: it ends as the slave's spurious IRQ 15.
    expect(pic.acknowledge()).toBe(0x3f);
    pic.ioWrite(0x20, 0x20);
    expect(pic.hasInterrupt()).toBe(false);
  });

  it('a request withdrawn before INTA gives spurious IRQ 7 (or 15) without setting ISR', () => {
    const { pic } = setup();
    linuxInit(pic);
    pic.ioWrite(0x4d0, 0x20);
    pic.setIrq(5, 1);
    pic.setIrq(5, 0);
    expect(pic.acknowledge()).toBe(0x37);
    pic.ioWrite(0x20, 0x0b); // OCW3: read ISR, as Linux does to tell a spurious IRQ 7
    expect(pic.ioRead(0x20) & 0x80).toBe(0);
    pic.ioWrite(0x20, 0x0a);
    // The slave's level IRQ 14 goes away after the master latched the cascade request: slave spurious IRQ 15.
    pic.ioWrite(0x4d1, 0x40);
    pic.setIrq(14, 1);
    pic.setIrq(14, 0);
    expect(pic.acknowledge()).toBe(0x3f);
  });

  it('reads IRR or ISR through OCW3', () => {
    const { pic } = setup();
    linuxInit(pic);
    pic.setIrq(3, 1);
    pic.setIrq(4, 1);
    pic.ioWrite(0x20, 0x0a); // read IRR
    expect(pic.ioRead(0x20)).toBe(0x18);
    pic.acknowledge();
    expect(pic.ioRead(0x20)).toBe(0x10);
    pic.ioWrite(0x20, 0x0b);
    expect(pic.ioRead(0x20)).toBe(0x08);
  });

  it('auto-EOI never sets ISR; rotate-on-auto-EOI makes the served level lowest', () => {
    const { pic } = setup();
    linuxInit(pic, true);
    pic.ioWrite(0x20, 0x80); // OCW2: rotate in auto-EOI mode (set)
    pic.setIrq(0, 1);
    pic.setIrq(3, 1);
    expect(pic.acknowledge()).toBe(0x30);
    expect(pic.getState(0).isr).toBe(0);
    expect(pic.getState(0).priorityAdd).toBe(1);
    pic.setIrq(0, 0);
    pic.setIrq(0, 1);
    // IRQ 0 is now lowest priority: IRQ 3 first.
    expect(pic.acknowledge()).toBe(0x33);
    expect(pic.acknowledge()).toBe(0x30);
  });

  it('set-priority and rotate-on-EOI commands move the lowest-priority level', () => {
    const { pic } = setup();
    linuxInit(pic);
    pic.ioWrite(0x20, 0xc0 | 4); // IRQ 4 lowest: IRQ 5 highest
    pic.setIrq(3, 1);
    pic.setIrq(6, 1);
    expect(pic.acknowledge()).toBe(0x36);
    pic.ioWrite(0x20, 0xa0); // rotate on non-specific EOI: IRQ 6 becomes lowest
    expect(pic.getState(0).priorityAdd).toBe(7);
    expect(pic.acknowledge()).toBe(0x33);
    pic.ioWrite(0x20, 0xe0 | 3); // rotate on specific EOI 3
    expect(pic.getState(0).priorityAdd).toBe(4);
    expect(pic.getState(0).isr).toBe(0);
  });

  it('special mask mode lets lower levels interrupt the one in service when it is masked', () => {
    const { pic } = setup();
    linuxInit(pic);
    pic.setIrq(1, 1);
    pic.acknowledge();
    pic.setIrq(5, 1);
    expect(pic.hasInterrupt()).toBe(false);
    pic.ioWrite(0x21, 0x02); // mask IRQ 1 (in service)
    pic.ioWrite(0x20, 0x68); // OCW3: set special mask
    expect(pic.hasInterrupt()).toBe(true);
    expect(pic.acknowledge()).toBe(0x35);
    pic.ioWrite(0x20, 0x48); // clear special mask
    expect(pic.getState(0).specialMask).toBe(0);
  });

  it('poll command: the read acknowledges and returns 0x80 | level', () => {
    const { pic } = setup();
    linuxInit(pic);
    pic.setIrq(6, 1);
    pic.ioWrite(0x20, 0x0c);
    expect(pic.ioRead(0x20)).toBe(0x86);
    expect(pic.getState(0).isr).toBe(0x40);
    pic.ioWrite(0x20, 0x0c);
    expect(pic.ioRead(0x20)).toBe(0);
  });

  it('ICW1 re-initialises: IMR cleared, edge requests (and their ISR bits) dropped, level requests kept', () => {
    const { pic } = setup();
    linuxInit(pic);
    pic.ioWrite(0x4d0, 0x08);
    pic.setIrq(3, 1); // level
    pic.setIrq(4, 1); // edge
    pic.acknowledge(); // IRQ 3 in service
    pic.ioWrite(0x21, 0xf0);
    pic.setIrq(6, 1);
    pic.ioWrite(0x20, 0x11);
    const s = pic.getState(0);
    expect([s.imr, s.isr, s.irr, s.initState, s.init4]).toEqual([0, 0x08, 0x08, 1, 1]);
    // The sequence goes on with ICW2-ICW4 and ends in normal mode.
    pic.ioWrite(0x21, 0x40);
    pic.ioWrite(0x21, 0x04);
    pic.ioWrite(0x21, 0x13); // SFNM, AEOI
    expect(pic.getState(0)).toMatchObject({ irqBase: 0x40, initState: 0, autoEoi: 1, specialFullyNested: 1 });
  });
});
