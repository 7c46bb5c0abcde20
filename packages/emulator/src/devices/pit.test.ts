/**
 * The i8254 model against the Intel 8254 datasheet and the way Linux drives it (arch/x86/kernel/tsc.c's
 * pit_calibrate_tsc and quick_pit_calibrate, arch/x86/kernel/i8253.c's periodic tick).
 */
import { PitFlag } from '@kvm-ts/core';
import { describe, expect, it } from 'vitest';
import { PIT_HZ, Pit } from './pit.js';
import { VirtualClock } from './virtual-clock.js';

function setup(flags: number = PitFlag.SPEAKER_DUMMY) {
  const clock = new VirtualClock();
  const edges: number[] = [];
  let level = 0;
  const pit = new Pit({
    clock,
    configFlags: flags,
    setIrq0: (l) => {
      if (l && !level) edges.push(clock.now);
      level = l;
    },
  });
  return { clock, pit, edges };
}

/** Nanoseconds for `ticks` PIT input clocks, rounded up. */
const ns = (ticks: number) => Math.ceil((ticks * 1e9) / PIT_HZ);

describe('i8254 PIT', () => {
  it('starts with KVM reset values (count 0x10000, mode 0xff, gates 1/1/0)', () => {
    const { pit } = setup();
    const s = pit.getState();
    expect(s.channels.map((c) => [c.count, c.mode, c.gate])).toEqual([
      [0x10000, 0xff, 1],
      [0x10000, 0xff, 1],
      [0x10000, 0xff, 0],
    ]);
    expect(s.flags).toBe(0);
  });

  it('counts down at 1.193182 MHz in mode 0 with LSB/MSB access and counter latch', () => {
    const { clock, pit } = setup();
    pit.ioWrite(0x43, 0x30); // channel 0, lobyte/hibyte, mode 0, binary
    pit.ioWrite(0x40, 0x00);
    pit.ioWrite(0x40, 0x10); // count 0x1000 = 4096
    clock.advance(1_000_000); // 1 ms = 1193.182 clocks -> 1193 elapsed
    pit.ioWrite(0x43, 0x00); // latch channel 0
    clock.advance(500_000); // the latched value must not move
    const lo = pit.ioRead(0x40);
    const hi = pit.ioRead(0x40);
    expect(lo | (hi << 8)).toBe(4096 - 1193);
    // After the latch is read, reads follow the live count again.
    const live = pit.ioRead(0x40) | (pit.ioRead(0x40) << 8);
    expect(live).toBe(4096 - Math.floor((1_500_000 * PIT_HZ) / 1e9));
  });

  it('raises IRQ 0 once when a mode 0 count expires', () => {
    const { clock, pit, edges } = setup();
    pit.ioWrite(0x43, 0x30);
    pit.ioWrite(0x40, 100);
    pit.ioWrite(0x40, 0);
    expect(clock.nextDeadline()).toBe(ns(100));
    clock.advance(10_000_000);
    expect(edges).toEqual([ns(100)]);
    expect(pit.out(0)).toBe(1);
  });

  it('fires the Linux 100 Hz tick (mode 2, LATCH 11932) 100 times a second', () => {
    const { clock, pit, edges } = setup();
    pit.ioWrite(0x43, 0x34); // channel 0, lobyte/hibyte, mode 2 (as Linux's pit_set_periodic)
    pit.ioWrite(0x40, 11932 & 0xff);
    pit.ioWrite(0x40, 11932 >> 8);
    clock.advance(1_000_000_000);
    expect(edges.length).toBe(Math.floor((1e9 * PIT_HZ) / 1e9 / 11932));
    expect(edges[1] - edges[0]).toBeGreaterThanOrEqual(Math.floor((11932 * 1e9) / PIT_HZ));
    expect(edges[1] - edges[0]).toBeLessThanOrEqual(ns(11932));
  });

  it('square wave (mode 3): OUT high for the first half of each period, counter stepping by two', () => {
    const { clock, pit } = setup();
    pit.ioWrite(0x43, 0x36);
    pit.ioWrite(0x40, 1000 & 0xff);
    pit.ioWrite(0x40, 1000 >> 8);
    clock.advance(ns(100));
    expect(pit.out(0)).toBe(1);
    pit.ioWrite(0x43, 0x00);
    expect(pit.ioRead(0x40) | (pit.ioRead(0x40) << 8)).toBe(1000 - 200);
    clock.advance(ns(500));
    expect(pit.out(0)).toBe(0);
  });

  it('read-back latches status and count of several channels at once', () => {
    const { clock, pit } = setup();
    pit.ioWrite(0x43, 0xb0); // channel 2, word, mode 0
    pit.ioWrite(0x42, 0xff);
    pit.ioWrite(0x42, 0xff);
    pit.ioWrite(0x61, 0x01); // gate 2 high
    pit.ioWrite(0x43, 0x34);
    pit.ioWrite(0x40, 0);
    pit.ioWrite(0x40, 0);
    clock.advance(ns(10));
    pit.ioWrite(0x43, 0xc0 | 0x08 | 0x02); // read-back count+status of channels 0 and 2
    clock.advance(ns(1000));
    // Status first: OUT, access 3 (word), mode, binary.
    expect(pit.ioRead(0x42)).toBe((0 << 7) | (3 << 4) | (0 << 1));
    expect(pit.ioRead(0x42) | (pit.ioRead(0x42) << 8)).toBe(0xffff - 10);
    expect(pit.ioRead(0x40)).toBe((1 << 7) | (3 << 4) | (2 << 1));
    expect(pit.ioRead(0x40) | (pit.ioRead(0x40) << 8)).toBe(0x10000 - 10);
    // Status only (bit 5 set = no count latch).
    pit.ioWrite(0x43, 0xc0 | 0x20 | 0x08);
    expect(pit.ioRead(0x42) & 0x3f).toBe(0x30);
  });

  it('stores modes 6 and 7 as the 2 and 3 they alias', () => {
    const { pit } = setup();
    pit.ioWrite(0x43, 0x3c); // channel 0, word, mode 6
    pit.ioWrite(0x43, 0xbe); // channel 2, word, mode 7
    expect(pit.getState().channels.map((c) => c.mode)).toEqual([2, 0xff, 3]);
  });

  it('reads and loads BCD counts', () => {
    const { clock, pit } = setup();
    pit.ioWrite(0x43, 0x31); // channel 0, word, mode 0, BCD
    pit.ioWrite(0x40, 0x34);
    pit.ioWrite(0x40, 0x12); // 1234 decimal
    clock.advance(ns(34));
    pit.ioWrite(0x43, 0x00);
    expect(pit.ioRead(0x40) | (pit.ioRead(0x40) << 8)).toBe(0x1200);
    // BCD 0 means 10000 clocks.
    pit.ioWrite(0x40, 0);
    pit.ioWrite(0x40, 0);
    expect(pit.getState().channels[0].count).toBe(10000);
  });

  it('lobyte-only and hibyte-only access', () => {
    const { clock, pit } = setup();
    pit.ioWrite(0x43, 0xa0); // channel 2, MSB only, mode 0
    pit.ioWrite(0x42, 0x20); // count 0x2000
    pit.ioWrite(0x61, 1);
    clock.advance(ns(0x100));
    expect(pit.ioRead(0x42)).toBe(0x1f);
    pit.ioWrite(0x43, 0x90); // LSB only
    pit.ioWrite(0x42, 0x80);
    clock.advance(ns(0x10));
    expect(pit.ioRead(0x42)).toBe(0x70);
  });

  it('port 0x61: bit 5 follows channel 2 OUT as Linux pit_calibrate_tsc waits for it', () => {
    const { clock, pit } = setup();
    // Linux: gate high, speaker off; channel 2 mode 0; LATCH for 50 ms (CLOCK_TICK_RATE / (1000 / 50)).
    pit.ioWrite(0x61, (pit.ioRead(0x61) & ~0x02) | 0x01);
    pit.ioWrite(0x43, 0xb0);
    const latch = Math.floor(PIT_HZ / (1000 / 50));
    pit.ioWrite(0x42, latch & 0xff);
    pit.ioWrite(0x42, latch >> 8);
    const start = clock.now;
    let polls = 0;
    while ((pit.ioRead(0x61) & 0x20) === 0 && polls < 100_000) {
      clock.advance(1000); // 1 µs a poll
      polls++;
    }
    expect(polls).toBeLessThan(100_000);
    const elapsed = clock.now - start;
    expect(elapsed).toBeGreaterThanOrEqual(Math.floor((latch * 1e9) / PIT_HZ));
    expect(elapsed).toBeLessThan(ns(latch) + 1000);
    expect(pit.ioRead(0x61) & 0x03).toBe(0x01);
  });

  it('port 0x61 bit 5 toggles every half period with channel 2 in square-wave mode (the speaker tone)', () => {
    const { clock, pit } = setup();
    pit.ioWrite(0x61, 0x03);
    pit.ioWrite(0x43, 0xb6); // channel 2, word, mode 3 (as the PC speaker beep)
    pit.ioWrite(0x42, 1000 & 0xff);
    pit.ioWrite(0x42, 1000 >> 8);
    const samples: number[] = [];
    for (let i = 0; i < 8; i++) {
      samples.push((pit.ioRead(0x61) >> 5) & 1);
      clock.advance(ns(500));
    }
    expect(samples).toEqual([1, 0, 1, 0, 1, 0, 1, 0]);
    // Gate low: OUT is held high (modes 2 and 3); the next rising edge restarts the count.
    pit.ioWrite(0x61, 0x02);
    expect(pit.ioRead(0x61) & 0x20).toBe(0x20);
  });

  it('port 0x61: gate 2 rising edge retriggers mode 1; bit 1 is the speaker data bit', () => {
    const { clock, pit } = setup();
    pit.ioWrite(0x43, 0xb2); // channel 2, word, mode 1
    pit.ioWrite(0x42, 100);
    pit.ioWrite(0x42, 0);
    pit.ioWrite(0x61, 0x03);
    expect(pit.ioRead(0x61) & 0x23).toBe(0x03); // OUT low while counting
    clock.advance(ns(100));
    expect(pit.ioRead(0x61) & 0x20).toBe(0x20);
    pit.ioWrite(0x61, 0x02);
    pit.ioWrite(0x61, 0x03); // rising edge: count again
    expect(pit.ioRead(0x61) & 0x20).toBe(0);
    expect(pit.getState().flags & PitFlag.SPEAKER_DATA_ON).toBe(PitFlag.SPEAKER_DATA_ON);
  });

  it('quick_pit_calibrate: the MSB read through port 0x42 falls by one every 256 clocks', () => {
    const { clock, pit } = setup();
    pit.ioWrite(0x61, 0x01);
    pit.ioWrite(0x43, 0xb0);
    pit.ioWrite(0x42, 0xff);
    pit.ioWrite(0x42, 0xff);
    const msbs: number[] = [];
    for (let i = 0; i < 5; i++) {
      pit.ioRead(0x42);
      msbs.push(pit.ioRead(0x42));
      clock.advance(ns(256));
    }
    expect(msbs).toEqual([0xff, 0xfe, 0xfd, 0xfc, 0xfb]);
  });

  it('port 0x61 is decoded only with KVM_PIT_SPEAKER_DUMMY', () => {
    expect(setup(0).pit.handlesPort(0x61)).toBe(false);
    expect(setup().pit.handlesPort(0x61)).toBe(true);
    expect(setup(0).pit.handlesPort(0x43)).toBe(true);
  });

  it('HPET legacy mode silences IRQ 0', () => {
    const { clock, pit, edges } = setup();
    pit.setState({ ...pit.getState(), flags: PitFlag.HPET_LEGACY });
    pit.ioWrite(0x43, 0x34);
    pit.ioWrite(0x40, 100);
    pit.ioWrite(0x40, 0);
    clock.advance(1_000_000);
    expect(edges).toEqual([]);
  });

  it('KVM_GET/SET_PIT2 round-trips; channel 0 restarts its count at the restore, as KVM reloads it', () => {
    const a = setup();
    a.pit.ioWrite(0x43, 0x34);
    a.pit.ioWrite(0x40, 0x9c);
    a.pit.ioWrite(0x40, 0x2e); // 11932: 100 Hz
    a.pit.ioWrite(0x43, 0xb0);
    a.pit.ioWrite(0x42, 0x00);
    a.pit.ioWrite(0x42, 0x80);
    a.clock.advance(3_333_333);
    a.pit.ioWrite(0x43, 0x80); // latch channel 2: the latch is part of the state
    const saved = a.pit.getState();
    const b = setup();
    b.clock.advance(3_333_333);
    b.pit.setState(saved);
    expect(b.pit.getState()).toEqual({
      ...saved,
      channels: saved.channels.map((c, i) => (i === 0 ? { ...c, countLoadTime: 3_333_333n } : c)),
    });
    // Channel 2 kept its load time: the latched and the live counts agree with the original.
    expect(b.pit.ioRead(0x42) | (b.pit.ioRead(0x42) << 8)).toBe(
      a.pit.ioRead(0x42) | (a.pit.ioRead(0x42) << 8),
    );
    b.clock.advance(1_000_000);
    a.clock.advance(1_000_000);
    expect(b.pit.ioRead(0x42) | (b.pit.ioRead(0x42) << 8)).toBe(
      a.pit.ioRead(0x42) | (a.pit.ioRead(0x42) << 8),
    );
    // Channel 0's first tick comes a full period after the restore.
    b.clock.advance(10_000_000 - 1_000_000 - 100_000);
    expect(b.edges).toEqual([]);
    b.clock.advance(200_000);
    expect(b.edges.length).toBe(1);
    // A load time in the future (another clock's) is pulled back to now.
    const c = setup();
    c.pit.setState({
      ...saved,
      channels: saved.channels.map((ch) => ({ ...ch, countLoadTime: 10n ** 15n })),
    });
    expect(c.pit.getState().channels[2].countLoadTime).toBe(0n);
    expect(() => b.pit.setState({ channels: [], flags: 0 })).toThrow(/EINVAL/);
  });
});
