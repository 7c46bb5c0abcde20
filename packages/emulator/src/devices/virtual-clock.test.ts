/**
 * The virtual clock alone, then all the devices on one clock: the calibrations Linux performs (TSC against PIT
 * channel 2, the LAPIC timer against the PIT tick) must find the frequencies the clock was built with.
 */
import { describe, expect, it } from 'vitest';
import { ApicBus } from './apic-bus.js';
import { Ioapic } from './ioapic.js';
import { ApicReg, Lapic } from './lapic.js';
import { PicPair } from './pic.js';
import { PIT_HZ, Pit } from './pit.js';
import { scaleFloor, VirtualClock } from './virtual-clock.js';

describe('virtual clock', () => {
  it('fires timers in deadline order with the clock at each deadline, and reports the next one', () => {
    const clock = new VirtualClock();
    const seen: [string, number, number][] = [];
    const a = clock.createTimer((t) => seen.push(['a', t, clock.now]));
    const b = clock.createTimer((t) => {
      seen.push(['b', t, clock.now]);
      if (t < 300) b.arm(t + 100); // periodic re-arm from inside the callback
    });
    a.arm(250);
    b.arm(100);
    expect(clock.nextDeadline()).toBe(100);
    clock.advance(1000);
    expect(seen).toEqual([
      ['b', 100, 100],
      ['b', 200, 200],
      ['a', 250, 250],
      ['b', 300, 300],
    ]);
    expect(clock.now).toBe(1000);
    expect(clock.nextDeadline()).toBe(Number.POSITIVE_INFINITY);
    a.arm(1500);
    a.cancel();
    clock.advance(1000);
    expect(seen.length).toBe(4);
    expect(() => clock.advance(-1)).toThrow(RangeError);
  });

  it('derives the TSC from time at its own frequency, and back', () => {
    const clock = new VirtualClock({ tscHz: 2_500_000_000, nsPerInstruction: 0.5 });
    clock.retire(2_000_000); // 1 ms
    expect(clock.now).toBe(1_000_000);
    expect(clock.tsc()).toBe(2_500_000);
    expect(clock.nsAtTsc(2_500_001)).toBe(1_000_001);
    expect(clock.tscAt(clock.nsAtTsc(7_777_777))).toBeGreaterThanOrEqual(7_777_777);
    expect(clock.tscAt(clock.nsAtTsc(7_777_777) - 1)).toBeLessThan(7_777_777);
    // Exact past 2^53 / PIT_HZ ns (about 88 days): no rounding drift.
    expect(scaleFloor(8e15, PIT_HZ, 1e9)).toBe(8e6 * PIT_HZ);
  });

  it("Linux's pit_calibrate_tsc finds the clock's TSC frequency", () => {
    const clock = new VirtualClock({ tscHz: 2_100_000_000 });
    const pit = new Pit({ clock, setIrq0: () => {}, configFlags: 1 });
    // Gate high, speaker off; channel 2 mode 0 with a 50 ms count; poll port 0x61 bit 5, reading the TSC.
    pit.ioWrite(0x61, (pit.ioRead(0x61) & ~0x02) | 0x01);
    pit.ioWrite(0x43, 0xb0);
    const latch = Math.floor(PIT_HZ / 20);
    pit.ioWrite(0x42, latch & 0xff);
    pit.ioWrite(0x42, latch >> 8);
    const t1 = clock.tsc();
    let loops = 0;
    while ((pit.ioRead(0x61) & 0x20) === 0 && loops < 1e6) {
      clock.retire(300); // one poll loop's instructions
      loops++;
    }
    const t2 = clock.tsc();
    // tsc_khz = delta / 50 ms
    const khz = (t2 - t1) / 50;
    expect(Math.abs(khz - 2_100_000)).toBeLessThan(2_100_000 * 0.001);
  });

  it('LAPIC timer calibrated against the PIT tick (calibrate_APIC_clock) gives the 1 GHz bus clock', () => {
    const clock = new VirtualClock();
    const bus = new ApicBus();
    const pic = new PicPair({ onOutput: () => {} });
    const lapic = new Lapic({ id: 0, clock, bus, pic });
    const pit = new Pit({ clock, setIrq0: (l) => pic.setIrq(0, l) });
    // PIC as Linux sets it up, PIT at 100 Hz on IRQ 0 (virtual wire through LINT0).
    for (const [p, v] of [
      [0x20, 0x11],
      [0x21, 0x30],
      [0x21, 0x04],
      [0x21, 0x01],
      [0x21, 0xfe],
    ])
      pic.ioWrite(p, v);
    pit.ioWrite(0x43, 0x34);
    pit.ioWrite(0x40, 11932 & 0xff);
    pit.ioWrite(0x40, 11932 >> 8);
    lapic.mmioWrite(ApicReg.SVR, 4, 0x1ff);
    lapic.mmioWrite(ApicReg.TDCR, 4, 0x3); // divide by 16
    lapic.mmioWrite(ApicReg.LVT_TIMER, 4, 0x10000 | 0xec);
    lapic.mmioWrite(ApicReg.TMICT, 4, 0xffffffff);
    // Count LAPIC timer ticks over 10 PIT ticks, taking each PIT interrupt like a CPU would.
    const ticks: number[] = [];
    while (ticks.length < 11) {
      clock.advanceTo(clock.nextDeadline());
      if (lapic.hasInterrupt()) {
        expect(lapic.acknowledge()).toBe(0x30);
        pic.ioWrite(0x20, 0x20);
        ticks.push(lapic.mmioRead(ApicReg.TMCCT, 4));
      }
    }
    const perTick = ticks[0] - ticks[10];
    // 10 ticks of 11932 PIT clocks = 100 ms = 1e8 bus cycles / 16.
    const expected = (10 * 11932 * 1e9) / PIT_HZ / 16;
    expect(Math.abs(perTick - expected)).toBeLessThan(2);
  });

  it('IOAPIC mode: the PIT tick reaches the LAPIC through the IOAPIC and HLT can skip to it', () => {
    const clock = new VirtualClock();
    const bus = new ApicBus();
    let ioapic: Ioapic | null = null;
    const lapic = new Lapic({ id: 0, clock, bus, onEoi: (v) => ioapic?.eoi(v) });
    ioapic = new Ioapic({ deliver: (m) => bus.deliver(m) });
    const io = ioapic;
    const pit = new Pit({ clock, setIrq0: (l) => io.setIrq(2, l) }); // GSI 0 rerouted to pin 2
    lapic.mmioWrite(ApicReg.SVR, 4, 0x1ff);
    lapic.mmioWrite(ApicReg.LVT_LINT0, 4, 0x10700);
    io.mmioWrite(0, 4, 0x15);
    io.mmioWrite(0x10, 4, 0);
    io.mmioWrite(0, 4, 0x14);
    io.mmioWrite(0x10, 4, 0x30);
    pit.ioWrite(0x43, 0x34);
    pit.ioWrite(0x40, 11932 & 0xff);
    pit.ioWrite(0x40, 11932 >> 8);
    // A halted CPU: skip to the next event, take the interrupt, EOI, halt again.
    let taken = 0;
    while (clock.now < 1e9) {
      clock.advanceTo(clock.nextDeadline());
      while (lapic.hasInterrupt()) {
        expect(lapic.acknowledge()).toBe(0x30);
        lapic.mmioWrite(ApicReg.EOI, 4, 0);
        taken++;
      }
    }
    expect(taken).toBe(100);
  });
});
