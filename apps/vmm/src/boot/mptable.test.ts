import { describe, expect, it } from 'vitest';
import { buildBzImage } from '../../test/support/bzimage-builder.js';
import { buildElf } from '../../test/support/elf-builder.js';
import { Layout } from '../layout.js';
import { loadBzImage } from './bzimage.js';
import { guestMemoryMap, MemoryType } from './memory-map.js';
import { buildMpTable, MP_MAX_CPUS } from './mptable.js';
import { loadPvh, XEN_ELFNOTE_PHYS32_ENTRY } from './pvh.js';

/** A reader of the tables as a kernel sees them: guest memory from `base`, found by scanning for "_MP_". */
function parse(memory: Uint8Array, base: number) {
  const text = (at: number, n: number) => String.fromCharCode(...memory.subarray(at - base, at - base + n));
  const sum = (at: number, n: number) =>
    memory.subarray(at - base, at - base + n).reduce((a, b) => a + b, 0) & 0xff;
  const view = new DataView(memory.buffer, memory.byteOffset, memory.byteLength);
  const u8 = (at: number) => memory[at - base];
  const u16 = (at: number) => view.getUint16(at - base, true);
  const u32 = (at: number) => view.getUint32(at - base, true);
  let mpf = -1;
  for (let at = base; at + 16 <= base + memory.length; at += 16) {
    if (text(at, 4) === '_MP_') {
      mpf = at;
      break;
    }
  }
  expect(mpf).toBeGreaterThanOrEqual(0);
  const floating = {
    at: mpf,
    physptr: u32(mpf + 4),
    length: u8(mpf + 8),
    specRev: u8(mpf + 9),
    checksum: sum(mpf, 16),
    feature1: u8(mpf + 11),
    feature2: u8(mpf + 12),
  };
  const pc = floating.physptr;
  const length = u16(pc + 4);
  const header = {
    signature: text(pc, 4),
    length,
    specRev: u8(pc + 6),
    checksum: sum(pc, length),
    oem: text(pc + 8, 8),
    product: text(pc + 16, 12),
    oemTable: u32(pc + 28),
    count: u16(pc + 34),
    lapic: u32(pc + 36),
    extLength: u16(pc + 40),
  };
  const entries: Record<string, number | string>[] = [];
  let at = pc + 44;
  for (let i = 0; i < header.count; i++) {
    const type = u8(at);
    if (type === 0) {
      entries.push({
        type,
        apicId: u8(at + 1),
        version: u8(at + 2),
        flags: u8(at + 3),
        signature: u32(at + 4),
      });
      at += 20;
    } else if (type === 1) {
      entries.push({ type, busId: u8(at + 1), busType: text(at + 2, 6) });
      at += 8;
    } else if (type === 2) {
      entries.push({ type, id: u8(at + 1), version: u8(at + 2), flags: u8(at + 3), address: u32(at + 4) });
      at += 8;
    } else {
      entries.push({
        type,
        irqType: u8(at + 1),
        flags: u16(at + 2),
        bus: u8(at + 4),
        irq: u8(at + 5),
        dest: u8(at + 6),
        pin: u8(at + 7),
      });
      at += 8;
    }
  }
  return { floating, header, entries, end: at };
}

