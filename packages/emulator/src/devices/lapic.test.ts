/**
 * The local APIC against SDM Vol. 3A chapter 11 and the way Linux programs it (arch/x86/kernel/apic/apic.c:
 * setup_local_APIC, the timer calibration against the PIT tick, wakeup_secondary_cpu_via_init's INIT/SIPI).
 */
import { describe, expect, it } from 'vitest';
import { ApicBus, DeliveryMode } from './apic-bus.js';
import {
  APIC_BASE_ENABLE,
  APIC_BASE_X2APIC,
  ApicReg,
  LAPIC_MIN_PERIOD_NS,
  Lapic,
  MSR_TSC_DEADLINE,
} from './lapic.js';
import { PicPair } from './pic.js';
import { VirtualClock } from './virtual-clock.js';

interface Events {
  nmi: number[];
  init: number[];
  sipi: [number, number][];
  eoi: number[];
}

function machine(cpus = 1, pic?: PicPair) {
  const clock = new VirtualClock();
  const bus = new ApicBus();
  const events: Events = { nmi: [], init: [], sipi: [], eoi: [] };
  const apics = Array.from(
    { length: cpus },
    (_, id) =>
      new Lapic({
        id,
        clock,
        bus,
        pic: id === 0 ? pic : undefined,
        onNmi: () => events.nmi.push(id),
        onInit: () => events.init.push(id),
        onSipi: (v) => events.sipi.push([id, v]),
        onEoi: (v) => events.eoi.push(v),
      }),
  );
  return { clock, bus, apics, events };
}

const rd = (a: Lapic, reg: number) => a.mmioRead(reg, 4);
const wr = (a: Lapic, reg: number, v: number) => a.mmioWrite(reg, 4, v);

/** setup_local_APIC's essentials: software enable with spurious vector 0xff, flat logical ID. */
function enable(a: Lapic, logicalId: number): void {
  wr(a, ApicReg.DFR, 0xffffffff);
  wr(a, ApicReg.LDR, logicalId << 24);
  wr(a, ApicReg.TPR, 0);
  wr(a, ApicReg.SVR, 0x1ff);
}

