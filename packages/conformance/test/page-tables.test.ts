import { describe, expect, it } from 'vitest';
import { Layout } from '../src/layout.js';
import { PageBit, walkPageTables, writeIdentityPageTables } from '../src/setup/page-tables.js';

function entry(ram: Uint8Array, address: number): bigint {
  return new DataView(ram.buffer).getBigUint64(address, true);
}

describe('writeIdentityPageTables', () => {
  const ram = new Uint8Array(Layout.RAM_SIZE).fill(
    0xcc,
    Layout.PAGE_TABLES_ADDR,
    Layout.PAGE_TABLES_ADDR + 0x3000,
  );
  const tables = writeIdentityPageTables(ram);

  it('chains PML4 -> PDPT -> PD with present, writable entries', () => {
    expect(tables.pml4).toBe(Layout.PAGE_TABLES_ADDR);
    expect(entry(ram, tables.pml4)).toBe(BigInt(tables.pdpt) | PageBit.PRESENT | PageBit.WRITABLE);
    expect(entry(ram, tables.pdpt)).toBe(BigInt(tables.pd) | PageBit.PRESENT | PageBit.WRITABLE);
    expect(entry(ram, tables.pdpt + 8)).toBe(BigInt(tables.pd) | PageBit.PRESENT | PageBit.WRITABLE);
  });

  it('maps 2 MiB pages 1:1 over the first GiB, and clears the rest of each table', () => {
    expect(entry(ram, tables.pd)).toBe(0x83n);
    expect(entry(ram, tables.pd + 8)).toBe(0x20_0083n);
    expect(entry(ram, tables.pd + 511 * 8)).toBe(0x3fe0_0083n);
    expect(entry(ram, tables.pml4 + 8)).toBe(0n);
    expect(entry(ram, tables.pdpt + 16)).toBe(0n);
    expect(tables.identityBytes).toBe(1 << 30);
  });

  it('translates identity, alias and unmapped addresses as the CPU would', () => {
    expect(walkPageTables(ram, tables.pml4, 0x1234n)).toBe(0x1234n);
    expect(walkPageTables(ram, tables.pml4, 0x3fff_ffffn)).toBe(0x3fff_ffffn);
    expect(walkPageTables(ram, tables.pml4, BigInt(Layout.ALIAS_BASE) + 0x9010n)).toBe(0x9010n);
    expect(walkPageTables(ram, tables.pml4, 0x8000_0000n)).toBeUndefined();
    expect(walkPageTables(ram, tables.pml4, 0x80_0000_0000n)).toBeUndefined();
  });

  it('refuses a misaligned or out-of-range base', () => {
    expect(() => writeIdentityPageTables(ram, 0x10800)).toThrow(RangeError);
    expect(() => writeIdentityPageTables(ram, Layout.RAM_SIZE - 0x1000)).toThrow(RangeError);
  });
});
