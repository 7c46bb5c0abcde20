import { Layout } from '../layout.js';

/** Page-table entry bits (Intel SDM Vol. 3A 4.5, tables 4-15 to 4-19). */
export const PageBit = {
  PRESENT: 1n,
  WRITABLE: 2n,
  /** PS in a PDE: the entry maps a 2 MiB page. */
  LARGE: 0x80n,
} as const;

/** Where {@link writeIdentityPageTables} put its tables, and what they map. */
export interface PageTables {
  /** The PML4's guest physical address: the value for CR3. */
  readonly pml4: number;
  readonly pdpt: number;
  readonly pd: number;
  /** Bytes mapped 1:1 from linear 0 (2 MiB pages). */
  readonly identityBytes: number;
  /** Linear base of the second mapping of the same physical range. */
  readonly aliasBase: number;
}

const PAGE = 0x1000;
const LARGE_PAGE = 0x200000;

/**
 * Writes 4-level page tables for long mode into guest memory at `base` (three pages: PML4, PDPT, PD):
 * linear [0, 1 GiB) maps physical [0, 1 GiB) with 2 MiB pages, and linear [1 GiB, 2 GiB) maps the same
 * physical range again (the PDPT's second entry points at the same PD), so a guest and KVM_TRANSLATE can
 * show paging at work. Everything else is not present.
 *
 * @param ram guest memory whose byte 0 is guest physical address 0
 */
export function writeIdentityPageTables(ram: Uint8Array, base: number = Layout.PAGE_TABLES_ADDR): PageTables {
  if (base % PAGE !== 0)
    throw new RangeError(`page tables must be page aligned, not at 0x${base.toString(16)}`);
  if (base + 3 * PAGE > ram.length) throw new RangeError('page tables do not fit in guest memory');
  const view = new DataView(ram.buffer, ram.byteOffset, ram.byteLength);
  const pml4 = base;
  const pdpt = base + PAGE;
  const pd = base + 2 * PAGE;
  ram.fill(0, base, base + 3 * PAGE);
  const table = PageBit.PRESENT | PageBit.WRITABLE;
  view.setBigUint64(pml4, BigInt(pdpt) | table, true);
  view.setBigUint64(pdpt, BigInt(pd) | table, true);
  view.setBigUint64(pdpt + 8, BigInt(pd) | table, true);
  for (let i = 0; i < 512; i++) {
    view.setBigUint64(pd + i * 8, BigInt(i * LARGE_PAGE) | table | PageBit.LARGE, true);
  }
  return { pml4, pdpt, pd, identityBytes: 512 * LARGE_PAGE, aliasBase: Layout.ALIAS_BASE };
}

/**
 * Walks 4-level tables the way the CPU does (SDM Vol. 3A 4.5.4) for 4 KiB and 2 MiB pages: the physical
 * address `linear` maps to, or `undefined` when a level is not present. For checking the builder, and KVM's
 * KVM_TRANSLATE against the tables.
 */
export function walkPageTables(ram: Uint8Array, cr3: number, linear: bigint): bigint | undefined {
  const view = new DataView(ram.buffer, ram.byteOffset, ram.byteLength);
  const entry = (table: bigint, index: bigint) =>
    view.getBigUint64(Number((table & ~0xfffn) + index * 8n), true);
  const addressMask = 0x000f_ffff_ffff_f000n;
  const pml4e = entry(BigInt(cr3), (linear >> 39n) & 511n);
  if (!(pml4e & PageBit.PRESENT)) return undefined;
  const pdpte = entry(pml4e & addressMask, (linear >> 30n) & 511n);
  if (!(pdpte & PageBit.PRESENT)) return undefined;
  const pde = entry(pdpte & addressMask, (linear >> 21n) & 511n);
  if (!(pde & PageBit.PRESENT)) return undefined;
  if (pde & PageBit.LARGE) return (pde & 0x000f_ffff_ffe0_0000n) | (linear & 0x1f_ffffn);
  const pte = entry(pde & addressMask, (linear >> 12n) & 511n);
  if (!(pte & PageBit.PRESENT)) return undefined;
  return (pte & addressMask) | (linear & 0xfffn);
}