describe('local APIC', () => {
  it('has KVM reset values: ID, version 0x50014, DFR, SVR 0xff, masked LVTs, LINT0 ExtINT on the BSP', () => {
    const { apics } = machine(2);
    expect(rd(apics[1], ApicReg.ID)).toBe(1 << 24);
    expect(rd(apics[0], ApicReg.VERSION)).toBe(0x50014);
    expect(rd(apics[0], ApicReg.DFR)).toBe(0xffffffff);
    expect(rd(apics[0], ApicReg.SVR)).toBe(0xff);
    expect(rd(apics[0], ApicReg.LVT_TIMER)).toBe(0x10000);
    expect(rd(apics[0], ApicReg.LVT_LINT0)).toBe(0x700);
    expect(rd(apics[1], ApicReg.LVT_LINT0)).toBe(0x10000);
    expect(apics[0].apicBase).toBe(0xfee00900n);
    expect(apics[1].apicBase).toBe(0xfee00800n);
    // Byte reads within a register shift; reads across a register boundary give 0.
    expect(apics[0].mmioRead(ApicReg.VERSION + 2, 1)).toBe(0x05);
    expect(apics[0].mmioRead(ApicReg.VERSION + 2, 4)).toBe(0);
  });

  it('delivers by priority class against TPR and PPR; EOI ends the highest in service', () => {
    const { apics, bus } = machine();
    const a = apics[0];
    enable(a, 1);
    const fixed = (vector: number, triggerMode = 0) =>
      bus.deliver({
        vector,
        deliveryMode: 0,
        destMode: 0,
        dest: 0,
        x2apicDest: false,
        shorthand: 0,
        triggerMode,
        level: 1,
      });
    wr(a, ApicReg.TPR, 0x50);
    fixed(0x45);
    expect(a.hasInterrupt()).toBe(false); // class 4 is not above TPR class 5
    fixed(0x61);
    expect(a.acknowledge()).toBe(0x61);
    expect(rd(a, ApicReg.PPR)).toBe(0x60);
    fixed(0x62);
    expect(a.hasInterrupt()).toBe(false); // same class as the one in service
    fixed(0x71);
    expect(a.acknowledge()).toBe(0x71);
    expect(rd(a, ApicReg.ISR + 0x30)).toBe((1 << (0x61 - 0x60)) | (1 << (0x71 - 0x60)));
    wr(a, ApicReg.EOI, 0);
    expect(rd(a, ApicReg.ISR + 0x30)).toBe(1 << 1);
    wr(a, ApicReg.EOI, 0);
    expect(a.acknowledge()).toBe(0x62);
    wr(a, ApicReg.EOI, 0);
    wr(a, ApicReg.TPR, 0);
    expect(a.acknowledge()).toBe(0x45);
    // A level-triggered vector's EOI goes to the IOAPIC; an edge one's does not.
    wr(a, ApicReg.EOI, 0);
    fixed(0x90, 1);
    expect(rd(a, ApicReg.TMR + 0x40)).toBe(1 << 16);
    a.acknowledge();
    wr(a, ApicReg.EOI, 0);
    expect(a.acknowledge()).toBe(-1);
  });

  it('EOI of a level-triggered vector is broadcast (for the IOAPIC)', () => {
    const { apics, bus, events } = machine();
    enable(apics[0], 1);
    bus.deliver({
      vector: 0x90,
      deliveryMode: 0,
      destMode: 0,
      dest: 0,
      x2apicDest: false,
      shorthand: 0,
      triggerMode: 1,
      level: 1,
    });
    bus.deliver({
      vector: 0x80,
      deliveryMode: 0,
      destMode: 0,
      dest: 0,
      x2apicDest: false,
      shorthand: 0,
      triggerMode: 0,
      level: 1,
    });
    apics[0].acknowledge();
    wr(apics[0], ApicReg.EOI, 0);
    apics[0].acknowledge();
    wr(apics[0], ApicReg.EOI, 0);
    expect(events.eoi).toEqual([0x90]);
  });

  it('a software-disabled APIC drops fixed interrupts and keeps LVTs masked', () => {
    const { apics, bus } = machine();
    const a = apics[0];
    bus.deliver({
      vector: 0x40,
      deliveryMode: 0,
      destMode: 0,
      dest: 0,
      x2apicDest: false,
      shorthand: 0,
      triggerMode: 0,
      level: 1,
    });
    expect(a.hasInterrupt()).toBe(false);
    wr(a, ApicReg.LVT_TIMER, 0x30);
    expect(rd(a, ApicReg.LVT_TIMER)).toBe(0x10030);
    enable(a, 1);
    wr(a, ApicReg.LVT_TIMER, 0x30);
    expect(rd(a, ApicReg.LVT_TIMER)).toBe(0x30);
    wr(a, ApicReg.SVR, 0xff);
    expect(rd(a, ApicReg.LVT_TIMER)).toBe(0x10030);
  });

  it('one-shot timer: TMCCT counts down at bus/divide and the vector fires once', () => {
    const { apics, clock } = machine();
    const a = apics[0];
    enable(a, 1);
    wr(a, ApicReg.TDCR, 0x3); // divide by 16
    wr(a, ApicReg.LVT_TIMER, 0xef);
    wr(a, ApicReg.TMICT, 1000);
    expect(clock.nextDeadline()).toBe(16_000);
    clock.advance(1600);
    expect(rd(a, ApicReg.TMCCT)).toBe(900);
    expect(a.hasInterrupt()).toBe(false);
    clock.advance(20_000);
    expect(rd(a, ApicReg.TMCCT)).toBe(0);
    expect(a.acknowledge()).toBe(0xef);
    wr(a, ApicReg.EOI, 0);
    clock.advance(1_000_000);
    expect(a.hasInterrupt()).toBe(false);
  });

  it('periodic timer fires once a period, and divide changes keep the remaining count', () => {
    const { apics, clock } = machine();
    const a = apics[0];
    enable(a, 1);
    let fires = 0;
    wr(a, ApicReg.TDCR, 0xb); // divide by 1
    wr(a, ApicReg.LVT_TIMER, 0x20000 | 0xec);
    wr(a, ApicReg.TMICT, 1_000_000); // 1 ms
    for (let ms = 0; ms < 100; ms++) {
      clock.advance(250_000);
      while (a.hasInterrupt()) {
        expect(a.acknowledge()).toBe(0xec);
        wr(a, ApicReg.EOI, 0);
        fires++;
      }
      clock.advance(750_000);
    }
    // Expiries at 1, 2, ... 100 ms; each taken before the next (the one at 100 ms is still pending).
    expect(fires).toBe(99);
    expect(a.hasInterrupt()).toBe(true);
    a.acknowledge();
    wr(a, ApicReg.EOI, 0);
    wr(a, ApicReg.TMICT, 1_000_000);
    clock.advance(400_000);
    expect(rd(a, ApicReg.TMCCT)).toBe(600_000);
    wr(a, ApicReg.TDCR, 0x0); // divide by 2: the 600,000 left now take 1.2 ms
    expect(rd(a, ApicReg.TMCCT)).toBe(600_000);
    expect(clock.nextDeadline()).toBe(clock.now + 1_200_000);
  });

  it('a periodic period below 200 µs is clamped as KVM does', () => {
    const { apics, clock } = machine();
    const a = apics[0];
    enable(a, 1);
    wr(a, ApicReg.TDCR, 0xb);
    wr(a, ApicReg.LVT_TIMER, 0x20000 | 0x10000 | 0xec);
    wr(a, ApicReg.TMICT, 10);
    clock.advance(10);
    expect(clock.nextDeadline() - clock.now).toBe(LAPIC_MIN_PERIOD_NS);
  });

  it('TSC-deadline mode: TMICT is ignored, the MSR arms the timer, it reads 0 after firing', () => {
    const { apics, clock } = machine();
    const a = apics[0];
    enable(a, 1);
    wr(a, ApicReg.LVT_TIMER, 0x40000 | 0xed);
    wr(a, ApicReg.TMICT, 5);
    expect(rd(a, ApicReg.TMICT)).toBe(0);
    const guestTsc = clock.tsc() + 123_456; // the guest's TSC runs ahead by an offset
    a.writeTscDeadline(guestTsc + 50_000, guestTsc);
    expect(a.readTscDeadline()).toBe(guestTsc + 50_000);
    clock.advance(49_999);
    expect(a.hasInterrupt()).toBe(false);
    clock.advance(1);
    expect(a.acknowledge()).toBe(0xed);
    expect(a.readTscDeadline()).toBe(0);
    wr(a, ApicReg.EOI, 0);
    // A deadline already passed fires at once.
    a.writeTscDeadline(1, guestTsc);
    clock.advance(0);
    expect(a.hasInterrupt()).toBe(true);
    // Leaving TSC-deadline mode disarms.
    a.writeTscDeadline(clock.tsc() + 1e6, clock.tsc());
    wr(a, ApicReg.LVT_TIMER, 0xed);
    expect(clock.nextDeadline()).toBe(Number.POSITIVE_INFINITY);
    expect(MSR_TSC_DEADLINE).toBe(0x6e0);
  });

  it('IPIs: physical, logical flat and cluster, shorthands; NMI, INIT and SIPI reach their callbacks', () => {
    const { apics, events } = machine(4);
    apics.forEach((a, i) => {
      enable(a, 1 << i);
    });
    const send = (from: Lapic, low: number, destId: number) => {
      wr(from, ApicReg.ICR2, destId << 24);
      wr(from, ApicReg.ICR, low);
    };
    send(apics[0], 0x40, 2); // fixed, physical, to APIC 2
    expect(apics.map((a) => a.hasInterrupt())).toEqual([false, false, true, false]);
    send(apics[0], 0x800 | 0x41, 0b1010); // logical flat: APICs 1 and 3
    expect(apics.map((a) => a.hasInterrupt())).toEqual([false, true, true, true]);
    apics.forEach((a) => {
      while (a.acknowledge() >= 0) wr(a, ApicReg.EOI, 0);
    });
    send(apics[1], (3 << 18) | 0x42, 0); // all excluding self
    expect(apics.map((a) => a.hasInterrupt())).toEqual([true, false, true, true]);
    send(apics[1], (1 << 18) | 0x43, 0); // self
    expect(apics[1].acknowledge()).toBe(0x43);
    send(apics[0], 0x400, 3); // NMI
    expect(events.nmi).toEqual([3]);
    // Linux's wakeup_secondary_cpu_via_init: INIT assert, INIT de-assert (ignored), then SIPI twice.
    send(apics[0], 0xc500, 1);
    send(apics[0], 0x8500, 1);
    send(apics[0], 0x600 | 0x9a, 1);
    expect(events.init).toEqual([1]);
    expect(events.sipi).toEqual([[1, 0x9a]]);
    // Cluster model: cluster 1, member bit 0 is logical ID 0x11.
    wr(apics[3], ApicReg.DFR, 0x0fffffff);
    wr(apics[3], ApicReg.LDR, 0x11 << 24);
    while (apics[3].acknowledge() >= 0) wr(apics[3], ApicReg.EOI, 0);
    send(apics[0], 0x800 | 0x50, 0x13);
    expect(apics[3].acknowledge()).toBe(0x50);
    expect(rd(apics[0], ApicReg.ICR) & 0x1000).toBe(0); // never busy
  });

  it('lowest-priority delivery picks the APIC with the lowest processor priority', () => {
    const { apics, bus } = machine(3);
    apics.forEach((a, i) => {
      enable(a, 1 << i);
    });
    wr(apics[0], ApicReg.TPR, 0x30);
    wr(apics[1], ApicReg.TPR, 0x20);
    wr(apics[2], ApicReg.TPR, 0x40);
    bus.deliver({
      vector: 0x80,
      deliveryMode: DeliveryMode.LOWEST_PRIORITY,
      destMode: 1,
      dest: 0xff,
      x2apicDest: false,
      shorthand: 0,
      triggerMode: 0,
      level: 1,
    });
    expect(apics.map((a) => a.hasInterrupt())).toEqual([false, true, false]);
  });

  it('LINT0 in ExtINT mode passes the PIC through (virtual wire); masking it or enabling nothing else blocks it', () => {
    const pic = new PicPair({ onOutput: () => {} });
    const { apics } = machine(1, pic);
    const a = apics[0];
    pic.ioWrite(0x20, 0x11);
    pic.ioWrite(0x21, 0x30);
    pic.ioWrite(0x21, 0x04);
    pic.ioWrite(0x21, 0x01);
    pic.setIrq(4, 1);
    expect(a.hasInterrupt()).toBe(true); // reset LVT0 is ExtINT, unmasked
    expect(a.acknowledge()).toBe(0x34);
    pic.ioWrite(0x20, 0x20);
    enable(a, 1);
    wr(a, ApicReg.LVT_LINT0, 0x10700);
    pic.setIrq(4, 0);
    pic.setIrq(4, 1);
    expect(a.hasInterrupt()).toBe(false);
    // A globally disabled APIC hands the PIC straight to the CPU.
    a.setApicBase(0xfee00000n);
    expect(a.hasInterrupt()).toBe(true);
  });

  it('LINT1 in NMI mode raises an NMI on a rising edge', () => {
    const { apics, events } = machine();
    enable(apics[0], 1);
    wr(apics[0], ApicReg.LVT_LINT1, 0x400);
    apics[0].setLint(1, 1);
    apics[0].setLint(1, 1);
    apics[0].setLint(1, 0);
    apics[0].setLint(1, 1);
    expect(events.nmi).toEqual([0, 0]);
  });

  it('CR8 is TPR bits 7-4', () => {
    const { apics } = machine();
    apics[0].setCr8(0x9);
    expect(rd(apics[0], ApicReg.TPR)).toBe(0x90);
    wr(apics[0], ApicReg.TPR, 0xab);
    expect(apics[0].getCr8()).toBe(0xa);
  });

  it('x2APIC: MSR access, 32-bit ID, derived LDR, 64-bit ICR, self IPI, #GP cases', () => {
    const { apics, events } = machine(18);
    const a = apics[17];
    a.setApicBase(0xfee00000n | APIC_BASE_ENABLE | APIC_BASE_X2APIC);
    expect(a.mmioBase).toBe(null);
    expect(a.readMsr(0x802)).toBe(17n);
    expect(a.readMsr(0x80d)).toBe((1n << 16n) | (1n << 1n));
    expect(a.readMsr(0x803)).toBe(0x50014n);
    expect(a.readMsr(0x80e)).toBe(null); // no DFR
    expect(a.readMsr(0x80b)).toBe(null); // EOI is write-only
    expect(a.writeMsr(0x802, 5n)).toBe(false); // ID is read-only
    expect(a.writeMsr(0x80f, 0x1ffn)).toBe(true);
    expect(a.writeMsr(0x83f, 0x55n)).toBe(true);
    expect(a.acknowledge()).toBe(0x55);
    expect(a.writeMsr(0x80b, 1n)).toBe(false);
    expect(a.writeMsr(0x80b, 0n)).toBe(true);
    expect(a.writeMsr(0x830, (0n << 32n) | 0x400n)).toBe(true); // NMI to x2APIC ID 0
    expect(events.nmi).toEqual([0]);
    expect(a.readMsr(0x830)).toBe(0x400n);
    expect(apics[0].readMsr(0x802)).toBe(null); // xAPIC mode: no MSRs
    // KVM_GET_LAPIC gives the ID in xAPIC form.
    expect(new DataView(a.getState().regs.buffer).getUint32(ApicReg.ID, true)).toBe(17 << 24);
  });

  it('KVM_GET/SET_LAPIC round-trips, and the timer resumes from the saved current count', () => {
    const one = machine();
    const a = one.apics[0];
    enable(a, 1);
    wr(a, ApicReg.TDCR, 0x1); // divide by 4
    wr(a, ApicReg.LVT_TIMER, 0xe0);
    wr(a, ApicReg.TMICT, 10_000);
    one.clock.advance(4000);
    one.bus.deliver({
      vector: 0x70,
      deliveryMode: 0,
      destMode: 0,
      dest: 0,
      x2apicDest: false,
      shorthand: 0,
      triggerMode: 0,
      level: 1,
    });
    const saved = a.getState();
    expect(new DataView(saved.regs.buffer).getUint32(ApicReg.TMCCT, true)).toBe(9000);
    const two = machine();
    const b = two.apics[0];
    b.setState(saved);
    expect(b.getState().regs).toEqual(saved.regs);
    expect(b.acknowledge()).toBe(0x70);
    two.clock.advance(9000 * 4 - 1);
    expect(b.hasInterrupt()).toBe(false);
    two.clock.advance(1);
    expect(b.acknowledge()).toBe(0xe0);
    expect(() => b.setState({ regs: new Uint8Array(10) })).toThrow(/EINVAL/);
  });
  it('INIT resets every register but the ID and stops the timer', () => {
    const { apics, clock } = machine(2);
    const a = apics[1];
    enable(a, 2);
    wr(a, ApicReg.ID, 7 << 24);
    wr(a, ApicReg.LVT_TIMER, 0x20000 | 0x40);
    wr(a, ApicReg.TMICT, 1_000_000);
    wr(a, ApicReg.TPR, 0x20);
    a.reset();
    expect(rd(a, ApicReg.ID)).toBe(7 << 24);
    expect(rd(a, ApicReg.SVR)).toBe(0xff);
    expect(rd(a, ApicReg.TPR)).toBe(0);
    expect(rd(a, ApicReg.LDR)).toBe(0);
    expect(rd(a, ApicReg.LVT_TIMER)).toBe(0x10000);
    expect(clock.nextDeadline()).toBe(Number.POSITIVE_INFINITY);
  });
});