describe('buildMpTable', () => {
  it('is found by a scan of the BIOS area, with valid checksums and an MP 1.4 header', () => {
    const bytes = buildMpTable(2);
    const bios = new Uint8Array(0x10000);
    bios.set(bytes, Layout.MP_TABLE - 0xf0000);
    const { floating, header, end } = parse(bios, 0xf0000);
    expect(floating).toEqual({
      at: Layout.MP_TABLE,
      physptr: Layout.MP_TABLE + 16,
      length: 1,
      specRev: 4,
      checksum: 0,
      feature1: 0,
      feature2: 0,
    });
    expect(header).toEqual({
      signature: 'PCMP',
      length: bytes.length - 16,
      specRev: 4,
      checksum: 0,
      oem: 'KVM-TS  ',
      product: 'SAMPLE VMM  ',
      oemTable: 0,
      count: 2 + 1 + 1 + 15 + 2,
      lapic: 0xfee00000,
      extLength: 0,
    });
    expect(end).toBe(Layout.MP_TABLE + bytes.length);
  });

  it('lists every processor (the BSP flagged), the ISA bus, the IOAPIC and the interrupt wiring', () => {
    const cpus = 4;
    const { entries } = parse(buildMpTable(cpus), Layout.MP_TABLE);
    expect(entries.filter((e) => e.type === 0)).toEqual([
      { type: 0, apicId: 0, version: 0x14, flags: 3, signature: 0x600 },
      { type: 0, apicId: 1, version: 0x14, flags: 1, signature: 0x600 },
      { type: 0, apicId: 2, version: 0x14, flags: 1, signature: 0x600 },
      { type: 0, apicId: 3, version: 0x14, flags: 1, signature: 0x600 },
    ]);
    expect(entries.filter((e) => e.type === 1)).toEqual([{ type: 1, busId: 0, busType: 'ISA   ' }]);
    expect(entries.filter((e) => e.type === 2)).toEqual([
      { type: 2, id: cpus, version: 0x11, flags: 1, address: 0xfec00000 },
    ]);
    const io = entries.filter((e) => e.type === 3);
    expect(io.map((e) => [e.irq, e.pin])).toEqual(
      [0, 1, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15].map((irq) => [irq, irq]),
    );
    for (const e of io) expect(e).toMatchObject({ irqType: 0, flags: 0, bus: 0, dest: cpus });
    expect(entries.filter((e) => e.type === 4)).toEqual([
      { type: 4, irqType: 3, flags: 0, bus: 0, irq: 0, dest: 0xff, pin: 0 },
      { type: 4, irqType: 1, flags: 0, bus: 0, irq: 0, dest: 0xff, pin: 1 },
    ]);
    // Entries come in the order the specification asks: processors, buses, IOAPICs, then interrupts.
    const types = entries.map((e) => e.type as number);
    expect(types).toEqual([...types].sort((a, b) => a - b));
  });

  it('keeps its checksums for every processor count up to the limit, and refuses more', () => {
    for (const cpus of [1, 3, 64, MP_MAX_CPUS]) {
      const { floating, header, entries } = parse(buildMpTable(cpus), Layout.MP_TABLE);
      expect(floating.checksum).toBe(0);
      expect(header.checksum).toBe(0);
      expect(entries.filter((e) => e.type === 0)).toHaveLength(cpus);
    }
    expect(() => buildMpTable(0)).toThrow(RangeError);
    expect(() => buildMpTable(MP_MAX_CPUS + 1)).toThrow(/1 to 254 processors, not 255/);
    expect(() => buildMpTable(1.5)).toThrow(RangeError);
  });

  it('lies in a range every memory map reserves, below 1 MiB', () => {
    const size = buildMpTable(MP_MAX_CPUS).length;
    expect(Layout.MP_TABLE + size).toBeLessThanOrEqual(Layout.HIGH_MEMORY);
    const covering = guestMemoryMap(64 << 20).find(
      (r) => r.addr <= Layout.MP_TABLE && Layout.MP_TABLE + size <= r.addr + r.size,
    );
    expect(covering?.type).toBe(MemoryType.RESERVED);
  });
});

describe('the Linux loaders', () => {
  it("put the MP table for the machine's processors in a bzImage plan and a PVH plan", () => {
    const image = buildBzImage();
    const bz = loadBzImage(image, { file: 'bzImage', ramSize: 64 << 20, cpus: 3 });
    const table = bz.writes.find((w) => w.what === 'MP table');
    expect(table?.addr).toBe(Layout.MP_TABLE);
    expect(parse(table!.bytes, Layout.MP_TABLE).entries.filter((e) => e.type === 0)).toHaveLength(3);

    const desc = new Uint8Array(4);
    new DataView(desc.buffer).setUint32(0, 0x1000000, true);
    const vmlinux = buildElf({
      bits: 64,
      entry: 0x1000000n,
      segments: [{ paddr: 0x1000000, bytes: new Uint8Array(16) }],
      notes: [{ name: 'Xen', type: XEN_ELFNOTE_PHYS32_ENTRY, desc }],
    });
    const pvh = loadPvh(vmlinux, { file: 'vmlinux', ramSize: 64 << 20 });
    const pvhTable = pvh.writes.find((w) => w.what === 'MP table');
    expect(pvhTable?.addr).toBe(Layout.MP_TABLE);
    expect(parse(pvhTable!.bytes, Layout.MP_TABLE).entries.filter((e) => e.type === 0)).toHaveLength(1);
  });
});
