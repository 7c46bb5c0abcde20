import { describe, expect, it } from 'vitest';
import { Bus, type BusDevice, readLe, writeLe } from './bus.js';

function recorder(): BusDevice & { log: string[] } {
  const log: string[] = [];
  return {
    log,
    read: (offset, size) => {
      log.push(`r${offset}/${size}`);
      return 0x40 + offset;
    },
    write: (offset, size, value) => {
      log.push(`w${offset}/${size}=${value.toString(16)}`);
    },
  };
}

describe('Bus', () => {
  it('dispatches by range with offsets from the range start', () => {
    const bus = new Bus('port');
    const a = recorder();
    const b = recorder();
    bus.register(0x3f8, 8, a, 'uart');
    bus.register(0x60, 1, b, 'kbd');
    expect(bus.read(0x3fd, 1)).toBe(0x45);
    bus.write(0x3f8, 1, 0x41);
    bus.write(0x60, 2, 0x1234);
    expect(a.log).toEqual(['r5/1', 'w0/1=41']);
    expect(b.log).toEqual(['w0/2=1234']);
    expect(bus.claims(0x3ff)).toBe(true);
    expect(bus.claims(0x400)).toBe(false);
  });

  it('reads all ones where nobody answers, for every access size, and drops writes', () => {
    const bus = new Bus('port');
    expect(bus.read(0x80, 1)).toBe(0xff);
    expect(bus.read(0x80, 2)).toBe(0xffff);
    expect(bus.read(0xcfc, 4)).toBe(0xffffffff);
    bus.write(0xcf8, 4, 0x80000000);
    expect(bus.read(0xcfc, 4)).toBe(0xffffffff); // no PCI: config data reads all ones
  });

  it('refuses overlapping or empty claims', () => {
    const bus = new Bus('mmio');
    bus.register(0x1000, 0x100, recorder(), 'a');
    expect(() => bus.register(0x10ff, 2, recorder(), 'b')).toThrow(
      /mmio bus: b at 0x10ff overlaps a at 0x1000/,
    );
    expect(() => bus.register(0x2000, 0, recorder(), 'c')).toThrow(/empty range/);
    bus.register(0x1100, 1, recorder(), 'd'); // adjacent is fine
  });

  it('moves little-endian values in and out of exit data', () => {
    const data = new Uint8Array(8);
    writeLe(data, 2, 4, 0xdeadbeef);
    expect([...data]).toEqual([0, 0, 0xef, 0xbe, 0xad, 0xde, 0, 0]);
    expect(readLe(data, 2, 4)).toBe(0xdeadbeef);
    expect(readLe(data, 3, 2)).toBe(0xadbe);
  });
});
